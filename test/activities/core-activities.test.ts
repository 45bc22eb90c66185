import { describe, expect, it } from "vitest";
import { scriptedHandlers } from "../../src/engine/host.js";
import { end, flow, runFlow } from "../helpers/flows.js";

describe("set-variable", () => {
  it("assigns converted values; a single {{ expr }} keeps its type, other templates render text", async () => {
    const result = await runFlow(
      flow(
        {
          a: {
            type: "set-variable",
            assignments: [
              { variable: "count", value: "{{ contact.digits }}" },
              { variable: "label", value: "caller {{ contact.ani }}" },
              { variable: "data", value: { nested: [1, 2] } },
              { variable: "ratio", value: "{{ count | times: 1.5 }}" },
            ],
            next: { default: "e" },
          },
          e: end,
        },
        {
          variables: {
            count: { type: "integer" },
            label: { type: "string" },
            data: { type: "json" },
            ratio: { type: "decimal" },
          },
        },
      ),
      { contact: { ani: "+15550001", digits: "12" } },
    );
    expect(result.status).toBe("completed");
    // All values of one activity are evaluated against the scope as it was before it (parallel assignment):
    // `ratio` saw `count` still unset (nil -> 0).
    expect(result.variables).toEqual({
      count: 12,
      label: "caller +15550001",
      data: { nested: [1, 2] },
      ratio: 0,
    });
    expect(result.trace[0]).toMatchObject({
      outcome: "default",
      assignments: { count: 12, label: "caller +15550001" },
    });
  });

  it("assigns all or nothing: a conversion failure leaves earlier assignments undone and goes to onError", async () => {
    const result = await runFlow(
      flow(
        {
          a: {
            type: "set-variable",
            assignments: [
              { variable: "name", value: "changed" },
              { variable: "count", value: "{{ contact.ani }}" },
            ],
            next: { default: "e" },
          },
          e: end,
          sorry: { type: "play-message", prompt: "sorry", next: { default: "e" } },
        },
        {
          variables: { name: { type: "string", default: "original" }, count: { type: "integer" } },
          onError: "sorry",
        },
      ),
      { contact: { ani: "not a number" } },
    );
    expect(result.path).toEqual(["a", "sorry", "e"]);
    expect(result.variables.name).toBe("original");
    expect(result.trace[0]?.error?.kind).toBe("coercion-failed");
    expect(result.trace[0]?.error?.message).toContain(
      'variable "count" of type integer (from a assignment 1)',
    );
  });

  it("without onError a conversion failure fails the run and says why", async () => {
    const result = await runFlow(
      flow(
        {
          a: { type: "set-variable", assignments: [{ variable: "n", value: "abc" }], next: { default: "e" } },
          e: end,
        },
        { variables: { n: { type: "integer" } } },
      ),
    );
    expect(result).toMatchObject({ status: "failed", reason: "unhandled-outcome", endedAt: "a" });
    expect(result.error).toMatchObject({ activity: "a", kind: "coercion-failed" });
    expect(result.error?.message).toContain('cannot assign string "abc" to variable "n"');
  });
});

describe("condition", () => {
  const conditionFlow = flow(
    {
      c: { type: "condition", expression: "balance > 100 and isVip", next: { true: "yes", false: "no" } },
      yes: { type: "queue-contact", queue: "VIP", next: { default: "e" } },
      no: { type: "queue-contact", queue: "Main", next: { default: "e" } },
      e: end,
    },
    { variables: { balance: { type: "decimal", default: 0 }, isVip: { type: "boolean", default: false } } },
  );

  it("takes true", async () => {
    const result = await runFlow(conditionFlow, { variables: { balance: "250.5", isVip: true } });
    expect(result.path).toEqual(["c", "yes", "e"]);
    expect(result.actions).toEqual([{ type: "queue-contact", queue: "VIP", activity: "yes" }]);
  });

  it("takes false", async () => {
    const result = await runFlow(conditionFlow, { variables: { balance: 250, isVip: false } });
    expect(result.path).toEqual(["c", "no", "e"]);
  });

  it("uses Liquid truthiness: 0 and empty text are true, nil is false", async () => {
    const doc = (expression: string) =>
      flow({ c: { type: "condition", expression, next: { true: "t", false: "f" } }, t: end, f: end });
    expect((await runFlow(doc("0"))).path).toEqual(["c", "t"]);
    expect((await runFlow(doc("''"))).path).toEqual(["c", "t"]);
    expect((await runFlow(doc("contact.missing"))).path).toEqual(["c", "f"]);
  });

  it("cannot reach prototype properties", async () => {
    const result = await runFlow(
      flow({
        c: { type: "condition", expression: "contact.constructor", next: { true: "t", false: "f" } },
        t: end,
        f: end,
      }),
      { contact: { ani: "1" } },
    );
    expect(result.path).toEqual(["c", "f"]);
  });
});

