import { MockAgent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { scriptedHandlers } from "../../src/engine/host.js";
import type { RunResult } from "../../src/engine/result.js";
import { createEngine } from "../../src/runtime/create-engine.js";

/**
 * `timeout` and `network` cannot come from a `*.test.json`: a recorded exchange is a response (status, headers,
 * body) and ReplaySession answers every request at once. These kinds are produced here with undici's MockAgent
 * directly (`delay` past the deadline, `replyWithError`), through the same engine request path replay uses.
 */
const flow = {
  name: "holiday-check",
  variables: { errorKind: { type: "string" }, isHoliday: { type: "boolean", default: false } },
  start: "checkHoliday",
  activities: {
    checkHoliday: {
      type: "http-request",
      useAuthenticatedEndpoint: false,
      requestUrl: "https://holidays.example.com/api/v1/today",
      method: "GET",
      queryParameters: { country: "DE" },
      timeoutMs: 150,
      parseSettings: [{ outputVariable: "isHoliday", pathExpression: "$.holiday", default: false }],
      next: { success: "mainQueue", error: "noteError", timeout: "noteTimeout" },
    },
    noteError: {
      type: "set-variable",
      assignments: [{ variable: "errorKind", value: "{{ checkHoliday.error.kind }}" }],
      next: { default: "mainQueue" },
    },
    noteTimeout: {
      type: "set-variable",
      assignments: [{ variable: "errorKind", value: "{{ checkHoliday.error.kind }}" }],
      next: { default: "mainQueue" },
    },
    mainQueue: { type: "queue-contact", queue: "Main", next: { default: "end" } },
    end: { type: "end-flow" },
  },
};

let agent: MockAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

async function run(setUp: (agent: MockAgent) => void): Promise<RunResult> {
  agent = new MockAgent();
  agent.disableNetConnect();
  setUp(agent);
  const engine = createEngine({ dispatcher: agent });
  try {
    return await engine
      .compile(flow)
      .run({ contact: { ani: "+15552220009" }, handlers: scriptedHandlers([]) });
  } finally {
    await engine.close();
  }
}

const today = { path: "/api/v1/today?country=DE", method: "GET" };

describe("error kinds replay files cannot produce", () => {
  it("timeout: an answer later than timeoutMs takes the timeout outcome", async () => {
    const result = await run((mock) => {
      mock.get("https://holidays.example.com").intercept(today).reply(200, { holiday: true }).delay(1_000);
    });
    expect(result.path).toEqual(["checkHoliday", "noteTimeout", "mainQueue", "end"]);
    expect(result.variables.errorKind).toBe("timeout");
    expect(result.variables.isHoliday).toBe(false);
  });

  it("network: a connection error takes the error outcome with kind network", async () => {
    const result = await run((mock) => {
      const error = Object.assign(new Error("connect ECONNREFUSED 203.0.113.7:443"), {
        code: "ECONNREFUSED",
      });
      mock.get("https://holidays.example.com").intercept(today).replyWithError(error);
    });
    expect(result.path).toEqual(["checkHoliday", "noteError", "mainQueue", "end"]);
    expect(result.variables.errorKind).toBe("network");
  });

  it("the same flow succeeds when the answer is on time (the two failures come from the mock)", async () => {
    const result = await run((mock) => {
      mock.get("https://holidays.example.com").intercept(today).reply(200, { holiday: true });
    });
    expect(result.path).toEqual(["checkHoliday", "mainQueue", "end"]);
    expect(result.variables).toMatchObject({ errorKind: null, isHoliday: true });
  });
});
