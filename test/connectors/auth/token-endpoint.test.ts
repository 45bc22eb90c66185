import { describe, expect, it } from "vitest";
import { requestToken } from "../../../src/connectors/auth/token-endpoint.js";
import {
  clientCredentialsRequest,
  refreshTokenRequest,
  type TokenRequest,
} from "../../../src/connectors/auth/token-request.js";
import { AuthError } from "../../../src/connectors/errors.js";
import { Budget } from "../../../src/core/budget.js";
import { TOKEN_RETRY_POLICY } from "../../../src/http/retry.js";
import { callWithin } from "../../helpers/auth.js";
import { useAuthLifecycle } from "../../helpers/auth-lifecycle.js";
import { type FakeClock, fakeClock } from "../../helpers/fake-clock.js";
import { closedPort, oauthError, type TokenServer, tokenAnswer } from "../../helpers/token-server.js";

const { agent, startServer } = useAuthLifecycle();
let server: TokenServer;

function ccRequest(tokenUrl: string): TokenRequest {
  return clientCredentialsRequest(
    tokenUrl,
    { clientId: "flows", clientSecret: "s", clientAuth: "basic" },
    "read",
  );
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the token request to fail");
}

/** `callWithin` whose retries wait on a fake clock (recorded in `clock.waits`), not in real time. */
let clock: FakeClock;
const within = (ms?: number) => {
  clock = fakeClock();
  return callWithin(agent, ms, undefined, clock);
};

