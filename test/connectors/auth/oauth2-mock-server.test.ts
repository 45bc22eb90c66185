import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from "jose";
import { type MutableResponse, OAuth2Server } from "oauth2-mock-server";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { obtainToken, type TokenAuthSettings } from "../../../src/connectors/auth/strategies.js";
import { connectorHandle } from "../../../src/connectors/connector-handle.js";
import { AuthError } from "../../../src/connectors/errors.js";
import { TokenCache } from "../../../src/connectors/token-cache.js";
import { callWithin, profileFor } from "../../helpers/auth.js";

/**
 * Our client against an independently written OAuth 2.0 server (oauth2-mock-server): if both agree, the
 * request format and the answer handling match the RFC as somebody else read it.
 */
let agent: Agent;
let server: OAuth2Server;
let issuer: string;
let jwks: ReturnType<typeof createLocalJWKSet>;

beforeAll(async () => {
  agent = new Agent();
  server = new OAuth2Server();
  await server.issuer.keys.generate("RS256");
  await server.start(0, "127.0.0.1");
  // The server names a loopback bind "localhost", which may resolve to ::1; keep all traffic on 127.0.0.1.
  server.issuer.url = `http://127.0.0.1:${server.address().port}`;
  issuer = server.issuer.url;
  expect(new URL(issuer).hostname).toBe("127.0.0.1");
  const answer = await request(`${issuer}/jwks`, { dispatcher: agent });
  expect(answer.statusCode).toBe(200);
  const keySet = (await answer.body.json()) as JSONWebKeySet;
  expect(keySet.keys).toHaveLength(1);
  expect(keySet.keys[0]).toMatchObject({ kty: "RSA", alg: "RS256" });
  expect(keySet.keys[0]).not.toHaveProperty("d");
  jwks = createLocalJWKSet(keySet);
});

afterAll(async () => {
  await server.stop();
  await agent.close();
});

function clientCredentials(clientAuth: "basic" | "body"): TokenAuthSettings {
  return {
    kind: "client-credentials",
    tokenUrl: `${issuer}/token`,
    client: { clientId: "flows client", clientSecret: "s:e cret", clientAuth },
    scope: "accounts.read accounts.write",
  };
}

describe("client credentials against oauth2-mock-server", () => {
  it.each(["basic", "body"] as const)(
    "client auth %s: the issued access token verifies against the server's JWKS",
    async (clientAuth) => {
      const token = await obtainToken(clientCredentials(clientAuth), callWithin(agent), 'connector "CRM"');
      expect(token.tokenType).toBe("bearer");
      expect(token.expiresIn).toBe(3600);
      const { payload, protectedHeader } = await jwtVerify(token.accessToken, jwks, { issuer });
      expect(protectedHeader.alg).toBe("RS256");
      // The server put the scope it received into the token: our form body reached it intact.
      expect(payload.scope).toBe("accounts.read accounts.write");
      expect(payload.exp! - payload.iat!).toBe(3600);
    },
  );

  it("through connectorHandle: Bearer header with a verifiable token; TTL from its expires_in", async () => {
    let now = Date.UTC(2025, 5, 1);
    const cache = new TokenCache({ now: () => now });
    const handle = connectorHandle(profileFor(clientCredentials("basic")), cache);
    const first = await handle.authorize(callWithin(agent));
    expect(first.tokenFetched).toBe(true);
    const accessToken = first.headers.authorization!.replace(/^Bearer /, "");
    await expect(jwtVerify(accessToken, jwks, { issuer })).resolves.toBeDefined();

    // expires_in 3600 -> served until 60 s before, then fetched again.
    const start = now;
    now = start + 3540_000 - 1;
    const cached = await handle.authorize(callWithin(agent));
    expect(cached.tokenFetched).toBe(false);
    expect(cached.headers.authorization).toBe(first.headers.authorization);
    now = start + 3540_000;
    const renewed = await handle.authorize(callWithin(agent));
    expect(renewed.tokenFetched).toBe(true);
  });

  it("without expires_in, the TTL comes from the access token's exp", async () => {
    const dropExpiresIn = (response: MutableResponse) => {
      if (response.body !== "") delete response.body.expires_in;
    };
    server.service.once("beforeResponse", dropExpiresIn);
    const clockStart = Date.now();
    let now = clockStart;
    const handle = connectorHandle(profileFor(clientCredentials("body")), new TokenCache({ now: () => now }));
    const first = await handle.authorize(callWithin(agent));
    const { exp } = decodeJwt(first.headers.authorization!.replace(/^Bearer /, ""));
    expect(typeof exp).toBe("number");
    // Lifetime exp - now (about 3600 s) less the 60 s margin: expires at exp - 60 s on our clock.
    now = exp! * 1000 - 60_000 - 1;
    expect((await handle.authorize(callWithin(agent))).tokenFetched).toBe(false);
    now = exp! * 1000 - 60_000;
    expect((await handle.authorize(callWithin(agent))).tokenFetched).toBe(true);
  });

  it("expires_in 100 from the server -> expires 10 s early", async () => {
    server.service.once("beforeResponse", (response: MutableResponse) => {
      if (response.body !== "") response.body.expires_in = 100;
    });
    let now = Date.UTC(2025, 5, 1);
    const start = now;
    const handle = connectorHandle(
      profileFor(clientCredentials("basic")),
      new TokenCache({ now: () => now }),
    );
    await handle.authorize(callWithin(agent));
    now = start + 90_000 - 1;
    expect((await handle.authorize(callWithin(agent))).tokenFetched).toBe(false);
    now = start + 90_000;
    expect((await handle.authorize(callWithin(agent))).tokenFetched).toBe(true);
  });

  it("an invalid_grant from the server is a final AuthError", async () => {
    server.service.once("beforeResponse", (response: MutableResponse) => {
      response.statusCode = 400;
      response.body = { error: "invalid_grant", error_description: "client disabled" };
    });
    const error = await obtainToken(clientCredentials("basic"), callWithin(agent), 'connector "CRM"').catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ code: "invalid-grant", oauthError: "invalid_grant", retryable: false });
    expect((error as AuthError).message).toContain("client disabled");
  });
});

describe("password grant against oauth2-mock-server", () => {
  it("the token's sub is the username we sent", async () => {
    const token = await obtainToken(
      {
        kind: "password",
        tokenUrl: `${issuer}/token`,
        client: { clientId: "flows", clientSecret: "s", clientAuth: "basic" },
        username: "agent@example.com",
        password: "pw",
        scope: "read",
      },
      callWithin(agent),
      'connector "CRM"',
    );
    const { payload } = await jwtVerify(token.accessToken, jwks, { issuer });
    expect(payload).toMatchObject({ sub: "agent@example.com", scope: "read" });
  });
});
