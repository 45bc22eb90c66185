import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AuthError } from "../../src/connectors/errors.js";
import { realClock } from "../../src/core/budget.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { fakeClock } from "../helpers/fake-clock.js";
import { httpFlow, runHttp } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, okJson, startHttpServer } from "../helpers/servers.js";
import { TestConnectorResolver, testConnector } from "../helpers/test-connectors.js";

let api: LoopbackServer;
let other: LoopbackServer;
beforeAll(async () => {
  api = await startHttpServer();
  other = await startHttpServer();
});
afterAll(closeAllServers);
beforeEach(() => {
  api.received.length = 0;
  other.received.length = 0;
  api.handle(okJson);
  other.handle(okJson);
});

const call = (fields: Record<string, unknown> = {}) => ({
  connector: "CRM",
  requestPath: "/accounts",
  ...fields,
});

describe("halting on connectors", () => {
  it("an inactive connector halts the run, naming connector and activity, and sends nothing", async () => {
    const resolver = new TestConnectorResolver([
      testConnector({ name: "CRM", baseUrl: api.url, status: "inactive" }),
    ]);
    const run = await runHttp({ connectors: resolver, allowLoopbackHttp: true }, call());
    expect(run.result.status).toBe("halted");
    expect(run.result.reason).toBe("connector-inactive");
    expect(run.result.error?.message).toContain('"CRM"');
    expect(run.result.error?.message).toContain('"call"');
    expect(run.result.path).toEqual(["call"]);
    expect(api.received).toHaveLength(0);
  });

  it("a connector deleted after compiling halts with connector-not-found", async () => {
    const resolver = new TestConnectorResolver([testConnector({ name: "CRM", baseUrl: api.url })]);
    const engine = createEngine({ connectors: resolver, allowLoopbackHttp: true });
    const flow = engine.compile(httpFlow(call()));
    resolver.remove("CRM");
    const result = await flow.run();
    await engine.close();
    expect(result.status).toBe("halted");
    expect(result.reason).toBe("connector-not-found");
    expect(api.received).toHaveLength(0);
  });

  it("without a resolver the flow compiles and halts with connector-not-found at run time", async () => {
    const run = await runHttp({ allowLoopbackHttp: true }, call());
    expect(run.result.status).toBe("halted");
    expect(run.result.reason).toBe("connector-not-found");
  });

  it("an unknown connector is a compile problem when a resolver is configured", () => {
    const engine = createEngine({ connectors: new TestConnectorResolver() });
    const problems = engine.validate(httpFlow(call()));
    expect(problems).toContainEqual(
      expect.objectContaining({
        path: "$.activities.call.connector",
        message: 'connector "CRM" is not defined',
      }),
    );
  });

  it("resolves connectors by id and case-insensitive name", async () => {
    const resolver = new TestConnectorResolver([testConnector({ name: "CRM", baseUrl: api.url })]);
    expect(
      (await runHttp({ connectors: resolver, allowLoopbackHttp: true }, call({ connector: "crm" }))).entry
        .outcome,
    ).toBe("success");
    expect(
      (await runHttp({ connectors: resolver, allowLoopbackHttp: true }, call({ connector: "id-crm" }))).entry
        .outcome,
    ).toBe("success");
  });
});

