import { describe, expect, it } from "vitest";
import type { RunResult } from "../../src/engine/result.js";
import { checkExpectation } from "../../src/replay/expectations.js";

const result: RunResult = {
  status: "completed",
  reason: null,
  endedAt: "end",
  path: ["lookup", "route", "vipQueue", "end"],
  variables: {
    accountId: "A-17",
    isVip: true,
    balance: 250.5,
    account: { id: "A-17", tags: ["gold", "east"] },
  },
  actions: [
    { type: "play-message", prompt: "Welcome back.", activity: "greet" },
    { type: "queue-contact", queue: "VIP", activity: "vipQueue" },
  ],
  trace: [],
};

describe("expectations", () => {
  it("passes without an expectation, and with a matching one", () => {
    expect(checkExpectation(result, undefined)).toEqual([]);
    expect(
      checkExpectation(result, {
        status: "completed",
        reason: null,
        endedAt: "end",
        path: ["lookup", "route", "vipQueue", "end"],
      }),
    ).toEqual([]);
  });

  it("matches variables as a subset, objects inside them as subsets too", () => {
    expect(checkExpectation(result, { variables: { isVip: true } })).toEqual([]);
    expect(checkExpectation(result, { variables: { account: { id: "A-17" } } })).toEqual([]);
    expect(checkExpectation(result, { variables: { isVip: false } })).toEqual([
      "variable isVip: expected false, got true",
    ]);
    expect(checkExpectation(result, { variables: { tier: "gold" } })).toEqual([
      'variable tier: expected "gold", but the flow has no such variable',
    ]);
    // arrays compare whole
    expect(checkExpectation(result, { variables: { account: { tags: ["gold"] } } })).toHaveLength(1);
  });

  it("matches actions in order, each as a subset", () => {
    expect(checkExpectation(result, { actions: [{ type: "queue-contact" }] })).toEqual([]);
    expect(
      checkExpectation(result, {
        actions: [{ type: "play-message" }, { type: "queue-contact", queue: "VIP" }],
      }),
    ).toEqual([]);
    const outOfOrder = checkExpectation(result, {
      actions: [{ type: "queue-contact" }, { type: "play-message" }],
    });
    expect(outOfOrder).toHaveLength(1);
    expect(outOfOrder[0]).toMatch(/^action \{"type":"play-message"\} not found \(in order\) among \[/);
    expect(checkExpectation(result, { actions: [{ type: "queue-contact", queue: "Main" }] })[0]).toContain(
      '{"type":"queue-contact","queue":"VIP"}',
    );
  });

  it("compares the path exactly and prints both paths", () => {
    expect(checkExpectation(result, { path: ["lookup", "route", "vipQueue"] })).toEqual([
      "path: expected lookup → route → vipQueue\n          got lookup → route → vipQueue → end",
    ]);
  });

  it("names status, reason and endedAt mismatches and adds the run's error", () => {
    const halted: RunResult = {
      ...result,
      status: "halted",
      reason: "connector-inactive",
      endedAt: "lookup",
      error: { activity: "lookup", kind: "connector-inactive", message: 'connector "CRM" is inactive' },
    };
    expect(checkExpectation(halted, { status: "completed", reason: null, endedAt: "end" })).toEqual([
      'status: expected "completed", got "halted"',
      'reason: expected null, got "connector-inactive"',
      'endedAt: expected "end", got "lookup"',
      'run error: connector-inactive: connector "CRM" is inactive',
    ]);
  });
});
