import { describe, expect, it } from "vitest";
import { type Problem, ValidationError } from "../../src/core/errors.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { end, flow } from "../helpers/flows.js";

function problemsOf(document: unknown): Problem[] {
  const engine = createEngine();
  try {
    engine.compile(document);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return [...(error as ValidationError).problems];
  }
  throw new Error("flow compiled but was expected to be invalid");
}

const str = { type: "string" };

const cases: { name: string; document: unknown; path: string; message: RegExp }[] = [
  { name: "not an object", document: [], path: "$", message: /expected object/i },
  {
    name: "missing name",
    document: { start: "e", activities: { e: end } },
    path: "$.name",
    message: /expected string/i,
  },
  {
    name: "missing start",
    document: { name: "x", activities: { e: end } },
    path: "$.start",
    message: /expected string/i,
  },
  {
    name: "start names a missing activity",
    document: flow({ e: end }, { start: "nowhere" }),
    path: "$.start",
    message: /start activity "nowhere" does not exist/,
  },
  {
    name: "onError names a missing activity",
    document: flow({ e: end }, { onError: "oops" }),
    path: "$.onError",
    message: /onError activity "oops" does not exist/,
  },
  {
    name: "unknown activity type lists the known ones",
    document: flow({ a: { type: "send-fax" } }),
    path: "$.activities.a.type",
    message:
      /unknown activity type "send-fax"; known types: (?=.*\bhttp-request\b)(?=.*\bset-variable\b)(?=.*\bend-flow\b)/,
  },
  {
    name: "next to a missing activity names both",
    document: flow({ a: { type: "play-message", prompt: "hi", next: { default: "ghost" } } }),
    path: "$.activities.a.next.default",
    message: /next of "a" \(default\) points to missing activity "ghost"/,
  },
  {
    name: "an outcome the activity does not have",
    document: flow({ a: { type: "condition", expression: "true", next: { true: "e", maybe: "e" } }, e: end }),
    path: "$.activities.a.next",
    message: /unknown field "maybe"/,
  },
  {
    name: "a case link to a missing activity",
    document: flow({
      a: { type: "case", expression: "1", cases: { "1": "ghost" }, next: { default: "e" } },
      e: end,
    }),
    path: '$.activities.a.cases["1"]',
    message: /points to missing activity "ghost"/,
  },
  {
    name: "menu link to an outcome that is not a choice",
    document: flow({ m: { type: "menu", prompt: "p", choices: ["1"], next: { "2": "e" } }, e: end }),
    path: '$.activities.m.next["2"]',
    message: /"2" is not an outcome of menu; its outcomes are 1, no-input, invalid/,
  },
  {
    name: "parse setting writes an undeclared variable",
    document: flow({
      p: {
        type: "parse",
        input: "{}",
        parseSettings: [{ outputVariable: "ghost", pathExpression: "$.a" }],
        next: { success: "e" },
      },
      e: end,
    }),
    path: "$.activities.p.parseSettings[0].outputVariable",
    message: /undeclared variable "ghost"/,
  },
  {
    name: "invalid JSON path",
    document: flow(
      {
        p: {
          type: "parse",
          input: "{}",
          parseSettings: [{ outputVariable: "v", pathExpression: "$.a[" }],
          next: { success: "e" },
        },
        e: end,
      },
      { variables: { v: str } },
    ),
    path: "$.activities.p.parseSettings[0].pathExpression",
    message: /invalid JSON path "\$\.a\[": unclosed bracket/,
  },
  {
    name: "JSON path without $",
    document: flow(
      {
        p: {
          type: "parse",
          input: "{}",
          parseSettings: [{ outputVariable: "v", pathExpression: "a.b" }],
          next: { success: "e" },
        },
        e: end,
      },
      { variables: { v: str } },
    ),
    path: "$.activities.p.parseSettings[0].pathExpression",
    message: /must start with "\$"/,
  },
  {
    name: "template syntax error",
    document: flow({
      a: { type: "play-message", prompt: "Hello {{ contact.ani ", next: { default: "e" } },
      e: end,
    }),
    path: "$.activities.a.prompt",
    message: /invalid template/,
  },
  {
    name: "unknown filter",
    document: flow({
      a: { type: "play-message", prompt: "{{ contact.ani | shout }}", next: { default: "e" } },
      e: end,
    }),
    path: "$.activities.a.prompt",
    message: /undefined filter: shout/,
  },
  {
    name: "expression syntax error",
    document: flow({
      a: { type: "condition", expression: "balance >", next: { true: "e", false: "e" } },
      e: end,
    }),
    path: "$.activities.a.expression",
    message: /invalid expression "balance >": operator ">" is missing an operand/,
  },
  {
    name: "expression with two operands and no operator",
    document: flow({
      a: { type: "condition", expression: "balance vip", next: { true: "e", false: "e" } },
      e: end,
    }),
    path: "$.activities.a.expression",
    message: /operands without an operator/,
  },
  {
    name: "assignment to an undeclared variable",
    document: flow({
      a: { type: "set-variable", assignments: [{ variable: "nope", value: 1 }], next: { default: "e" } },
      e: end,
    }),
    path: "$.activities.a.assignments[0].variable",
    message: /assigns undeclared variable "nope"/,
  },
  {
    name: "variable and activity id collide",
    document: flow({ greeting: end }, { variables: { greeting: str } }),
    path: "$.activities.greeting",
    message: /also a variable name/,
  },
  {
    name: "variable named contact",
    document: flow({ e: end }, { variables: { contact: str } }),
    path: "$.variables.contact",
    message: /cannot be a variable name/,
  },
  {
    name: "variable named __proto__",
    document: JSON.parse(
      '{"name":"x","start":"e","variables":{"__proto__":{"type":"string"}},"activities":{"e":{"type":"end-flow"}}}',
    ),
    path: "$.variables.__proto__",
    message: /cannot be a variable name/,
  },
  {
    name: "unknown variable type",
    document: flow({ e: end }, { variables: { v: { type: "money" } } }),
    path: "$.variables.v.type",
    message: /expected one of/i,
  },
  {
    name: "default that does not fit the type",
    document: flow({ e: end }, { variables: { n: { type: "integer", default: "many" } } }),
    path: "$.variables.n.default",
    message: /cannot assign string "many" to variable "n" of type integer/,
  },
  {
    name: "misspelt field",
    document: flow({ a: { type: "play-message", promt: "hi" } }),
    path: "$.activities.a",
    message: /unknown field "promt"/,
  },
  {
    name: "menu without choices",
    document: flow({ m: { type: "menu", prompt: "p", choices: [], next: {} } }),
    path: "$.activities.m.choices",
    message: /too small|at least/i,
  },
  {
    name: "terminal activity with links",
    document: flow({ e: { type: "end-flow", next: { default: "e" } } }),
    path: "$.activities.e",
    message: /unknown field "next"/,
  },
];