describe("connector authorisation", () => {
  it("gates methods before authorising or sending: method-not-allowed", async () => {
    const connector = testConnector({
      name: "CRM",
      baseUrl: api.url,
      allowedMethods: ["GET", "HEAD", "OPTIONS"],
    });
    const resolver = new TestConnectorResolver([connector]);
    const run = await runHttp(
      { connectors: resolver, allowLoopbackHttp: true },
      call({ method: "POST", body: {} }),
    );
    expect(run.outputs.error?.kind).toBe("method-not-allowed");
    expect(run.result.status).toBe("completed");
    expect(connector.calls.authorize).toBe(0);
    expect(api.received).toHaveLength(0);
    expect((await runHttp({ connectors: resolver, allowLoopbackHttp: true }, call())).entry.outcome).toBe(
      "success",
    );
  });

  it("refreshes reactively: 401 -> invalidate, authorize again, retry once", async () => {
    let seen = 0;
    api.handle((request, response, raw) => {
      if (seen++ === 0) {
        response.statusCode = 401;
        response.end();
      } else okJson(request, response, raw);
    });
    const connector = testConnector({
      name: "CRM",
      baseUrl: api.url,
      tokenExpiredStatuses: [401],
      authorize: async (n) => ({
        headers: { authorization: `Bearer token-number-${n}` },
        tokenFetched: true,
      }),
    });
    const run = await runHttp(
      { connectors: new TestConnectorResolver([connector]), allowLoopbackHttp: true },
      call(),
    );
    expect(run.entry.outcome).toBe("success");
    expect(connector.calls).toEqual({ authorize: 2, invalidate: 1 });
    expect(api.received.map((r) => r.headers.authorization)).toEqual([
      "Bearer token-number-1",
      "Bearer token-number-2",
    ]);
    expect(run.http.attempts).toBe(2);
    expect(run.http.tokenFetched).toBe(true);
  });

  it("a second expiry after the refresh is kind auth", async () => {
    api.handle((_request, response) => {
      response.statusCode = 401;
      response.end();
    });
    const connector = testConnector({
      name: "CRM",
      baseUrl: api.url,
      tokenExpiredStatuses: [401],
      authorize: async (n) => ({ headers: { authorization: `Bearer token-number-${n}` } }),
    });
    const run = await runHttp(
      { connectors: new TestConnectorResolver([connector]), allowLoopbackHttp: true },
      call(),
    );
    expect(run.outputs.error?.kind).toBe("auth");
    expect(api.received).toHaveLength(2);
    expect(JSON.stringify(run.result)).not.toContain("token-number");
  });

  it("uses the Authorization's baseUrl instead of the connector's", async () => {
    const connector = testConnector({
      name: "CRM",
      baseUrl: api.url,
      authorize: async () => ({
        headers: { authorization: "Bearer t0ken-value" },
        baseUrl: `${other.url}/services`,
      }),
    });
    const run = await runHttp(
      { connectors: new TestConnectorResolver([connector]), allowLoopbackHttp: true },
      call(),
    );
    expect(run.entry.outcome).toBe("success");
    expect(api.received).toHaveLength(0);
    expect(other.received[0]!.url).toBe("/services/accounts");
    expect(run.http.url).toBe(`${other.url}/services/accounts`);
  });

  it("an AuthError from authorize is kind auth; any other error too; nothing is sent", async () => {
    for (const thrown of [
      new AuthError("token endpoint said invalid_client", { code: "invalid-client" }),
      new Error("bad PEM"),
    ]) {
      const connector = testConnector({
        name: "CRM",
        baseUrl: api.url,
        authorize: async () => {
          throw thrown;
        },
      });
      const run = await runHttp(
        { connectors: new TestConnectorResolver([connector]), allowLoopbackHttp: true },
        call(),
      );
      expect(run.outputs.error?.kind).toBe("auth");
      expect(run.outputs.error?.message).toContain(thrown.message);
    }
    expect(api.received).toHaveLength(0);
  });

  it("the engine's retry clock reaches authorize in its budget (token retries wait on it), real time otherwise", async () => {
    const seen: unknown[] = [];
    const connector = testConnector({
      name: "CRM",
      baseUrl: api.url,
      authorize: async (_call, request) => {
        seen.push(request.budget.clock);
        return {};
      },
    });
    const connectors = new TestConnectorResolver([connector]);
    const retryClock = fakeClock();
    expect((await runHttp({ connectors, allowLoopbackHttp: true, retryClock }, call())).entry.outcome).toBe(
      "success",
    );
    await runHttp({ connectors, allowLoopbackHttp: true }, call());
    expect(seen).toEqual([retryClock, realClock]);
  });

  it("a token fetch that outlives the deadline is kind timeout", async () => {
    const connector = testConnector({
      name: "CRM",
      baseUrl: api.url,
      authorize: (_n, request) =>
        new Promise((_resolve, reject) => {
          request.budget.signal.addEventListener("abort", () => reject(request.budget.signal.reason));
        }),
    });
    const run = await runHttp(
      { connectors: new TestConnectorResolver([connector]), allowLoopbackHttp: true },
      call({ timeoutMs: 50 }),
    );
    expect(run.entry.outcome).toBe("timeout");
    expect(run.outputs.error?.kind).toBe("timeout");
  });

  it("refuses an http:// connector base URL without allowLoopbackHttp", async () => {
    const resolver = new TestConnectorResolver([testConnector({ name: "CRM", baseUrl: api.url })]);
    const run = await runHttp({ connectors: resolver }, call());
    expect(run.outputs.error?.kind).toBe("invalid-request");
    expect(api.received).toHaveLength(0);
  });

  it("refuses an Authorization header on an authenticated endpoint at compile time", () => {
    const engine = createEngine({
      connectors: new TestConnectorResolver([testConnector({ name: "CRM", baseUrl: api.url })]),
    });
    const problems = engine.validate(httpFlow(call({ headers: { AUTHORIZATION: "Bearer mine" } })));
    expect(problems.map((p) => p.path)).toContain("$.activities.call.headers.AUTHORIZATION");
  });
});
