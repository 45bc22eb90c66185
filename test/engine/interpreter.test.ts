import { describe, expect, it } from "vitest";
import { FlowrunError } from "../../src/core/errors.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { end, flow, runFlow } from "../helpers/flows.js";

const loop = flow(
  {
    bump: {
      type: "set-variable",
      assignments: [{ variable: "n", value: "{{ n | plus: 1 }}" }],
      next: { default: "check" },
    },
    check: { type: "condition", expression: "n < 0", next: { true: "done", false: "bump" } },
    done: end,
  },
  { variables: { n: { type: "integer", default: 0 } } },
);

describe("interpreter", () => {
  it("ends an endless loop with step-limit after maxSteps activities", async () => {
    const result = await runFlow(loop, {}, { maxSteps: 50 });
    expect(result).toMatchObject({ status: "failed", reason: "step-limit" });
    expect(result.path).toHaveLength(50);
    expect(result.variables.n).toBe(25);
    expect(result.error?.message).toContain("50 activities");
  });

  it("uses a step limit of 1000 by default", async () => {
    const result = await runFlow(loop);
    expect(result.reason).toBe("step-limit");
    expect(result.path).toHaveLength(1000);
  });

  it("an unlinked error outcome without onError fails with unhandled-outcome (compile only warns)", async () => {
    const unlinked = flow({
      m: { type: "menu", prompt: "p", choices: ["1"], next: { "1": "e", invalid: "e" } },
      e: end,
    });
    const compiled = createEngine().compile(unlinked);
    expect(compiled.warnings.map((w) => `${w.severity} ${w.path}: ${w.message}`)).toEqual([
      'warning $.activities.m.next: outcome "no-input" of "m" (menu) has no link and the flow has no onError: a run that takes it fails unhandled-outcome',
    ]);
    const result = await runFlow(unlinked, { handlers: { menu: async () => null } });
    expect(result).toMatchObject({ status: "failed", reason: "unhandled-outcome", endedAt: "m" });
    expect(result.error?.message).toMatch(/^outcome "no-input" of activity "m" has no link/);
  });

  it("an unlinked ordinary outcome is refused at compile, onError or not: onError never catches it", () => {
    for (const options of [{}, { onError: "sorry" }]) {
      const unlinked = flow(
        { c: { type: "condition", expression: "true", next: { false: "e" } }, e: end, sorry: end },
        options,
      );
      expect(() => createEngine().compile(unlinked)).toThrow(
        '$.activities.c.next: outcome "true" of "c" (condition) has no link: a run that takes it fails unhandled-outcome; add it to next',
      );
    }
  });

  it("an aborted signal ends the run aborted while a handler is waiting", async () => {
    const controller = new AbortController();
    const result = runFlow(
      flow({
        m: { type: "menu", prompt: "p", choices: ["1"], next: { "1": "e", "no-input": "e" } },
        e: end,
      }),
      {
        signal: controller.signal,
        handlers: { menu: () => new Promise<string>(() => {}) }, // a caller who never answers
      },
    );
    setTimeout(() => controller.abort(), 10);
    const settled = await result;
    expect(settled).toMatchObject({ status: "aborted", reason: "aborted", endedAt: "m" });
    expect(settled.error?.kind).toBe("aborted");
  });

  it("a signal aborted before the start runs nothing", async () => {
    const result = await runFlow(flow({ e: end }), { signal: AbortSignal.abort() });
    expect(result).toMatchObject({ status: "aborted", reason: "aborted", path: [] });
  });

  it("the run deadline ends the run aborted with reason deadline", async () => {
    const result = await runFlow(
      flow({ m: { type: "play-message", prompt: "p", next: { default: "e" } }, e: end }),
      { deadlineMs: 20, handlers: { playMessage: () => new Promise<void>(() => {}) } },
    );
    expect(result).toMatchObject({ status: "aborted", reason: "deadline", endedAt: "m" });
    expect(result.error?.message).toContain("20 ms");
  });

  it("run inputs are converted; undeclared or unconvertible inputs reject", async () => {
    const engine = createEngine();
    const compiled = engine.compile(flow({ e: end }, { variables: { n: { type: "integer" } } }));
    await expect(compiled.run({ variables: { n: "7" } })).resolves.toMatchObject({ variables: { n: 7 } });
    await expect(compiled.run({ variables: { other: 1 } })).rejects.toThrow(/undeclared variable "other"/);
    await expect(compiled.run({ variables: { n: "seven" } })).rejects.toBeInstanceOf(FlowrunError);
  });

  it("activity outputs are readable by later templates under the activity id", async () => {
    const result = await runFlow(
      flow(
        {
          m: { type: "menu", prompt: "p", choices: ["1", "2"], next: { "1": "s", "2": "s" } },
          s: {
            type: "set-variable",
            assignments: [{ variable: "picked", value: "you chose {{ m.input }}" }],
            next: { default: "e" },
          },
          e: end,
        },
        { variables: { picked: { type: "string" } } },
      ),
      { handlers: { menu: () => "2" } },
    );
    expect(result.variables.picked).toBe("you chose 2");
  });

  it("runs of one compiled flow are independent, also while they interleave", async () => {
    const engine = createEngine();
    const compiled = engine.compile(
      flow(
        {
          s: {
            type: "set-variable",
            assignments: [{ variable: "who", value: "{{ contact.ani }}" }],
            next: { default: "m" },
          },
          m: {
            type: "menu",
            prompt: "hello {{ who }}",
            choices: ["1", "2", "3"],
            next: { "1": "t", "2": "t", "3": "t" },
          },
          t: {
            type: "set-variable",
            assignments: [{ variable: "after", value: "{{ who }}/{{ m.input }}" }],
            next: { default: "e" },
          },
          e: end,
        },
        { variables: { who: { type: "string" }, after: { type: "string" } } },
      ),
    );
    // Every run waits in its menu until all three have reached it, so each run's later activities execute after
    // the other runs have written their own values: state shared between runs would show in every result.
    const anis = ["1", "2", "3"];
    const arrived: (() => void)[] = [];
    const menu = (action: { prompt: string }) =>
      new Promise<string>((resolve) => {
        arrived.push(() => resolve(action.prompt.slice("hello ".length)));
        if (arrived.length === anis.length) for (const release of arrived) release();
      });
    const results = await Promise.all(
      anis.map((ani) => compiled.run({ contact: { ani }, handlers: { menu } })),
    );
    await engine.close();
    expect(arrived).toHaveLength(3);
    expect(results.map((r) => r.status)).toEqual(["completed", "completed", "completed"]);
    expect(results.map((r) => r.variables)).toEqual([
      { who: "1", after: "1/1" },
      { who: "2", after: "2/2" },
      { who: "3", after: "3/3" },
    ]);
    expect(results.map((r) => r.actions.map((action) => action.type === "menu" && action.prompt))).toEqual([
      ["hello 1"],
      ["hello 2"],
      ["hello 3"],
    ]);
  });

  it("a trace entry records activity, type, outcome, start time and duration", async () => {
    const result = await runFlow(flow({ e: end }));
    expect(result.trace).toEqual([
      {
        activity: "e",
        type: "end-flow",
        outcome: null,
        startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        durationMs: expect.any(Number),
      },
    ]);
  });
});
