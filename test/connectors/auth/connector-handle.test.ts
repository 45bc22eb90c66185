import { describe, expect, it, vi } from "vitest";
import { type AuthSettings, fingerprint } from "../../../src/connectors/auth/strategies.js";
import { connectorHandle } from "../../../src/connectors/connector-handle.js";
import { AuthError } from "../../../src/connectors/errors.js";
import { TokenCache } from "../../../src/connectors/token-cache.js";
import { compileJsonPath } from "../../../src/core/json-paths.js";
import { callWithin, profileFor } from "../../helpers/auth.js";
import { useAuthLifecycle } from "../../helpers/auth-lifecycle.js";
import { oauthError, type Responder, type TokenServer, tokenAnswer } from "../../helpers/token-server.js";

const { agent, startServer } = useAuthLifecycle();
let server: TokenServer;

function clientCredentials(tokenUrl: string, clientSecret = "s"): AuthSettings {
  return {
    kind: "client-credentials",
    tokenUrl,
    client: { clientId: "flows", clientSecret, clientAuth: "basic" },
  };
}

describe("connectorHandle: basic auth", () => {
  it("returns Authorization: Basic (RFC 7617) and fetches nothing", async () => {
    server = await startServer();
    const cache = new TokenCache();
    const handle = connectorHandle(
      profileFor({ kind: "basic", username: "api user", password: "pa:ss é" }),
      cache,
    );
    const authorization = await handle.authorize(callWithin(agent));
    expect(authorization.tokenFetched).toBe(false);
    expect(authorization.baseUrl).toBeUndefined();
    expect(authorization.headers).toEqual({
      authorization: `Basic ${Buffer.from("api user:pa:ss é", "utf8").toString("base64")}`,
    });
    const decoded = Buffer.from(authorization.headers.authorization!.slice(6), "base64").toString("utf8");
    expect(decoded).toBe("api user:pa:ss é");
    authorization.invalidate();
    expect(server.requests).toHaveLength(0);
    expect(cache.size).toBe(0);
  });

  it("exposes the profile's identity, base URL and allowed methods", () => {
    const handle = connectorHandle(
      profileFor(
        { kind: "basic", username: "u", password: "p" },
        {
          id: "wx-1",
          name: "WxCC",
          type: "webex-contact-center",
          allowedMethods: ["GET", "HEAD", "OPTIONS"],
        },
      ),
      new TokenCache(),
    );
    expect(handle).toMatchObject({
      id: "wx-1",
      name: "WxCC",
      type: "webex-contact-center",
      status: "active",
      baseUrl: "https://crm.example.com",
      allowedMethods: ["GET", "HEAD", "OPTIONS"],
    });
  });
});

