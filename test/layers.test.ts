import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error: a plain ESM script without types
import { checkSources } from "../scripts/check-layers.mjs";

const check = checkSources as (srcDir: string) => string[];
let dir: string | undefined;

function tree(files: Record<string, string>): string {
  dir = mkdtempSync(path.join(tmpdir(), "flowrun-layers-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("layering check", () => {
  it("passes on the real src/", () => {
    expect(check(path.resolve("src"))).toEqual([]);
  });

  it("accepts downward imports and imports inside a folder", () => {
    const src = tree({
      "core/a.ts": "export const a = 1;\n",
      "engine/b.ts":
        'import { a } from "../core/a.js";\nimport { c } from "./c.js";\nexport const b = a + c;\n',
      "engine/c.ts": "export const c = 2;\n",
      "cli/d.ts": 'import { b } from "../engine/b.js";\nexport const d = b;\n',
    });
    expect(check(src)).toEqual([]);
  });

  it("reports an upward import, a peer import and a dynamic upward import", () => {
    const src = tree({
      "core/a.ts": 'import { b } from "../engine/b.js";\nexport const a = b;\n',
      "engine/b.ts": 'import type { H } from "../http/h.js";\nexport const b = 1;\nexport type X = H;\n',
      "http/h.ts": 'export type H = string;\nexport const load = () => import("../cli/x.js");\n',
      "cli/x.ts": "export {};\n",
    });
    const violations = check(src);
    expect(violations).toHaveLength(3);
    expect(violations.join("\n")).toMatch(/src\/core\/ \(level 0\) imports src\/engine\//);
    expect(violations.join("\n")).toMatch(/src\/engine\/ \(level 1\) imports src\/http\/ \(level 1\)/);
    expect(violations.join("\n")).toMatch(/src\/http\/ \(level 1\) imports src\/cli\//);
  });

  it("reports a folder without a level and a function over 100 lines", () => {
    const body = Array.from({ length: 100 }, (_, i) => `  const v${i} = ${i};`).join("\n");
    const src = tree({ "misc/long.ts": `export function tooLong() {\n${body}\n  return 0;\n}\n` });
    const violations = check(src).join("\n");
    expect(violations).toMatch(/src\/misc\/ has no level/);
    expect(violations).toMatch(/function tooLong has 103 lines/);
  });

  it("reports HTTP sent anywhere but the one sender; building dispatchers and types are fine", () => {
    const src = tree({
      "http/sender.ts":
        'import { request } from "undici";\nexport const send = (d: { dispatch(o: unknown, h: unknown): void }) => d.dispatch({}, {});\nexport { request };\n',
      "http/agents.ts":
        'import { Agent, type Dispatcher, errors } from "undici";\nexport const a: Dispatcher = new Agent();\nexport { errors };\n',
      "connectors/check.ts":
        'import { request } from "undici";\nexport const check = () => request("https://x.example");\n',
      "connectors/aliased.ts": 'import { fetch as get } from "undici";\nexport const g = get;\n',
      "connectors/whole.ts": 'import * as undici from "undici";\nexport const u = undici;\n',
      "connectors/node.ts": 'import https from "node:https";\nexport const h = https;\n',
      "activities/raw.ts":
        'export const go = (d: { dispatch(o: unknown, h: unknown): void }) => { d.dispatch({}, {}); return fetch("https://x.example"); };\n',
      "replay/types.ts": 'import type { request } from "undici";\nexport type R = typeof request;\n',
    });
    const violations = check(src);
    const text = violations.join("\n");
    expect(text).toMatch(/connectors\/check\.ts:1: sends HTTP itself \(request from undici\)/);
    expect(text).toMatch(/connectors\/aliased\.ts:1: sends HTTP itself \(fetch from undici\)/);
    expect(text).toMatch(/connectors\/whole\.ts:1: sends HTTP itself \(a namespace import of undici\)/);
    expect(text).toMatch(/connectors\/node\.ts:1: sends HTTP itself \(a default import of node:https\)/);
    expect(text).toMatch(/activities\/raw\.ts:1: sends HTTP itself \(a dispatcher's \.dispatch\(\)\)/);
    expect(text).toMatch(/activities\/raw\.ts:1: sends HTTP itself \(fetch\(\)\)/);
    expect(violations).toHaveLength(6);
  });

  it("reports a connector type decided outside src/connectors/types/: case, comparison, object keyed by type", () => {
    const descriptor = (type: string) =>
      `import { defineConnectorType } from "./descriptor.js";\nexport const d = defineConnectorType({ type: "${type}" });\n`;
    const src = tree({
      "connectors/types/descriptor.ts": "export const defineConnectorType = <T>(d: T) => d;\n",
      "connectors/types/genesys.ts": descriptor("genesys"),
      "connectors/types/api-key.ts": descriptor("api-key"),
      "connectors/types/inside.ts":
        'export const f = (t: string) => { switch (t) { case "genesys": return 1; } return t === "api-key" ? 2 : 0; };\n',
      "connectors/switching.ts":
        'export const f = (t: string) => { switch (t) { case "genesys": return 1; default: return 0; } };\n',
      "connectors/comparing.ts": 'export const g = (c: { type: string }) => c.type === "api-key";\n',
      "connectors/keyed.ts": 'export const LIMITS = { genesys: 1, "api-key": 10 };\n',
      "connectors/unrelated.ts":
        'export const h = (kind: string) => { switch (kind) { case "basic": return kind !== "custom"; } return { other: 1 }; };\n',
    });
    const text = check(src).join("\n");
    expect(text).toMatch(/connectors\/switching\.ts:1: decides by connector type \(case "genesys"\)/);
    expect(text).toMatch(
      /connectors\/comparing\.ts:1: decides by connector type \(a comparison with "api-key"\)/,
    );
    expect(text).toMatch(
      /connectors\/keyed\.ts:1: decides by connector type \(an object keyed by "genesys"\)/,
    );
    expect(text).toMatch(
      /connectors\/keyed\.ts:1: decides by connector type \(an object keyed by "api-key"\)/,
    );
    expect(text).not.toMatch(/inside\.ts|unrelated\.ts/);
    expect(check(src)).toHaveLength(4);
  });
});
