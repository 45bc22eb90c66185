// The own JSON path evaluator against jsonpath-plus (which the engine used before, kept as a dev dependency): every
// path the fixtures, docs and tests use, and the rest of the syntax, selects exactly what it selected before.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { JSONPath } from "jsonpath-plus";
import { describe, expect, it } from "vitest";
import { compileJsonPath } from "../../src/core/json-paths.js";

const document = {
  items: [
    { v: 1, n: "a", owner: { name: "VIP" }, id: 1, tags: ["x"] },
    { v: 3, n: "bb", id: 2 },
    { v: 5, n: "c", owner: null, id: "3" },
    7,
    null,
  ],
  errors: [{ code: "TOKEN_EXPIRED" }, { code: "OTHER" }],
  error: ["expired", "x"],
  a: { b: { a: 1 }, c: [1, 2, { a: 2 }] },
  "x y": 1,
  accounts: [{ id: "A1", balance: 12.5, vip: true }],
  empty: {},
};

const root = path.resolve(import.meta.dirname, "../..");

/** Every pathExpression and tokenExpiredWhen written in the fixtures and docs. */
function writtenPaths(): string[] {
  const found = new Set<string>();
  const files = [
    ...readdirSync(path.join(root, "fixtures"), { recursive: true }).map((f) =>
      path.join(root, "fixtures", String(f)),
    ),
    ...readdirSync(path.join(root, "docs")).map((f) => path.join(root, "docs", f)),
    path.join(root, "README.md"),
  ].filter((file) => /\.(json|md)$/.test(file));
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/"(?:pathExpression|tokenExpiredWhen)":\s*"([^"]+)"/g))
      found.add(match[1]!);
  }
  return [...found];
}

const syntax = [
  "$",
  "$..*",
  "$..a",
  "$.*",
  "$[?(@.a)]",
  "$.items[?(@.v > 2)].n",
  "$.items[?(@.v >= 3 && @.n.length == 1)].id",
  "$.items[?(@.v < 2 || @.id == 3)].id",
  "$.items[?(!@.owner)].id",
  "$.items[?(@.owner.name == 'VIP')].id",
  '$.items[?(@.owner.name === "VIP")].n',
  "$.items[?(@.tags[0] == 'x')].id",
  "$.items[?(@['n'] != 'a')].id",
  "$.errors[?(@.code === 'TOKEN_EXPIRED')]",
  "$.error[?(@ == 'expired')]",
  "$.items[*].id",
  "$.items[0:2]",
  "$.items[1:]",
  "$.items[-1:]",
  "$.items[0,1].n",
  "$['x y']",
  "$.a..a",
  "$..[0]",
  "$..c[*]",
  "$.accounts[0].id",
  "$.accounts[*].balance",
  "$.items[9]",
  "$.missing.deeper",
  "$.empty.*",
];

function before(pathExpression: string): unknown[] {
  return JSONPath({ path: pathExpression, json: document, wrap: true, eval: "safe", ignoreEvalErrors: true });
}

describe("compileJsonPath", () => {
  it("finds the paths the fixtures and docs write", () => {
    expect(writtenPaths().length).toBeGreaterThan(20);
  });

  for (const pathExpression of [...new Set([...writtenPaths(), ...syntax])]) {
    it(`selects what jsonpath-plus selected: ${pathExpression}`, () => {
      const compiled = compileJsonPath(pathExpression);
      const expected = before(pathExpression);
      const actual = compiled.select(document);
      expect(actual).toEqual(compiled.definite ? expected.slice(0, 1) : expected);
    });
  }

  it("knows definite paths from indefinite ones", () => {
    expect(compileJsonPath("$.accounts[0].id").definite).toBe(true);
    expect(compileJsonPath("$['x y']").definite).toBe(true);
    expect(compileJsonPath("$.items[-1]").definite).toBe(false);
    expect(compileJsonPath("$..id").definite).toBe(false);
    expect(compileJsonPath("$.items[?(@.v)]").definite).toBe(false);
  });

  // Where jsonpath-plus differed from the other implementations, the standard (RFC 9535) meaning is kept.
  it("counts a negative index from the end, reverses with a negative step, selects several quoted names", () => {
    expect(compileJsonPath("$.items[-2]").select(document)).toEqual([7]);
    expect(compileJsonPath("$.items[::-2]").select(document)).toEqual([
      null,
      document.items[2],
      document.items[0],
    ]);
    expect(compileJsonPath("$.a['b','c']").select(document)).toEqual([document.a.b, document.a.c]);
  });

  it("reads own properties only: a filter never reaches a prototype", () => {
    expect(compileJsonPath("$.items[?(@.constructor)]").select(document)).toEqual([]);
    expect(compileJsonPath("$.items[?(@.n.constructor)]").select(document)).toEqual([]);
  });

  it.each([
    ["accounts[0]", 'must start with "$"'],
    ["$.a[", "unclosed bracket"],
    ["$.a]", 'unexpected "]"'],
    ["$.a['b]", "unterminated quoted name"],
    ["$.a[?(@.b =~ /x/)]", "regular expressions are not allowed"],
    ["$.a[?(@.b.toString())]", "method and function calls are not allowed"],
    ["$.a[?(@.b + 1 > 2)]", 'operator "+" is not allowed'],
    ["$.a[?(x == 1)]", 'unknown name "x"'],
    ["$.a[?(@.b ? 1 : 2)]", "a conditional"],
    ["$.a[(@.length-1)]", "script expressions"],
    ["$.a[1:2:0]", "step must not be 0"],
  ])("refuses %s with a clear message", (pathExpression, message) => {
    expect(() => compileJsonPath(pathExpression)).toThrow(message);
  });
});
