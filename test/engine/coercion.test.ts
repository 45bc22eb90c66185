import { describe, expect, it } from "vitest";
import { CoercionError, coerce, type VariableType } from "../../src/engine/variables.js";

type Row = [VariableType, unknown, unknown];

const accepted: Row[] = [
  ["string", "abc", "abc"],
  ["string", 42, "42"],
  ["string", 2.5, "2.5"],
  ["string", true, "true"],
  ["string", { a: 1 }, '{"a":1}'],
  ["string", [1, 2], "[1,2]"],
  ["integer", 42, 42],
  ["integer", "42", 42],
  ["integer", " -7 ", -7],
  ["integer", "+3", 3],
  ["decimal", 2.5, 2.5],
  ["decimal", "3.25", 3.25],
  ["decimal", "1e3", 1000],
  ["decimal", 7, 7],
  ["decimal", "-.5", -0.5],
  ["boolean", true, true],
  ["boolean", "true", true],
  ["boolean", "FALSE", false],
  ["boolean", 1, true],
  ["boolean", 0, false],
  ["datetime", "2026-11-21", "2026-11-21"],
  ["datetime", "2026-11-21T10:00:00Z", "2026-11-21T10:00:00Z"],
  ["datetime", "2026-11-21T10:00:00.123+01:00", "2026-11-21T10:00:00.123+01:00"],
  ["datetime", new Date("2026-01-02T03:04:05Z"), "2026-01-02T03:04:05.000Z"],
  ["json", { a: [1, { b: null }] }, { a: [1, { b: null }] }],
  ["json", "text", "text"],
  ["json", 3, 3],
  ["json", false, false],
];

const refused: [VariableType, unknown][] = [
  ["integer", 4.2],
  ["integer", "4.2"],
  ["integer", "forty"],
  ["integer", true],
  ["integer", { n: 1 }],
  ["integer", 2 ** 60],
  ["decimal", "abc"],
  ["decimal", Number.NaN],
  ["decimal", Number.POSITIVE_INFINITY],
  ["decimal", false],
  ["decimal", [1]],
  ["boolean", "yes"],
  ["boolean", 2],
  ["boolean", {}],
  ["datetime", "yesterday"],
  ["datetime", "2026-11-21T10:00:00"],
  ["datetime", "2026-13-45"],
  ["datetime", 1700000000000],
  ["json", Number.NaN],
];

describe("coercion to declared types", () => {
  it.each(accepted)("%s accepts %j", (type, input, expected) => {
    expect(coerce(input, type, "v", "test")).toEqual(expected);
  });

  it.each(refused)("%s refuses %j", (type, input) => {
    expect(() => coerce(input, type, "v", "test")).toThrow(CoercionError);
  });

  it.each(["string", "integer", "decimal", "boolean", "datetime", "json"] as VariableType[])(
    "%s turns null and undefined into null",
    (type) => {
      expect(coerce(null, type, "v", "test")).toBeNull();
      expect(coerce(undefined, type, "v", "test")).toBeNull();
    },
  );

  it("names the variable, the value's type and the source", () => {
    try {
      coerce(true, "integer", "count", 'set-variable "bump" assignment 0');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(CoercionError);
      const message = (error as CoercionError).message;
      expect(message).toContain('variable "count"');
      expect(message).toContain("boolean true");
      expect(message).toContain("of type integer");
      expect(message).toContain('set-variable "bump" assignment 0');
      expect((error as CoercionError).code).toBe("coercion-failed");
    }
  });
});
