import { createPublicKey, createSecretKey, generateKeyPairSync } from "node:crypto";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { type ClientAuthentication, clientAssertion } from "../../../src/connectors/auth/client-auth.js";
import { obtainToken } from "../../../src/connectors/auth/strategies.js";
import { callWithin, rsaKeyPair } from "../../helpers/auth.js";
import { useAuthLifecycle } from "../../helpers/auth-lifecycle.js";
import {
  oauthError,
  type RecordedRequest,
  type TokenServer,
  tokenAnswer,
} from "../../helpers/token-server.js";

/** Client authentication at the token endpoint with a signed JWT (RFC 7523 2.2) or the TLS certificate (RFC 8705). */

const { agent, startServer } = useAuthLifecycle();
let server: TokenServer;

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const OWNER = 'connector "CRM"';

/** Verifies the request's client assertion as an authorization server would, answering invalid_client if not. */
function verifyingServer(key: Parameters<typeof jwtVerify>[1], seen: { header?: object; claims?: object }[]) {
  return async (request: RecordedRequest) => {
    if (request.form.client_assertion_type !== ASSERTION_TYPE) return oauthError("invalid_client");
    try {
      const { payload, protectedHeader } = await jwtVerify(request.form.client_assertion!, key, {
        issuer: "flows",
        subject: "flows",
        audience: server.url(),
      });
      seen.push({ header: protectedHeader, claims: payload });
    } catch (error) {
      return oauthError("invalid_client", (error as Error).message, 401);
    }
    return tokenAnswer({ access_token: `for-${request.form.client_id}` });
  };
}

function clientCredentials(client: ClientAuthentication) {
  return { kind: "client-credentials" as const, tokenUrl: server.url(), client };
}

describe("private_key_jwt", () => {
  it.each([
    ["RS256", "rsa"],
    ["PS256", "rsa"],
    ["ES256", "ec"],
  ] as const)(
    "%s: iss/sub = client id, aud = token endpoint, fresh jti, exp within a minute, kid",
    async (alg, type) => {
      const { privateKey, publicKey } =
        type === "rsa"
          ? generateKeyPairSync("rsa", { modulusLength: 2048 })
          : generateKeyPairSync("ec", { namedCurve: "P-256" });
      const seen: { header?: object; claims?: object }[] = [];
      server = await startServer({ fallback: verifyingServer(publicKey, seen) });
      const client: ClientAuthentication = {
        clientAuth: "private_key_jwt",
        clientId: "flows",
        privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        signingAlg: alg,
        keyId: "key-2026",
      };
      for (let index = 0; index < 2; index++) {
        const token = await obtainToken(clientCredentials(client), callWithin(agent), OWNER);
        expect(token.accessToken).toBe("for-flows");
      }
      expect(server.requests[0]?.headers.authorization).toBeUndefined();
      expect(server.requests[0]?.form.client_secret).toBeUndefined();
      const [first, second] = seen as { header: Record<string, unknown>; claims: Record<string, number> }[];
      expect(first?.header).toMatchObject({ alg, kid: "key-2026", typ: "JWT" });
      expect(first!.claims.exp! - first!.claims.iat!).toBeLessThanOrEqual(60);
      expect(first?.claims.jti).not.toBe(second?.claims.jti);
    },
  );

  it("without signingAlg an EC key signs ES256 and an RSA key RS256", async () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const rsa = rsaKeyPair();
    const sign = (privateKey: string) =>
      clientAssertion(
        { clientAuth: "private_key_jwt", clientId: "c", privateKey },
        "https://a.example/t",
        OWNER,
      );
    expect(
      decodeProtectedHeader(await sign(ec.export({ type: "pkcs8", format: "pem" }).toString())).alg,
    ).toBe("ES256");
    expect(decodeProtectedHeader(await sign(rsa.privateKey)).alg).toBe("RS256");
  });

  it("a key that does not fit the algorithm, or is no key, is a clear error that never quotes the key", async () => {
    const rsa = rsaKeyPair();
    const asEs256 = clientAssertion(
      { clientAuth: "private_key_jwt", clientId: "c", privateKey: rsa.privateKey, signingAlg: "ES256" },
      "https://a.example/t",
      OWNER,
    );
    await expect(asEs256).rejects.toMatchObject({
      code: "credentials-unavailable",
      message: 'connector "CRM": the private_key_jwt privateKey (rsa) cannot sign ES256',
    });
    const garbage = clientAssertion(
      { clientAuth: "private_key_jwt", clientId: "c", privateKey: "not-a-key-S3CRET" },
      "https://a.example/t",
      OWNER,
    );
    await expect(garbage).rejects.toMatchObject({ message: expect.not.stringContaining("S3CRET") });
  });

  it("a server that rejects the assertion gets invalid_client, and the assertion is not in the message", async () => {
    const signer = rsaKeyPair();
    const other = rsaKeyPair();
    server = await startServer({ fallback: verifyingServer(createPublicKey(other.publicKey), []) });
    const client: ClientAuthentication = {
      clientAuth: "private_key_jwt",
      clientId: "flows",
      privateKey: signer.privateKey,
    };
    const failure = await obtainToken(clientCredentials(client), callWithin(agent), OWNER).catch((e) => e);
    expect(failure).toMatchObject({ oauthError: "invalid_client" });
    expect(failure.message).not.toContain(server.requests[0]!.form.client_assertion!);
  });
});

describe("client_secret_jwt", () => {
  it("signs HS256 with the client secret; the secret itself is never sent", async () => {
    const secret = "a-shared-secret-at-least-32-bytes-long!";
    const seen: { header?: object; claims?: object }[] = [];
    server = await startServer({ fallback: verifyingServer(createSecretKey(Buffer.from(secret)), seen) });
    const client: ClientAuthentication = {
      clientAuth: "client_secret_jwt",
      clientId: "flows",
      clientSecret: secret,
    };
    await obtainToken(clientCredentials(client), callWithin(agent), OWNER);
    expect(seen[0]?.header).toMatchObject({ alg: "HS256" });
    expect(server.requests[0]!.rawBody).not.toContain(encodeURIComponent(secret));
  });
});

describe("tls_client_auth", () => {
  it("sends only client_id in the body (the certificate authenticates), for password and refresh grants too", async () => {
    server = await startServer();
    const client: ClientAuthentication = { clientAuth: "tls_client_auth", clientId: "flows" };
    await obtainToken(clientCredentials(client), callWithin(agent), OWNER);
    await obtainToken(
      { kind: "refresh-token", tokenUrl: server.url(), client, refreshToken: "rt" },
      callWithin(agent),
      OWNER,
    );
    for (const request of server.requests) {
      expect(request.form.client_id).toBe("flows");
      expect(request.form.client_secret).toBeUndefined();
      expect(request.form.client_assertion).toBeUndefined();
      expect(request.headers.authorization).toBeUndefined();
    }
  });
});
