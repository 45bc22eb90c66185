import { describe, expect, it } from "vitest";
import { obtainToken, type TokenAuthSettings } from "../../../src/connectors/auth/strategies.js";
import { connectorHandle } from "../../../src/connectors/connector-handle.js";
import { TokenCache } from "../../../src/connectors/token-cache.js";
import { callWithin, profileFor } from "../../helpers/auth.js";
import { useAuthLifecycle } from "../../helpers/auth-lifecycle.js";
import {
  decodeClientBasic,
  oauthError,
  type RecordedRequest,
  type TokenServer,
  tokenAnswer,
} from "../../helpers/token-server.js";

const { agent, startServer } = useAuthLifecycle();
let server: TokenServer;

const FORM = "application/x-www-form-urlencoded";

/** The one request the server received, after checking it is a form POST to `path`. */
function onlyRequest(path = "/oauth/token"): RecordedRequest {
  expect(server.requests).toHaveLength(1);
  const request = server.requests[0]!;
  expect(request.method).toBe("POST");
  expect(request.path).toBe(path);
  expect(request.headers["content-type"]).toBe(FORM);
  expect(request.headers.accept).toBe("application/json");
  return request;
}

describe("client credentials grant (RFC 6749 4.4.2)", () => {
  it("sends grant_type and scope, client authenticated by Basic with form-urlencoded id and secret", async () => {
    server = await startServer({
      script: [
        (request) => {
          const client = decodeClientBasic(request.headers.authorization);
          if (client.id !== "a b:c" || client.secret !== "s3cr:t/+&=é") {
            return oauthError("invalid_client", "bad client");
          }
          return tokenAnswer({ access_token: "cc-token", scope: request.form.scope });
        },
      ],
    });
    const settings: TokenAuthSettings = {
      kind: "client-credentials",
      tokenUrl: server.url(),
      client: { clientId: "a b:c", clientSecret: "s3cr:t/+&=é", clientAuth: "basic" },
      scope: "accounts.read accounts.write",
    };
    const token = await obtainToken(settings, callWithin(agent), 'connector "CRM"');
    expect(token).toMatchObject({ accessToken: "cc-token", tokenType: "bearer", expiresIn: 3600 });

    const request = onlyRequest();
    expect(request.form).toEqual({ grant_type: "client_credentials", scope: "accounts.read accounts.write" });
    // RFC 6749 2.3.1: each half is form-urlencoded before joining with ":" (space -> "+", ":" -> "%3A").
    const pair = Buffer.from(request.headers.authorization!.slice(6), "base64").toString("utf8");
    expect(pair).toBe("a+b%3Ac:s3cr%3At%2F%2B%26%3D%C3%A9");
  });

  it("sends client_id and client_secret in the body and no Authorization header with clientAuth body", async () => {
    server = await startServer();
    const settings: TokenAuthSettings = {
      kind: "client-credentials",
      tokenUrl: server.url(),
      client: { clientId: "a b:c", clientSecret: "p&ss=word", clientAuth: "body" },
    };
    const token = await obtainToken(settings, callWithin(agent), 'connector "CRM"');
    expect(token.accessToken).toBe("token-1");
    const request = onlyRequest();
    expect(request.headers.authorization).toBeUndefined();
    expect(request.form).toEqual({
      grant_type: "client_credentials",
      client_id: "a b:c",
      client_secret: "p&ss=word",
    });
    expect(request.rawBody).not.toContain("scope");
  });

  it("works through connectorHandle(...).authorize", async () => {
    server = await startServer({ fallback: tokenAnswer({ access_token: "handle-token" }) });
    const handle = connectorHandle(
      profileFor({
        kind: "client-credentials",
        tokenUrl: server.url(),
        client: { clientId: "flows", clientSecret: "s", clientAuth: "basic" },
        scope: "accounts.read",
      }),
      new TokenCache(),
    );
    const authorization = await handle.authorize(callWithin(agent));
    expect(authorization.headers).toEqual({ authorization: "Bearer handle-token" });
    expect(authorization.tokenFetched).toBe(true);
    expect(onlyRequest().form.scope).toBe("accounts.read");
    expect(decodeClientBasic(server.requests[0]!.headers.authorization)).toEqual({
      id: "flows",
      secret: "s",
    });
  });
});

describe("password grant (RFC 6749 4.3.2)", () => {
  it("sends username, password and scope with Basic client authentication", async () => {
    server = await startServer({
      script: [
        (request) =>
          request.form.username === "agent@example.com" && request.form.password === "pa ss&word"
            ? tokenAnswer({ access_token: "pw-token" })
            : oauthError("invalid_grant", "bad owner credentials"),
      ],
    });
    const handle = connectorHandle(
      profileFor({
        kind: "password",
        tokenUrl: server.url(),
        client: { clientId: "flows", clientSecret: "secret", clientAuth: "basic" },
        username: "agent@example.com",
        password: "pa ss&word",
        scope: "read",
      }),
      new TokenCache(),
    );
    const authorization = await handle.authorize(callWithin(agent));
    expect(authorization.headers.authorization).toBe("Bearer pw-token");
    const request = onlyRequest();
    expect(request.form).toEqual({
      grant_type: "password",
      username: "agent@example.com",
      password: "pa ss&word",
      scope: "read",
    });
    expect(decodeClientBasic(request.headers.authorization)).toEqual({ id: "flows", secret: "secret" });
  });

  it("sends the client in the body with clientAuth body", async () => {
    server = await startServer();
    await obtainToken(
      {
        kind: "password",
        tokenUrl: server.url(),
        client: { clientId: "flows", clientSecret: "secret", clientAuth: "body" },
        username: "u",
        password: "p",
      },
      callWithin(agent),
      'connector "CRM"',
    );
    const request = onlyRequest();
    expect(request.headers.authorization).toBeUndefined();
    expect(request.form).toEqual({
      grant_type: "password",
      username: "u",
      password: "p",
      client_id: "flows",
      client_secret: "secret",
    });
  });
});