describe("case", () => {
  const caseFlow = flow(
    {
      c: {
        type: "case",
        expression: "language",
        cases: { en: "english", de: "german" },
        next: { default: "other" },
      },
      english: end,
      german: end,
      other: end,
    },
    { variables: { language: { type: "string" } } },
  );
  it.each([
    ["en", "english"],
    ["de", "german"],
    ["fr", "other"],
  ])("value %s takes %s", async (language, target) => {
    const result = await runFlow(caseFlow, { variables: { language } });
    expect(result.path).toEqual(["c", target]);
    expect(result.trace[0]?.outcome).toBe(language === "fr" ? "default" : language);
  });

  it("compares numbers by their text", async () => {
    const result = await runFlow(
      flow({
        c: {
          type: "case",
          expression: "contact.tier | plus: 0",
          cases: { "2": "two" },
          next: { default: "x" },
        },
        two: end,
        x: end,
      }),
      { contact: { tier: "2" } },
    );
    expect(result.path).toEqual(["c", "two"]);
  });
});

describe("parse", () => {
  const parseFlow = (input: string, settings: unknown[]) =>
    flow(
      {
        p: { type: "parse", input, parseSettings: settings, next: { success: "ok", error: "bad" } },
        ok: end,
        bad: end,
      },
      {
        variables: {
          id: { type: "string" },
          amount: { type: "decimal" },
          tags: { type: "json" },
          vip: { type: "boolean", default: false },
          count: { type: "integer" },
        },
      },
    );

  it("success: definite paths assign one value, indefinite paths an array, no match null or the default", async () => {
    const result = await runFlow(
      parseFlow("{{ contact.payload }}", [
        { outputVariable: "id", pathExpression: "$.account.id" },
        { outputVariable: "amount", pathExpression: "$.account.balance" },
        { outputVariable: "tags", pathExpression: "$.account.tags[*].name" },
        { outputVariable: "vip", pathExpression: "$.account.vip", default: true },
        { outputVariable: "count", pathExpression: "$.account.count" },
      ]),
      {
        contact: { payload: '{"account":{"id":"A-1","balance":"12.5","tags":[{"name":"x"},{"name":"y"}]}}' },
      },
    );
    expect(result.path).toEqual(["p", "ok"]);
    expect(result.variables).toEqual({ id: "A-1", amount: 12.5, tags: ["x", "y"], vip: true, count: null });
  });

  it("error: input that is not JSON", async () => {
    const result = await runFlow(parseFlow("not json", [{ outputVariable: "id", pathExpression: "$.id" }]));
    expect(result.path).toEqual(["p", "bad"]);
    expect(result.trace[0]?.error).toMatchObject({ kind: "parse" });
  });

  it("error: a required path that matches nothing, and nothing is assigned", async () => {
    const result = await runFlow(
      parseFlow('{"id":"A-2"}', [
        { outputVariable: "id", pathExpression: "$.id" },
        { outputVariable: "amount", pathExpression: "$.balance", required: true },
      ]),
    );
    expect(result.path).toEqual(["p", "bad"]);
    expect(result.variables.id).toBeNull();
    expect(result.trace[0]?.error?.message).toContain("required path $.balance matched nothing");
  });

  it("error: a value that does not convert", async () => {
    const result = await runFlow(
      parseFlow('{"n":"lots"}', [{ outputVariable: "count", pathExpression: "$.n" }]),
    );
    expect(result.path).toEqual(["p", "bad"]);
    expect(result.trace[0]?.error?.message).toContain(
      'variable "count" of type integer (from p parse setting 0 ($.n))',
    );
  });

  it("filters and recursive descent are indefinite", async () => {
    const result = await runFlow(
      parseFlow('{"items":[{"v":1,"n":"a"},{"v":5,"n":"b"}],"deep":{"n":"c"}}', [
        { outputVariable: "tags", pathExpression: "$.items[?(@.v > 2)].n" },
      ]),
    );
    expect(result.variables.tags).toEqual(["b"]);
  });
});