describe("connectorHandle: bearer tokens", () => {
  it("sends the token as Authorization: Bearer and serves it from the cache afterwards", async () => {
    server = await startServer({ fallback: tokenAnswer({ access_token: "eyJ.abc.def" }) });
    const handle = connectorHandle(profileFor(clientCredentials(server.url())), new TokenCache());
    const first = await handle.authorize(callWithin(agent));
    const second = await handle.authorize(callWithin(agent));
    expect(first).toMatchObject({ headers: { authorization: "Bearer eyJ.abc.def" }, tokenFetched: true });
    expect(second).toMatchObject({ headers: { authorization: "Bearer eyJ.abc.def" }, tokenFetched: false });
    expect(first.baseUrl).toBeUndefined();
    expect(server.requests).toHaveLength(1);
  });

  it("baseUrlFromToken: the base URL is the token's instance_url", async () => {
    server = await startServer({
      fallback: tokenAnswer({ access_token: "sf", instance_url: "https://acme.my.salesforce.com" }),
    });
    const withInstance = connectorHandle(
      profileFor(clientCredentials(server.url()), { baseUrl: undefined, baseUrlFromToken: true }),
      new TokenCache(),
    );
    expect((await withInstance.authorize(callWithin(agent))).baseUrl).toBe("https://acme.my.salesforce.com");
    // Served from the cache, the base URL is still known.
    expect((await withInstance.authorize(callWithin(agent))).baseUrl).toBe("https://acme.my.salesforce.com");

    const without = connectorHandle(profileFor(clientCredentials(server.url())), new TokenCache());
    expect((await without.authorize(callWithin(agent))).baseUrl).toBeUndefined();
  });

  it("invalidate drops the token: the next authorize fetches a new one", async () => {
    server = await startServer();
    const handle = connectorHandle(profileFor(clientCredentials(server.url())), new TokenCache());
    const first = await handle.authorize(callWithin(agent));
    first.invalidate();
    const second = await handle.authorize(callWithin(agent));
    expect(second).toMatchObject({ headers: { authorization: "Bearer token-2" }, tokenFetched: true });
    // A stale authorization's invalidate does not drop the newer token.
    first.invalidate();
    const third = await handle.authorize(callWithin(agent));
    expect(third).toMatchObject({ headers: { authorization: "Bearer token-2" }, tokenFetched: false });
    expect(server.requests).toHaveLength(2);
  });

  it("a refused token request is an AuthError with the server's error, and nothing is cached", async () => {
    server = await startServer({
      script: [oauthError("invalid_client", "unknown client flows")],
      fallback: tokenAnswer({ access_token: "fixed" }),
    });
    const cache = new TokenCache();
    const handle = connectorHandle(profileFor(clientCredentials(server.url())), cache);
    const error = await handle.authorize(callWithin(agent)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ code: "invalid-client", oauthError: "invalid_client" });
    expect((error as AuthError).message).toContain("unknown client flows");
    expect(cache.size).toBe(0);
    expect((await handle.authorize(callWithin(agent))).headers.authorization).toBe("Bearer fixed");
  });

  it("one caller's abort does not fail the other callers waiting for the same token", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: Responder = async () => {
      await released;
      return tokenAnswer({ access_token: "shared" });
    };
    server = await startServer({ fallback: slow });
    const handle = connectorHandle(profileFor(clientCredentials(server.url())), new TokenCache());
    const impatient = new AbortController();
    const first = handle.authorize(callWithin(agent, 10_000, impatient.signal));
    const second = handle.authorize(callWithin(agent));
    while (server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    impatient.abort(new Error("run 1 cancelled"));
    await expect(first).rejects.toThrow("run 1 cancelled");
    release();
    const authorization = await second;
    expect(authorization).toMatchObject({ headers: { authorization: "Bearer shared" }, tokenFetched: true });
    expect(server.requests).toHaveLength(1);
  });
});

describe("connectorHandle: background refresh", () => {
  it("a failed proactive refresh reaches onBackgroundError and the valid token is still served", async () => {
    let now = Date.UTC(2025, 0, 1);
    const backgroundErrors: unknown[] = [];
    server = await startServer({
      script: [tokenAnswer({ access_token: "first" }), oauthError("invalid_client", "secret rotated")],
      fallback: tokenAnswer({ access_token: "second" }),
    });
    const handle = connectorHandle(
      profileFor(clientCredentials(server.url()), {
        onBackgroundError: (error) => backgroundErrors.push(error),
      }),
      new TokenCache({ now: () => now }),
    );
    await handle.authorize(callWithin(agent));
    now += 3400_000; // in the last 10 % of the 3540 s lifetime
    expect((await handle.authorize(callWithin(agent))).headers.authorization).toBe("Bearer first");
    await vi.waitFor(() => expect(backgroundErrors).toHaveLength(1));
    expect(backgroundErrors[0]).toBeInstanceOf(AuthError);
    expect(backgroundErrors[0]).toMatchObject({ oauthError: "invalid_client" });
    // The next use tries again in the background and then serves the new token.
    expect((await handle.authorize(callWithin(agent))).headers.authorization).toBe("Bearer first");
    await vi.waitFor(async () =>
      expect((await handle.authorize(callWithin(agent))).headers.authorization).toBe("Bearer second"),
    );
    expect(server.requests).toHaveLength(3);
  });
});