describe("malformed flows", () => {
  it.each(cases)("$name", ({ document, path, message }) => {
    const problems = problemsOf(document);
    const match = problems.find((problem) => problem.path === path && message.test(problem.message));
    expect(
      match,
      `problems were:\n${problems.map((p) => `${p.path}: ${p.message}`).join("\n")}`,
    ).toBeDefined();
    expect(match?.severity).toBe("error");
  });

  it("reports every problem of a flow at once, not just the first", () => {
    const problems = problemsOf(
      flow({
        a: { type: "play-message", prompt: "{{ x | nofilter }}", next: { default: "ghost" } },
        b: { type: "fax" },
      }),
    );
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(["$.activities.a.prompt", "$.activities.a.next.default", "$.activities.b.type"]),
    );
    expect(problems.filter((p) => p.severity === "error").length).toBeGreaterThanOrEqual(3);
  });

  it("warns about unreachable activities without failing", () => {
    const engine = createEngine();
    const compiled = engine.compile(flow({ a: end, orphan: end }));
    expect(compiled.warnings).toEqual([
      {
        path: "$.activities.orphan",
        message: 'activity "orphan" is unreachable from start',
        severity: "warning",
      },
    ]);
  });

  it("the ValidationError message lists each problem with its path", () => {
    try {
      createEngine().compile(flow({ a: { type: "fax" } }), { source: "broken.flow.json" });
      expect.unreachable();
    } catch (error) {
      expect((error as ValidationError).message).toMatch(
        /^broken\.flow\.json: 1 problem:\n {2}\$\.activities\.a\.type: unknown activity type "fax"/,
      );
      expect((error as ValidationError).code).toBe("invalid-flow");
    }
  });
});
