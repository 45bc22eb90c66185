import fc from "fast-check";
import { Context, Liquid, isTruthy as liquidIsTruthy, toValueSync, Value } from "liquidjs";
import { describe, expect, it } from "vitest";
import { compileTemplate, isTruthy, Scope } from "../../src/engine/expressions.js";
import { compileFastEvaluator } from "../../src/engine/fast-expressions.js";

const liquid = new Liquid({ ownPropertyOnly: true, strictFilters: true });

const expressions = [
  "a",
  "a.b",
  "a.b.c",
  "list[0]",
  "list[-1]",
  "a == b",
  "a != b",
  "a > b",
  "a < 3",
  "a >= 'x'",
  "a <= 2.5",
  "a and b",
  "a or b",
  "not a",
  "a and not b",
  "a > 1 and b < 2 or c",
  "list contains a",
  "a contains 'x'",
  "list == list",
  "a == true",
  "a.b == 'gold'",
];

const value = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -3, max: 3 }),
  fc.double({ min: -5, max: 5, noNaN: true }),
  fc.constantFrom("", "x", "gold", "ax", "1"),
  fc.array(fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constantFrom("x", "gold")), { maxLength: 3 }),
);
const scope = fc
  .record({
    a: fc.oneof(value, fc.record({ b: fc.oneof(value, fc.record({ c: value })) })),
    b: value,
    c: value,
    list: fc.array(value, { maxLength: 3 }),
  })
  // Flow data comes from JSON: plain objects, as JSON.parse makes them.
  .map((values) => JSON.parse(JSON.stringify(values)) as Record<string, unknown>);

function liquidValue(expression: string, values: Record<string, unknown>): unknown {
  return toValueSync(
    new Value(expression, liquid).value(new Context(values, liquid.options, { sync: true }), false),
  );
}

describe("fast expression evaluator", () => {
  it.each(expressions)("%s gives what Liquid gives, for any JSON scope", (expression) => {
    const fast = compileFastEvaluator(new Value(expression, liquid));
    expect(fast, "expected a fast path").toBeDefined();
    fc.assert(
      fc.property(scope, (values) => {
        expect(fast!(values)).toEqual(liquidValue(expression, values));
      }),
      { numRuns: 300 },
    );
  });

  it.each(["a.size", "a | upcase", "(1..3)", "a == nil", "a == empty", "list[a]", "a.first"])(
    "%s is left to Liquid",
    (expression) => {
      const parsed = new Value(expression, liquid);
      const fast = compileFastEvaluator(parsed);
      if (expression.includes("|")) {
        // Filters are applied by Liquid after the fast part; the fast part itself is a plain variable.
        expect(fast?.({ a: "x" })).toBe("x");
      } else {
        expect(fast).toBeUndefined();
      }
    },
  );
});

describe("direct template rendering", () => {
  const templates = [
    "Hello {{ a }}",
    "{{ a }}-{{ b }}",
    "{{ a.b }} and {{ list }}",
    "{{ a | upcase }} / {{ b | plus: 1 }}",
    "{{ list | join: ',' }}",
    "plain {{ c }} text",
  ];
  it.each(templates)("%s renders as Liquid renders it", (source) => {
    const compiled = compileTemplate(source);
    fc.assert(
      fc.property(scope, (values) => {
        const runScope = new Scope();
        Object.assign(runScope.values, values);
        let expected: string | Error;
        try {
          expected = liquid.parseAndRenderSync(source, values);
        } catch (error) {
          expected = error as Error;
        }
        if (expected instanceof Error) expect(() => compiled.render(runScope)).toThrow();
        else expect(compiled.render(runScope)).toBe(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe("condition truthiness", () => {
  it.each([
    [null, false],
    [undefined, false],
    [false, false],
    [0, true],
    ["", true],
    [[], true],
    [{}, true],
  ])("%j is %s as Liquid says", (value, expected) => {
    const runScope = new Scope();
    expect(isTruthy(value, runScope)).toBe(expected);
    expect(liquidIsTruthy(value, new Context({}, liquid.options, { sync: true }))).toBe(expected);
  });

  it("Liquid's empty drop is judged by Liquid", () => {
    const empty = new Value("empty", liquid);
    const runScope = new Scope();
    const value = toValueSync(empty.value(runScope.context, false));
    expect(isTruthy(value, runScope)).toBe(liquidIsTruthy(value, runScope.context));
  });
});