describe("connectorHandle: refresh token rotation (RFC 6749 6)", () => {
  it("persists a rotated refresh token and sends it in the next token request", async () => {
    const rotated: string[] = [];
    server = await startServer({
      fallback: (request) => {
        const current = request.form.refresh_token ?? "";
        if (!/^rt-\d+$/.test(current)) return oauthError("invalid_grant", "unknown refresh token");
        const next = `rt-${Number(current.slice(3)) + 1}`;
        return tokenAnswer({ access_token: `at-for-${current}`, refresh_token: next });
      },
    });
    const handle = connectorHandle(
      profileFor(
        {
          kind: "refresh-token",
          tokenUrl: server.url("/v1/access_token"),
          client: { clientId: "C1", clientSecret: "S1", clientAuth: "body" },
          refreshToken: "rt-1",
        },
        {
          type: "webex-contact-center",
          onRefreshTokenRotated: (token) => void rotated.push(token.refreshToken),
        },
      ),
      new TokenCache(),
    );
    const first = await handle.authorize(callWithin(agent));
    expect(first.headers.authorization).toBe("Bearer at-for-rt-1");
    expect(rotated).toEqual(["rt-2"]);

    first.invalidate();
    const second = await handle.authorize(callWithin(agent));
    expect(second.headers.authorization).toBe("Bearer at-for-rt-2");
    expect(rotated).toEqual(["rt-2", "rt-3"]);
    expect(server.requests.map((request) => request.form.refresh_token)).toEqual(["rt-1", "rt-2"]);
    for (const request of server.requests) {
      expect(request.form).toMatchObject({
        grant_type: "refresh_token",
        client_id: "C1",
        client_secret: "S1",
      });
    }
  });

  it("does not report a rotation when the server returns the same or no refresh token", async () => {
    const rotated: string[] = [];
    server = await startServer({
      script: [
        tokenAnswer({ access_token: "a1", refresh_token: "rt-1" }),
        tokenAnswer({ access_token: "a2" }),
      ],
    });
    const handle = connectorHandle(
      profileFor(
        {
          kind: "refresh-token",
          tokenUrl: server.url(),
          client: { clientId: "C1", clientSecret: "S1", clientAuth: "basic" },
          refreshToken: "rt-1",
        },
        { onRefreshTokenRotated: (token) => void rotated.push(token.refreshToken) },
      ),
      new TokenCache(),
    );
    (await handle.authorize(callWithin(agent))).invalidate();
    await handle.authorize(callWithin(agent));
    expect(rotated).toEqual([]);
    expect(server.requests.map((request) => request.form.refresh_token)).toEqual(["rt-1", "rt-1"]);
  });
});

