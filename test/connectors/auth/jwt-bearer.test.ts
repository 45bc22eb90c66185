import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { readPrivateKey, signAssertion } from "../../../src/connectors/auth/jwt-assertion.js";
import { obtainToken, type TokenAuthSettings } from "../../../src/connectors/auth/strategies.js";
import { connectorHandle } from "../../../src/connectors/connector-handle.js";
import { AuthError } from "../../../src/connectors/errors.js";
import { TokenCache } from "../../../src/connectors/token-cache.js";
import { callWithin, profileFor, type RsaPem, rsaKeyPair } from "../../helpers/auth.js";
import { useAuthLifecycle } from "../../helpers/auth-lifecycle.js";
import { oauthError, type Responder, type TokenServer } from "../../helpers/token-server.js";

const { agent, startServer } = useAuthLifecycle();
let server: TokenServer;

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
let keys: RsaPem;
let publicKey: KeyObject;

beforeAll(() => {
  keys = rsaKeyPair();
  publicKey = createPublicKey(keys.publicKey);
});

/**
 * A token endpoint that verifies the RS256 assertion with the public key, as Salesforce and Google do, and
 * records the verified claims.
 */
function verifyingEndpoint(
  expected: { issuer: string; audience: string },
  verified: JWTPayload[],
  answer: Record<string, unknown>,
): Responder {
  return async (request) => {
    if (request.form.grant_type !== JWT_BEARER) return oauthError("unsupported_grant_type");
    const assertion = request.form.assertion ?? "";
    try {
      const { payload, protectedHeader } = await jwtVerify(assertion, publicKey, {
        algorithms: ["RS256"],
        issuer: expected.issuer,
        audience: expected.audience,
      });
      if (protectedHeader.alg !== "RS256") return oauthError("invalid_grant", "not RS256");
      verified.push(payload);
    } catch (error) {
      return oauthError("invalid_grant", `assertion rejected: ${(error as Error).message}`);
    }
    return { json: answer };
  };
}

