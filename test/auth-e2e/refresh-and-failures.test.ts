import { describe, expect, it } from "vitest";
import type { ConnectorInput } from "../../src/index.js";
import { oauthError, tokenAnswer } from "../helpers/token-server.js";
import {
  answer,
  apiOk,
  bearerOf,
  httpTrace,
  leakedSecrets,
  oauthCrmConnector,
  oneCallFlow,
  outputsOf,
  useApiServer,
  useTokenServer,
  withEngine,
} from "./harness.js";

/** Reactive refresh and token endpoint failures, through the engine. */

const CLIENT_SECRET = "cl1ent-S3cret-never-shown";

const api = useApiServer();
const tokens = useTokenServer();

const crm = (fields: Record<string, unknown> = {}) => oauthCrmConnector(api, tokens, fields);

async function runOnce(connector: ConnectorInput) {
  return withEngine(connector, { secrets: { env: { CRM_SECRET: CLIENT_SECRET } } }, async (engine) => {
    const result = await engine.compile(oneCallFlow({ connector: "CRM", requestPath: "/accounts" })).run();
    expect(result.status).toBe("completed");
    return result;
  });
}

describe("reactive refresh", () => {
  it("401 -> one new token and one retry: the API sees the old token, then the new one", async () => {
    api.handle((request, response, raw) => {
      if (bearerOf(request) === "token-1") answer(response, 401, { message: "token expired" });
      else apiOk(request, response, raw);
    });
    const result = await runOnce(crm());
    expect(outputsOf(result).statusCode).toBe(200);
    expect(result.trace[0]?.outcome).toBe("success");
    expect(httpTrace(result).attempts).toBe(2);
    expect(api.received.map(bearerOf)).toEqual(["token-1", "token-2"]);
    expect(tokens.requests).toHaveLength(2);
  });

  it("a second 401 fails the activity with kind auth; no third attempt", async () => {
    api.handle((_request, response) => answer(response, 401, { message: "no" }));
    const result = await runOnce(crm());
    expect(result.trace[0]?.outcome).toBe("error");
    expect(outputsOf(result).error?.kind).toBe("auth");
    expect(api.received.map(bearerOf)).toEqual(["token-1", "token-2"]);
    expect(tokens.requests).toHaveLength(2);
  });

  it("tokenExpiredStatuses: a configured 419 triggers the refresh, a 401 then is a plain http-status", async () => {
    api.handle((request, response) => {
      if (bearerOf(request) === "token-1") answer(response, 419, { message: "session expired" });
      else answer(response, 401, { message: "not expiry for this API" });
    });
    const result = await runOnce(crm({ tokenExpiredStatuses: [419] }));
    expect(outputsOf(result).error?.kind).toBe("http-status");
    expect(outputsOf(result).statusCode).toBe(401);
    expect(api.received.map(bearerOf)).toEqual(["token-1", "token-2"]);
  });

  it("tokenExpiredWhen: a 200 body reporting expiry triggers the same refresh and retry", async () => {
    api.handle((request, response) => {
      if (bearerOf(request) === "token-1") answer(response, 200, { status: { tokenExpired: true } });
      else answer(response, 200, { status: { tokenExpired: false }, account: "A-17" });
    });
    const result = await runOnce(crm({ tokenExpiredWhen: "$.status.tokenExpired" }));
    expect(outputsOf(result).json).toEqual({ status: { tokenExpired: false }, account: "A-17" });
    expect(api.received.map(bearerOf)).toEqual(["token-1", "token-2"]);
    expect(tokens.requests).toHaveLength(2);
  });

  it("tokenExpiredWhen twice -> kind auth", async () => {
    api.handle((_request, response) => answer(response, 200, { status: { tokenExpired: true } }));
    const result = await runOnce(crm({ tokenExpiredWhen: "$.status.tokenExpired" }));
    expect(outputsOf(result).error?.kind).toBe("auth");
    expect(api.received.map(bearerOf)).toEqual(["token-1", "token-2"]);
  });
});

describe("token endpoint failures", () => {
  it("500, 500, 200 -> retried with backoff; the run succeeds with the third answer's token", async () => {
    tokens.enqueue(
      { status: 500, json: { error: "server_error" } },
      { status: 500, body: "upstream down" },
      tokenAnswer({ access_token: "after-retries" }),
    );
    const result = await runOnce(crm());
    expect(outputsOf(result).statusCode).toBe(200);
    expect(tokens.requests).toHaveLength(3);
    expect(api.received.map(bearerOf)).toEqual(["after-retries"]);
  });

  it("invalid_client -> kind auth naming the server's error and description, not retried, no secret", async () => {
    tokens.enqueue(oauthError("invalid_client", "Client authentication failed (unknown client flows)", 401));
    const result = await runOnce(crm());
    const error = outputsOf(result).error;
    expect(error?.kind).toBe("auth");
    expect(error?.message).toContain("invalid_client");
    expect(error?.message).toContain("Client authentication failed (unknown client flows)");
    expect(error?.message).toContain('connector "CRM"');
    expect(tokens.requests).toHaveLength(1);
    expect(api.received).toHaveLength(0);
    const basic = tokens.requests[0]?.headers.authorization ?? "";
    expect(
      leakedSecrets(JSON.stringify(result), [CLIENT_SECRET, basic, basic.slice("Basic ".length)]),
    ).toEqual([]);
  });

  it("invalid_grant on a refresh-token grant -> kind auth, the refresh token not in the message", async () => {
    tokens.enqueue(oauthError("invalid_grant", "refresh token revoked"));
    const webex = {
      id: "c-wxcc",
      name: "Webex CC",
      type: "webex-contact-center",
      access: "read-write",
      clientId: "C0ffee",
      clientSecret: { env: "S" },
      refreshToken: { env: "R" },
      tokenUrl: tokens.url(),
      resourceDomainUrl: api.url,
    } as ConnectorInput;
    await withEngine(
      webex,
      { secrets: { env: { S: CLIENT_SECRET, R: "refresh-T0ken-revoked" } } },
      async (engine) => {
        const result = await engine
          .compile(oneCallFlow({ connector: "Webex CC", requestPath: "/v1/x" }))
          .run();
        expect(outputsOf(result).error?.kind).toBe("auth");
        expect(outputsOf(result).error?.message).toContain("invalid_grant: refresh token revoked");
        expect(leakedSecrets(JSON.stringify(result), [CLIENT_SECRET, "refresh-T0ken-revoked"])).toEqual([]);
      },
    );
  });
});