describe("refresh token grant (RFC 6749 6)", () => {
  it("sends grant_type refresh_token and the refresh token", async () => {
    server = await startServer({
      script: [
        (request) =>
          request.form.refresh_token === "rt/1+x"
            ? tokenAnswer({ access_token: "wxcc-token", expires_in: 43199 })
            : oauthError("invalid_grant", "unknown refresh token"),
      ],
    });
    const token = await obtainToken(
      {
        kind: "refresh-token",
        tokenUrl: server.url("/v1/access_token"),
        client: { clientId: "C123", clientSecret: "sec", clientAuth: "body" },
        refreshToken: "rt/1+x",
      },
      callWithin(agent),
      'connector "WxCC"',
    );
    expect(token).toMatchObject({ accessToken: "wxcc-token", expiresIn: 43199, refreshToken: undefined });
    const request = onlyRequest("/v1/access_token");
    expect(request.form).toEqual({
      grant_type: "refresh_token",
      refresh_token: "rt/1+x",
      client_id: "C123",
      client_secret: "sec",
    });
    expect(request.headers.authorization).toBeUndefined();
  });
});

describe("Webex Experience Management LoginToken", () => {
  it("posts the password-style form to {base}/api/LoginToken and accepts an answer without token_type", async () => {
    server = await startServer({
      script: [
        (request) =>
          request.path === "/api/LoginToken"
            ? { json: { access_token: "wxm-token", expires_in: 86400, userName: "ops" } }
            : { status: 404, body: "not found" },
      ],
    });
    const handle = connectorHandle(
      profileFor(
        {
          kind: "wxm-login",
          tokenUrl: `${server.origin}/api/LoginToken`,
          username: "ops@example.com",
          apiKey: "key with spaces&=",
        },
        { type: "webex-experience-management" },
      ),
      new TokenCache(),
    );
    const authorization = await handle.authorize(callWithin(agent));
    expect(authorization.headers.authorization).toBe("Bearer wxm-token");
    const request = onlyRequest("/api/LoginToken");
    expect(request.form).toEqual({
      grant_type: "password",
      username: "ops@example.com",
      password: "key with spaces&=",
    });
    expect(request.headers.authorization).toBeUndefined();
  });

  it("posts to the token URL it is given, base path included", async () => {
    server = await startServer({ fallback: { json: { access_token: "wxm" } } });
    await obtainToken(
      { kind: "wxm-login", tokenUrl: `${server.origin}/tenant/api/LoginToken`, username: "u", apiKey: "k" },
      callWithin(agent),
      'connector "WXM"',
    );
    expect(onlyRequest("/tenant/api/LoginToken").form.grant_type).toBe("password");
  });

  it("still rejects a token_type other than bearer", async () => {
    server = await startServer({ fallback: { json: { access_token: "wxm", token_type: "mac" } } });
    await expect(
      obtainToken(
        { kind: "wxm-login", tokenUrl: `${server.origin}/api/LoginToken`, username: "u", apiKey: "k" },
        callWithin(agent),
        'connector "WXM"',
      ),
    ).rejects.toMatchObject({
      code: "token-response-malformed",
      message: expect.stringContaining("only Bearer tokens"),
    });
  });
});

describe("a missing token_type", () => {
  const settings = (url: string) =>
    ({
      kind: "client-credentials",
      tokenUrl: url,
      client: { clientId: "i", clientSecret: "s", clientAuth: "basic" },
    }) as const;

  it("is taken as Bearer by default, and the token says it was assumed", async () => {
    server = await startServer({ fallback: { json: { access_token: "x", expires_in: 60 } } });
    const token = await obtainToken(settings(server.url()), callWithin(agent), 'connector "CRM"');
    expect(token).toMatchObject({ accessToken: "x", tokenType: "bearer", tokenTypeAssumed: true });
  });

  it("is refused when the connector is strict about token_type", async () => {
    server = await startServer({ fallback: { json: { access_token: "x", expires_in: 60 } } });
    await expect(
      obtainToken(
        settings(server.url()),
        { ...callWithin(agent), requireTokenType: true },
        'connector "CRM"',
      ),
    ).rejects.toMatchObject({
      code: "token-response-malformed",
      message: expect.stringContaining("without a token_type"),
    });
    expect(server.requests).toHaveLength(1);
  });

  it("another token_type than Bearer is still refused when lenient", async () => {
    server = await startServer({ fallback: { json: { access_token: "x", token_type: "DPoP" } } });
    await expect(
      obtainToken(settings(server.url()), callWithin(agent), 'connector "CRM"'),
    ).rejects.toMatchObject({ code: "token-response-malformed", message: expect.stringContaining("DPoP") });
  });
});