describe("connectorHandle: tokenExpired", () => {
  it("by the status list (default [401], configurable)", () => {
    const settings = { kind: "basic", username: "u", password: "p" } as const;
    const defaults = connectorHandle(profileFor(settings), new TokenCache());
    expect(defaults.tokenExpired({ status: 401, json: undefined })).toBe(true);
    expect(defaults.tokenExpired({ status: 403, json: undefined })).toBe(false);
    expect(defaults.tokenExpired({ status: 200, json: { ok: true } })).toBe(false);

    const custom = connectorHandle(
      profileFor(settings, { tokenExpiredStatuses: [401, 403] }),
      new TokenCache(),
    );
    expect(custom.tokenExpired({ status: 403, json: undefined })).toBe(true);
    expect(custom.tokenExpired({ status: 419, json: undefined })).toBe(false);
  });

  it("by a JSON path predicate on the body: a filter", () => {
    const handle = connectorHandle(
      profileFor(
        { kind: "basic", username: "u", password: "p" },
        { tokenExpiredWhen: compileJsonPath("$.error[?(@ == 'expired')]") },
      ),
      new TokenCache(),
    );
    expect(handle.tokenExpired({ status: 200, json: { error: ["expired"] } })).toBe(true);
    expect(handle.tokenExpired({ status: 200, json: { error: ["throttled"] } })).toBe(false);
    expect(handle.tokenExpired({ status: 200, json: { data: 1 } })).toBe(false);
    expect(handle.tokenExpired({ status: 200, json: undefined })).toBe(false);
  });

  it("by a JSON path predicate on the body: a flag", () => {
    const handle = connectorHandle(
      profileFor(
        { kind: "basic", username: "u", password: "p" },
        { tokenExpiredWhen: compileJsonPath("$.tokenExpired"), tokenExpiredStatuses: [] },
      ),
      new TokenCache(),
    );
    expect(handle.tokenExpired({ status: 200, json: { tokenExpired: true } })).toBe(true);
    expect(handle.tokenExpired({ status: 200, json: { tokenExpired: "yes" } })).toBe(true);
    expect(handle.tokenExpired({ status: 200, json: { tokenExpired: false } })).toBe(false);
    expect(handle.tokenExpired({ status: 200, json: { tokenExpired: null } })).toBe(false);
    expect(handle.tokenExpired({ status: 200, json: {} })).toBe(false);
    expect(handle.tokenExpired({ status: 401, json: {} })).toBe(false);
  });
});

describe("fingerprint", () => {
  const base: AuthSettings = {
    kind: "refresh-token",
    tokenUrl: "https://webexapis.com/v1/access_token",
    client: { clientId: "C1", clientSecret: "S1", clientAuth: "body" },
    refreshToken: "rt-1",
  };

  it("changes when the settings change, not when only the refresh token does", () => {
    expect(fingerprint(base)).toBe(fingerprint({ ...base }));
    expect(fingerprint({ ...base, refreshToken: "rt-2" })).toBe(fingerprint(base));
    expect(
      fingerprint({ ...base, client: { clientId: "C1", clientSecret: "S2", clientAuth: "body" } }),
    ).not.toBe(fingerprint(base));
    expect(
      fingerprint({ ...base, client: { clientId: "C1", clientSecret: "S1", clientAuth: "basic" } }),
    ).not.toBe(fingerprint(base));
    expect(fingerprint({ ...base, tokenUrl: "https://other.example.com/token" })).not.toBe(fingerprint(base));
    const cc = clientCredentials("https://auth.example.com/token");
    expect(fingerprint(cc)).not.toBe(fingerprint(clientCredentials("https://auth.example.com/token", "s2")));
    expect(fingerprint({ ...cc, scope: "read" } as AuthSettings)).not.toBe(fingerprint(cc));
  });

  it("an edited secret is never served the old token from the shared cache", async () => {
    server = await startServer();
    const cache = new TokenCache();
    const before = connectorHandle(profileFor(clientCredentials(server.url(), "old-secret")), cache);
    const after = connectorHandle(profileFor(clientCredentials(server.url(), "new-secret")), cache);
    expect((await before.authorize(callWithin(agent))).headers.authorization).toBe("Bearer token-1");
    const edited = await after.authorize(callWithin(agent));
    expect(edited).toMatchObject({ headers: { authorization: "Bearer token-2" }, tokenFetched: true });
    expect(server.requests).toHaveLength(2);
  });

  it("a handle built with only a new refresh token shares the cached token", async () => {
    server = await startServer();
    const cache = new TokenCache();
    const settings = { ...base, tokenUrl: server.url() };
    const before = connectorHandle(profileFor(settings), cache);
    const after = connectorHandle(profileFor({ ...settings, refreshToken: "rt-9" }), cache);
    await before.authorize(callWithin(agent));
    expect(await after.authorize(callWithin(agent))).toMatchObject({
      headers: { authorization: "Bearer token-1" },
      tokenFetched: false,
    });
    expect(server.requests).toHaveLength(1);
  });
});
