import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Budget, backoffMs } from "../../src/core/budget.js";
import { ValidationError } from "../../src/core/errors.js";
import { API_RETRY_POLICY, retryAfterMs, retryDelayMs, TOKEN_RETRY_POLICY } from "../../src/http/retry.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { fakeClock } from "../helpers/fake-clock.js";
import { httpFlow, runHttp } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, okJson, startHttpServer } from "../helpers/servers.js";

let api: LoopbackServer;
beforeAll(async () => {
  api = await startHttpServer();
});
afterAll(closeAllServers);
beforeEach(() => {
  api.received.length = 0;
  api.handle(okJson);
});

const direct = (fields: Record<string, unknown> = {}) => ({
  useAuthenticatedEndpoint: false,
  requestUrl: `${api.url}/resource`,
  ...fields,
});
const options = { allowLoopbackHttp: true };

/** Answers the first `failures` requests with `fail`, then with `{"ok":true}`. */
function failFirst(failures: number, fail: Parameters<typeof api.handle>[0]) {
  let seen = 0;
  api.handle((request, response, raw) =>
    seen++ < failures ? fail(request, response, raw) : okJson(request, response, raw),
  );
}

describe("retries", () => {
  it("retries a 429 after Retry-After: 1 and succeeds (the wait on a fake clock)", async () => {
    failFirst(1, (_request, response) => {
      response.statusCode = 429;
      response.setHeader("retry-after", "1");
      response.end();
    });
    const retryClock = fakeClock();
    const run = await runHttp(
      { ...options, retryClock },
      direct({ method: "POST", retries: 1, body: { a: 1 } }),
    );
    expect(run.entry.outcome).toBe("success");
    expect(run.http.attempts).toBe(2);
    expect(api.received).toHaveLength(2);
    expect(retryClock.waits).toEqual([1000]);
  });

  it("returns the 429 without waiting when Retry-After does not fit before the deadline", async () => {
    failFirst(1, (_request, response) => {
      response.statusCode = 429;
      response.setHeader("retry-after", "120");
      response.end();
    });
    const run = await runHttp(options, direct({ retries: 3, timeoutMs: 2000 }));
    expect(run.outputs.error?.kind).toBe("http-status");
    expect(run.outputs.statusCode).toBe(429);
    expect(run.http.attempts).toBe(1);
  });

  it.each([502, 503, 504])("retries %i with backoff", async (status) => {
    failFirst(2, (_request, response) => {
      response.statusCode = status;
      response.end();
    });
    const retryClock = fakeClock(0.5);
    const run = await runHttp({ ...options, retryClock }, direct({ retries: 2 }));
    expect(run.entry.outcome).toBe("success");
    expect(run.http.attempts).toBe(3);
    // 100 then 200 ms, each plus half of the 25 % jitter.
    expect(retryClock.waits).toEqual([112, 225]);
  });

  it("does not retry without retries, nor a 500", async () => {
    failFirst(1, (_request, response) => {
      response.statusCode = 503;
      response.end();
    });
    expect((await runHttp(options, direct())).outputs.error?.kind).toBe("http-status");
    failFirst(1, (_request, response) => {
      response.statusCode = 500;
      response.end();
    });
    const run = await runHttp(options, direct({ retries: 3 }));
    expect(run.outputs.error?.kind).toBe("http-status");
    expect(run.http.attempts).toBe(1);
  });

  const resetFirst = () =>
    failFirst(1, (_request, _response, raw) => {
      raw.socket.destroy();
    });

  it("retries a GET after a connection reset", async () => {
    resetFirst();
    const run = await runHttp(options, direct({ retries: 1 }));
    expect(run.entry.outcome).toBe("success");
    expect(run.http.attempts).toBe(2);
  });

  it("does not retry a POST after a connection reset", async () => {
    resetFirst();
    const run = await runHttp(options, direct({ method: "POST", retries: 3, body: { a: 1 } }));
    expect(run.outputs.error?.kind).toBe("network");
    expect(run.http.attempts).toBe(1);
    expect(api.received).toHaveLength(1);
  });

  it("retries a GET whose attempt timed out, within the deadline", async () => {
    failFirst(1, (_request, response) => {
      setTimeout(() => response.end("late"), 3000).unref();
    });
    const run = await runHttp(options, direct({ retries: 1, timeoutMs: 1000 }));
    expect(run.entry.outcome).toBe("success");
    expect(run.http.attempts).toBe(2);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs("3", now)).toBe(3000);
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5000);
    expect(retryAfterMs("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe("parse settings", () => {
  const account = {
    accounts: [
      { id: "A-17", vip: "true", balance: "250.5", visits: 4, since: "2020-01-02", tags: ["a", "b"] },
      { id: "B-2", vip: false, balance: 1, visits: 1, since: "2021-01-01", tags: [] },
    ],
  };
  const declare = {
    accountId: { type: "string" },
    isVip: { type: "boolean" },
    balance: { type: "decimal" },
    visits: { type: "integer" },
    since: { type: "datetime" },
    raw: { type: "json" },
    ids: { type: "json" },
    missing: { type: "string" },
    fallback: { type: "integer" },
  };
  const serve = (body: string, contentType = "application/json") =>
    api.handle((_request, response) => {
      response.setHeader("content-type", contentType);
      response.end(body);
    });

  it("assigns each variable type, indefinite paths as arrays, defaults and null for no match", async () => {
    serve(JSON.stringify(account));
    const run = await runHttp(
      options,
      direct({
        parseSettings: [
          { outputVariable: "accountId", pathExpression: "$.accounts[0].id", required: true },
          { outputVariable: "isVip", pathExpression: "$.accounts[0].vip" },
          { outputVariable: "balance", pathExpression: "$.accounts[0].balance" },
          { outputVariable: "visits", pathExpression: "$.accounts[0].visits" },
          { outputVariable: "since", pathExpression: "$.accounts[0].since" },
          { outputVariable: "raw", pathExpression: "$.accounts[0].tags" },
          { outputVariable: "ids", pathExpression: "$.accounts[*].id" },
          { outputVariable: "missing", pathExpression: "$.nothing" },
          { outputVariable: "fallback", pathExpression: "$.nothing", default: 7 },
        ],
      }),
      { declare },
    );
    expect(run.entry.outcome).toBe("success");
    expect(run.result.variables).toMatchObject({
      accountId: "A-17",
      isVip: true,
      balance: 250.5,
      visits: 4,
      since: "2020-01-02",
      raw: ["a", "b"],
      ids: ["A-17", "B-2"],
      missing: null,
      fallback: 7,
    });
    expect(run.entry.assignments).toMatchObject({ accountId: "A-17" });
  });

  it("a required path without a match is kind parse and assigns nothing", async () => {
    serve(JSON.stringify(account));
    const run = await runHttp(
      options,
      direct({
        parseSettings: [
          { outputVariable: "accountId", pathExpression: "$.accounts[0].id" },
          { outputVariable: "missing", pathExpression: "$.nothing", required: true },
        ],
      }),
      { declare },
    );
    expect(run.outputs.error?.kind).toBe("parse");
    expect(run.result.variables.accountId).toBeNull();
  });

  it("a value that cannot be converted is kind parse", async () => {
    serve(JSON.stringify({ n: "many" }));
    const run = await runHttp(
      options,
      direct({ parseSettings: [{ outputVariable: "visits", pathExpression: "$.n" }] }),
      { declare },
    );
    expect(run.outputs.error?.kind).toBe("parse");
  });

  it("a body that is not JSON is kind parse when there are parse settings", async () => {
    serve("<html>hello</html>", "text/html");
    const run = await runHttp(
      options,
      direct({ parseSettings: [{ outputVariable: "raw", pathExpression: "$.a" }] }),
      { declare },
    );
    expect(run.outputs.error?.kind).toBe("parse");
    expect(run.outputs.body).toBe("<html>hello</html>");
    expect(run.outputs.json).toBeNull();
  });

  it("without parse settings a non-JSON body succeeds with json null; JSON in text/plain is parsed", async () => {
    serve("plain words", "text/plain");
    const plain = await runHttp(options, direct());
    expect(plain.entry.outcome).toBe("success");
    expect(plain.outputs.json).toBeNull();
    serve('{"a":1}', "text/plain");
    expect((await runHttp(options, direct())).outputs.json).toEqual({ a: 1 });
  });

  it("parse settings that write undeclared variables are compile problems", () => {
    const engine = createEngine(options);
    expect(() =>
      engine.compile(
        httpFlow(direct({ parseSettings: [{ outputVariable: "nope", pathExpression: "$.a" }] })),
      ),
    ).toThrow(ValidationError);
  });
});

describe("the one retry policy (pure timing)", () => {
  const at = (now: number, random = 0) => ({ ...fakeClock(random), now: () => now });

  it("backs off exponentially up to maxMs, with at most `jitter` of it added", () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(API_RETRY_POLICY, n, at(0, 0)))).toEqual([100, 200, 400, 800]);
    expect([1, 2, 3].map((n) => backoffMs(API_RETRY_POLICY, n, at(0, 0.999)))).toEqual([124, 249, 499]);
    expect(backoffMs(TOKEN_RETRY_POLICY, 10, at(0, 0))).toBe(2000);
    expect(backoffMs(TOKEN_RETRY_POLICY, 10, at(0, 0.999))).toBe(2499);
  });

  it("Retry-After wins over the backoff, also beyond maxMs", () => {
    expect(retryDelayMs(TOKEN_RETRY_POLICY, 1, "7", at(0))).toBe(7000);
    expect(retryDelayMs(TOKEN_RETRY_POLICY, 2, undefined, at(0))).toBe(200);
    expect(retryDelayMs(TOKEN_RETRY_POLICY, 2, "soon", at(0))).toBe(200);
  });

  it("a wait is started only when it (and the attempt after it) ends before the deadline", () => {
    const budget = new Budget(1000, { clock: at(400) });
    expect(budget.fits(500)).toBe(true);
    expect(budget.fits(600)).toBe(false);
    expect(budget.fits(500, 100)).toBe(false);
  });
});