describe("call effects", () => {
  it("play-message renders its prompt and calls the handler", async () => {
    const heard: string[] = [];
    const result = await runFlow(
      flow({ m: { type: "play-message", prompt: "Hi {{ contact.ani }}", next: { default: "e" } }, e: end }),
      { contact: { ani: "+1555" }, handlers: { playMessage: (action) => void heard.push(action.prompt) } },
    );
    expect(heard).toEqual(["Hi +1555"]);
    expect(result.actions).toEqual([{ type: "play-message", activity: "m", prompt: "Hi +1555" }]);
  });

  const menuFlow = flow({
    m: {
      type: "menu",
      prompt: "Press 1 or 2",
      choices: ["1", "2"],
      next: { "1": "one", "2": "two", "no-input": "none", invalid: "wrong" },
    },
    one: end,
    two: end,
    none: end,
    wrong: end,
  });
  it.each([
    [["1"], "one", "1"],
    [["2"], "two", "2"],
    [[], "none", null],
    [["9"], "wrong", "9"],
  ] as const)("menu with input %j takes %s", async (inputs, target, input) => {
    const result = await runFlow(menuFlow, { handlers: scriptedHandlers([...inputs]) });
    expect(result.path).toEqual(["m", target]);
    expect(result.actions[0]).toEqual({
      type: "menu",
      activity: "m",
      prompt: "Press 1 or 2",
      choices: ["1", "2"],
      input,
    });
  });

  it("an unlinked no-input goes to onError", async () => {
    const result = await runFlow(
      flow(
        { m: { type: "menu", prompt: "p", choices: ["1"], next: { "1": "e" } }, e: end, sorry: end },
        { onError: "sorry" },
      ),
    );
    expect(result.path).toEqual(["m", "sorry"]);
  });

  it("queue-contact: default when the host queues, error when it throws", async () => {
    const doc = flow({
      q: { type: "queue-contact", queue: "Q-{{ contact.lang }}", next: { default: "e", error: "x" } },
      e: end,
      x: end,
    });
    const ok = await runFlow(doc, { contact: { lang: "en" } });
    expect(ok.path).toEqual(["q", "e"]);
    expect(ok.actions).toEqual([{ type: "queue-contact", queue: "Q-en", activity: "q" }]);
    const failed = await runFlow(doc, {
      contact: { lang: "en" },
      handlers: {
        queueContact: () => {
          throw new Error("queue Q-en is closed");
        },
      },
    });
    expect(failed.path).toEqual(["q", "x"]);
    expect(failed.actions).toEqual([]);
    expect(failed.trace[0]?.error).toEqual({ kind: "queue", message: "queue Q-en is closed" });
  });

  it("blind-transfer ends the run completed", async () => {
    const transferred: string[] = [];
    const result = await runFlow(
      flow({ t: { type: "blind-transfer", destination: "+1800{{ contact.ext }}" } }),
      {
        contact: { ext: "555" },
        handlers: { blindTransfer: (action) => void transferred.push(action.destination) },
      },
    );
    expect(result).toMatchObject({ status: "completed", endedAt: "t", reason: null });
    expect(transferred).toEqual(["+1800555"]);
    expect(result.actions).toEqual([{ type: "blind-transfer", destination: "+1800555", activity: "t" }]);
  });

  it("disconnect-contact ends the run completed and records the hang-up", async () => {
    const result = await runFlow(flow({ d: { type: "disconnect-contact" } }));
    expect(result).toMatchObject({
      status: "completed",
      endedAt: "d",
      actions: [{ type: "disconnect-contact", activity: "d" }],
    });
  });

  it("end-flow ends the run completed without an action", async () => {
    const result = await runFlow(flow({ e: end }));
    expect(result).toMatchObject({ status: "completed", endedAt: "e", path: ["e"], actions: [] });
  });
});
