// Hosts that build flows in code get them typed: FlowDefinition is the flow schema's input, per activity type.
import { describe, expect, it } from "vitest";
import { createEngine, type FlowDefinition } from "../../src/index.js";

describe("FlowDefinition", () => {
  it("types a flow built in code, which the engine compiles and runs", async () => {
    const flow: FlowDefinition = {
      name: "typed",
      variables: { greeting: { type: "string" } },
      start: "set",
      activities: {
        set: {
          type: "set-variable",
          assignments: [{ variable: "greeting", value: "hi" }],
          next: { default: "end" },
        },
        end: { type: "end-flow" },
      },
    };
    const wrong: FlowDefinition = {
      name: "wrong",
      start: "a",
      // @ts-expect-error set-variable has no `value` field: its assignments hold the values
      activities: { a: { type: "set-variable", value: "x" } },
    };
    const engine = createEngine();
    const result = await engine.compile(flow).run();
    expect(result.variables.greeting).toBe("hi");
    expect(() => engine.compile(wrong)).toThrow(/activities\.a/);
    await engine.close();
  });
});