describe("requestToken retries (the one retry policy)", () => {
  it("500, 500, 200 -> the token, after exactly 3 requests", async () => {
    server = await startServer({
      script: [
        { status: 500, body: "oops" },
        { status: 500, json: { error: "server_error" } },
        tokenAnswer({ access_token: "third-time" }),
      ],
    });
    const token = await requestToken(ccRequest(server.url()), within());
    expect(token.accessToken).toBe("third-time");
    expect(server.requests).toHaveLength(3);
    expect(clock.waits).toEqual([112, 225]);
    // Every attempt is the same complete request.
    for (const request of server.requests) {
      expect(request.form).toEqual({ grant_type: "client_credentials", scope: "read" });
      expect(request.headers.authorization).toMatch(/^Basic /);
    }
  });

  it("429 then 200 -> the token after 2 requests", async () => {
    server = await startServer({
      script: [
        { status: 429, headers: { "retry-after": "0" }, body: "" },
        tokenAnswer({ access_token: "ok" }),
      ],
    });
    const token = await requestToken(ccRequest(server.url()), within());
    expect(token.accessToken).toBe("ok");
    expect(server.requests).toHaveLength(2);
    expect(clock.waits).toEqual([0]);
  });

  it("429 with Retry-After: waits what the server asks when the deadline allows, else answers at once", async () => {
    server = await startServer({
      script: [
        { status: 429, headers: { "retry-after": "3" }, body: "" },
        tokenAnswer({ access_token: "later" }),
      ],
    });
    expect((await requestToken(ccRequest(server.url()), within(15_000))).accessToken).toBe("later");
    expect(clock.waits).toEqual([3000]);
    server = await startServer({ fallback: { status: 429, headers: { "retry-after": "3" }, body: "" } });
    const error = await failure(requestToken(ccRequest(server.url()), within(2000)));
    expect(error).toMatchObject({ retryable: true, message: expect.stringContaining("HTTP 429") });
    expect(clock.waits).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it("a connection closed without an answer is retried", async () => {
    server = await startServer({
      script: [{ destroy: true }, tokenAnswer({ access_token: "after-reset" })],
    });
    const token = await requestToken(ccRequest(server.url()), within());
    expect(token.accessToken).toBe("after-reset");
    expect(server.requests).toHaveLength(2);
  });

  it("a connection lost in the middle of the answer is a network error: retried", async () => {
    server = await startServer({
      script: [{ truncated: '{"access_token": "half' }, tokenAnswer({ access_token: "whole" })],
    });
    const token = await requestToken(ccRequest(server.url()), within());
    expect(token.accessToken).toBe("whole");
    expect(server.requests).toHaveLength(2);
  });

  it("a connection lost in the middle of every answer ends in a retryable AuthError", async () => {
    server = await startServer({ fallback: { truncated: '{"access_token": "half' } });
    const error = await failure(requestToken(ccRequest(server.url()), within(15_000)));
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ code: "token-endpoint-unreachable", retryable: true });
    expect((error as AuthError).message).toContain(
      `lost the connection to token endpoint ${server.origin}/oauth/token while reading its answer`,
    );
    expect(server.requests).toHaveLength(5);
  });

  it("invalid_client is final: exactly 1 request, AuthError with the error and its description", async () => {
    server = await startServer({
      fallback: oauthError("invalid_client", "Client authentication failed (unknown client)", 401),
    });
    const error = await failure(requestToken(ccRequest(server.url()), within()));
    expect(error).toBeInstanceOf(AuthError);
    const authError = error as AuthError;
    expect(authError.code).toBe("invalid-client");
    expect(authError.oauthError).toBe("invalid_client");
    expect(authError.retryable).toBe(false);
    expect(authError.message).toContain(`token endpoint ${server.origin}/oauth/token`);
    expect(authError.message).toContain("invalid_client");
    expect(authError.message).toContain("Client authentication failed (unknown client)");
    expect(server.requests).toHaveLength(1);
  });

  it("invalid_grant is final", async () => {
    server = await startServer({ fallback: oauthError("invalid_grant", "refresh token revoked") });
    const error = await failure(requestToken(ccRequest(server.url()), within()));
    expect(error).toMatchObject({ code: "invalid-grant", oauthError: "invalid_grant" });
    expect(server.requests).toHaveLength(1);
  });

  it("an HTML 200 (a login page) is final, not retried", async () => {
    server = await startServer({
      fallback: { body: "<html><form>Sign in</form></html>", contentType: "text/html" },
    });
    const error = await failure(requestToken(ccRequest(server.url()), within()));
    expect(error).toMatchObject({
      code: "token-response-malformed",
      message: expect.stringContaining("text/html, not JSON"),
    });
    expect(server.requests).toHaveLength(1);
  });

  it("a redirect is not followed and not retried", async () => {
    server = await startServer({
      fallback: { status: 302, headers: { location: "/login" }, body: "" },
    });
    const error = await failure(requestToken(ccRequest(server.url()), within()));
    expect(error).toMatchObject({
      code: "token-endpoint-status",
      message: expect.stringContaining("redirect (HTTP 302)"),
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.path).toBe("/oauth/token");
  });

  it("an oversized answer is rejected", async () => {
    server = await startServer({
      fallback: { json: { access_token: "x".repeat(70 * 1024), token_type: "bearer" } },
    });
    const error = await failure(requestToken(ccRequest(server.url()), within()));
    expect(error).toMatchObject({
      code: "token-endpoint-unreachable",
      message: expect.stringContaining("more than 65536 bytes"),
    });
    expect(server.requests).toHaveLength(1);
  });

  it("500 for ever: gives up with the retryable AuthError once the deadline leaves no room", async () => {
    server = await startServer({ fallback: { status: 503, body: "maintenance" } });
    const error = await failure(requestToken(ccRequest(server.url()), within(250)));
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({
      retryable: true,
      message: expect.stringContaining("HTTP 503: maintenance"),
    });
    // The deadline stops the retries before the policy's 5 attempts: every wait started left room for an attempt.
    expect(server.requests.length).toBeGreaterThanOrEqual(1);
    expect(server.requests.length).toBeLessThan(5);
    expect(clock.waits.reduce((sum, wait) => sum + wait, 0)).toBeLessThan(250 - 100);
  });

  it("500 for ever with a long deadline: 5 attempts (4 retries), then the last error", async () => {
    server = await startServer({ fallback: { status: 500, body: "down" } });
    const error = await failure(requestToken(ccRequest(server.url()), within(15_000)));
    expect(error).toMatchObject({ code: "token-endpoint-status", retryable: true });
    expect(server.requests).toHaveLength(5);
    expect(clock.waits).toEqual([112, 225, 450, 900]);
  });
});

describe("requestToken: endpoints that do not answer", () => {
  it("a server that never answers: the AbortSignal ends the wait (no hang, no retry)", async () => {
    server = await startServer({ fallback: { hang: true } });
    const controller = new AbortController();
    const pending = requestToken(ccRequest(server.url()), {
      dispatcher: agent,
      budget: Budget.of(60_000, { signal: controller.signal }),
    });
    // Abort once the server has the request in hand.
    while (server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error("activity deadline"));
    const error = await failure(pending);
    expect(error).not.toBeInstanceOf(AuthError);
    expect((error as Error).message).toBe("activity deadline");
    expect(server.requests).toHaveLength(1);
  });

  it("a server that never answers: a short timeout signal rejects with a TimeoutError", async () => {
    server = await startServer({ fallback: { hang: true } });
    const error = await failure(requestToken(ccRequest(server.url()), callWithin(agent, 200)));
    expect((error as Error).name).toBe("TimeoutError");
    expect(server.requests).toHaveLength(1);
  });

  it("an abort during the backoff wait stops the retries", async () => {
    const controller = new AbortController();
    server = await startServer({
      fallback: () => {
        // Abort right after the first failure is answered, while the policy waits (real time) before the next attempt.
        setImmediate(() => controller.abort(new Error("run cancelled")));
        return { status: 503, body: "busy" };
      },
    });
    const error = await failure(
      requestToken(ccRequest(server.url()), {
        dispatcher: agent,
        budget: Budget.of(60_000, { signal: controller.signal }),
      }),
    );
    expect((error as Error).message).toBe("run cancelled");
    expect(server.requests).toHaveLength(1);
  });

  it("connection refused: retried, then an AuthError saying it could not reach the endpoint", async () => {
    const port = await closedPort();
    const error = await failure(
      requestToken(ccRequest(`http://127.0.0.1:${port}/oauth/token`), within(15_000)),
    );
    expect(error).toBeInstanceOf(AuthError);
    const authError = error as AuthError;
    expect(authError.code).toBe("token-endpoint-unreachable");
    expect(authError.retryable).toBe(true);
    expect(authError.message).toContain(
      `could not reach token endpoint http://127.0.0.1:${port}/oauth/token`,
    );
    expect(authError.message).toContain("ECONNREFUSED");
    expect(clock.waits).toHaveLength(TOKEN_RETRY_POLICY.retries);
  });
});

describe("a refresh-token request is single use once it may have reached the server", () => {
  const refresh = (tokenUrl: string) =>
    refreshTokenRequest(tokenUrl, { clientId: "flows", clientSecret: "s", clientAuth: "body" }, "rt-1");

  it("a connection closed without an answer: not resent (the server may have rotated the token)", async () => {
    server = await startServer({ script: [{ destroy: true }, tokenAnswer({ access_token: "never" })] });
    const error = (await failure(requestToken(refresh(server.url()), within()))) as AuthError;
    expect(error.code).toBe("token-endpoint-unreachable");
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("may have been spent");
    expect(server.requests).toHaveLength(1);
  });

  it("a connection lost in the middle of the answer: not resent", async () => {
    server = await startServer({ script: [{ truncated: '{"access_token": "half' }, tokenAnswer()] });
    await failure(requestToken(refresh(server.url()), within()));
    expect(server.requests).toHaveLength(1);
  });

  it("connection refused (nothing sent): retried like any token request", async () => {
    const port = await closedPort();
    const error = (await failure(
      requestToken(refresh(`http://127.0.0.1:${port}/oauth/token`), within(15_000)),
    )) as AuthError;
    expect(error.retryable).toBe(true);
    expect(error.message).toContain("could not reach");
    expect(clock.waits).toHaveLength(TOKEN_RETRY_POLICY.retries);
  });

  it("a 503 answer is retried: the server said it issued nothing", async () => {
    server = await startServer({
      script: [oauthError("temporarily_unavailable", undefined, 503), tokenAnswer()],
    });
    await requestToken(refresh(server.url()), within());
    expect(server.requests).toHaveLength(2);
  });
});