describe("JWT bearer grant (RFC 7523 2.1)", () => {
  it("Salesforce style: iss = consumer key, sub = user, aud = auth server, exp - iat <= 180, instance_url", async () => {
    const verified: JWTPayload[] = [];
    const audience = "https://login.salesforce.com";
    server = await startServer({
      fallback: verifyingEndpoint({ issuer: "3MVG9-consumer-key", audience }, verified, {
        access_token: "00D-sf-token",
        token_type: "Bearer",
        instance_url: "https://acme.my.salesforce.com",
        scope: "api",
      }),
    });
    const handle = connectorHandle(
      profileFor(
        {
          kind: "jwt-bearer",
          tokenUrl: server.url("/services/oauth2/token"),
          claims: {
            issuer: "3MVG9-consumer-key",
            subject: "agent@acme.com",
            audience,
            lifetimeSeconds: 180,
          },
          privateKey: keys.privateKey,
        },
        { type: "salesforce", baseUrl: undefined, baseUrlFromToken: true },
      ),
      new TokenCache(),
    );
    const authorization = await handle.authorize(callWithin(agent));
    expect(server.checkFailures).toEqual([]);
    expect(authorization.headers.authorization).toBe("Bearer 00D-sf-token");
    expect(authorization.baseUrl).toBe("https://acme.my.salesforce.com");

    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.path).toBe("/services/oauth2/token");
    expect(Object.keys(request.form).sort()).toEqual(["assertion", "grant_type"]);
    expect(request.headers.authorization).toBeUndefined();
    expect(decodeProtectedHeader(request.form.assertion!)).toMatchObject({ alg: "RS256", typ: "JWT" });

    expect(verified).toHaveLength(1);
    const claims = verified[0]!;
    expect(claims).toMatchObject({ iss: "3MVG9-consumer-key", sub: "agent@acme.com", aud: audience });
    expect(claims.scope).toBeUndefined();
    expect(typeof claims.jti).toBe("string");
    expect(claims.exp! - claims.iat!).toBeGreaterThan(0);
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(180);
  });

  it("Google style: iss = client_email, scope claim, aud = token_uri, no sub, exp - iat <= 3600", async () => {
    const verified: JWTPayload[] = [];
    server = await startServer();
    const tokenUri = server.url("/token");
    server.enqueue(
      verifyingEndpoint({ issuer: "flows@project.iam.gserviceaccount.com", audience: tokenUri }, verified, {
        access_token: "ya29.google",
        token_type: "Bearer",
        expires_in: 3599,
      }),
    );
    const settings: TokenAuthSettings = {
      kind: "jwt-bearer",
      tokenUrl: tokenUri,
      claims: {
        issuer: "flows@project.iam.gserviceaccount.com",
        audience: tokenUri,
        scope: "https://www.googleapis.com/auth/cloud-platform",
        lifetimeSeconds: 3600,
      },
      privateKey: keys.privateKey,
    };
    const token = await obtainToken(settings, callWithin(agent), 'connector "TTS"');
    expect(server.checkFailures).toEqual([]);
    expect(token).toMatchObject({ accessToken: "ya29.google", expiresIn: 3599 });
    expect(verified).toHaveLength(1);
    const claims = verified[0]!;
    expect(claims).toMatchObject({
      iss: "flows@project.iam.gserviceaccount.com",
      aud: tokenUri,
      scope: "https://www.googleapis.com/auth/cloud-platform",
    });
    expect(claims.sub).toBeUndefined();
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(3600);
    expect(claims.exp! - claims.iat!).toBeGreaterThan(180);
  });

  it("every assertion is unique (jti)", async () => {
    const { key } = readPrivateKey(keys.privateKey, "test", { alg: "RS256" });
    const claims = { issuer: "i", audience: "a", lifetimeSeconds: 60 };
    const [first, second] = await Promise.all([signAssertion(claims, key), signAssertion(claims, key)]);
    const one = await jwtVerify(first, publicKey);
    const two = await jwtVerify(second, publicKey);
    expect(one.payload.jti).not.toBe(two.payload.jti);
  });

  it("accepts a PKCS#1 (BEGIN RSA PRIVATE KEY) key", async () => {
    expect(keys.privateKeyPkcs1).toContain("BEGIN RSA PRIVATE KEY");
    const verified: JWTPayload[] = [];
    server = await startServer({
      fallback: verifyingEndpoint({ issuer: "key", audience: "https://login.salesforce.com" }, verified, {
        access_token: "pkcs1-token",
        token_type: "bearer",
      }),
    });
    const token = await obtainToken(
      {
        kind: "jwt-bearer",
        tokenUrl: server.url("/services/oauth2/token"),
        claims: {
          issuer: "key",
          subject: "u@acme.com",
          audience: "https://login.salesforce.com",
          lifetimeSeconds: 180,
        },
        privateKey: keys.privateKeyPkcs1,
      },
      callWithin(agent),
      'connector "SF"',
    );
    expect(token.accessToken).toBe("pkcs1-token");
    expect(verified[0]?.sub).toBe("u@acme.com");
  });

  it("a server that rejects the signature (other key) surfaces invalid_grant", async () => {
    const other = rsaKeyPair();
    const verified: JWTPayload[] = [];
    server = await startServer({
      fallback: verifyingEndpoint({ issuer: "key", audience: "aud" }, verified, { access_token: "x" }),
    });
    const error = await obtainToken(
      {
        kind: "jwt-bearer",
        tokenUrl: server.url(),
        claims: { issuer: "key", audience: "aud", lifetimeSeconds: 180 },
        privateKey: other.privateKey,
      },
      callWithin(agent),
      'connector "SF"',
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).oauthError).toBe("invalid_grant");
    expect((error as AuthError).message).toContain("signature verification failed");
    expect(verified).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it("a garbage key is an AuthError naming the connector, never quoting the key, and sends nothing", async () => {
    server = await startServer();
    const garbage =
      "-----BEGIN PRIVATE KEY-----\nTm90QUtleVRoaXNJc1NlY3JldE1hdGVyaWFs\n-----END PRIVATE KEY-----\n";
    const error = await obtainToken(
      {
        kind: "jwt-bearer",
        tokenUrl: server.url(),
        claims: { issuer: "i", audience: "a", lifetimeSeconds: 180 },
        privateKey: garbage,
      },
      callWithin(agent),
      'connector "SF"',
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    const authError = error as AuthError;
    expect(authError.code).toBe("credentials-unavailable");
    expect(authError.message).toContain('connector "SF"');
    expect(authError.message).toContain("not a readable PEM RSA private key");
    expect(authError.message).not.toContain("Tm90QUtleVRoaXNJc1NlY3JldE1hdGVyaWFs");
    expect(authError.message).not.toContain("BEGIN");
    expect(server.requests).toHaveLength(0);
  });

  it("a non-RSA (EC) private key is an AuthError, not a signing crash", async () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    server = await startServer();
    const error = await obtainToken(
      {
        kind: "jwt-bearer",
        tokenUrl: server.url(),
        claims: { issuer: "i", audience: "a", lifetimeSeconds: 180 },
        privateKey: ec,
      },
      callWithin(agent),
      'connector "SF"',
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).message).toContain("not a readable PEM RSA private key");
    expect((error as AuthError).message).not.toContain(ec.split("\n")[1]!);
    expect(server.requests).toHaveLength(0);
  });
});
