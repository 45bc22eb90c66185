import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { JsonPositions } from "../../src/core/json-positions.js";
import { closestName } from "../../src/core/suggest.js";
import { cli } from "../helpers/cli.js";

const dir = mkdtempSync(path.join(tmpdir(), "flowrun-validate-"));

/** Writes a flow as an author would (one activity per line), so line numbers in the assertions are readable. */
function flowFile(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

flowFile("typos.flow.json", [
  "{",
  '  "name": "typos",',
  '  "variables": { "orderId": { "type": "string", "default": "42" } },',
  '  "start": "say",',
  '  "activities": {',
  '    "say": { "type": "play-message", "prompt": "Order {{ ordrId }} shipped", "next": { "default": "menu" } },',
  '    "menu": { "type": "menu", "prompt": "Press 1 or 2", "choices": ["1", "2"],',
  '      "next": { "1": "ende", "no-input": "end", "invalid": "end" } },',
  '    "end": { "type": "end-flow" }',
  "  }",
  "}",
]);

describe("flowrun validate catches a newcomer's mistakes, each with file:line:column", () => {
  it("an undefined template name, a mistyped link and an unlinked outcome, with what was meant", async () => {
    const run = await cli(["validate", "typos.flow.json"], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stdout.split("\n")).toEqual([
      "✗ typos.flow.json: 3 errors",
      '  error typos.flow.json:6:38 $.activities.say.prompt: "ordrId" is not a declared variable, an activity or contact: it would read as empty; did you mean "orderId"?',
      '  error typos.flow.json:8:17 $.activities.menu.next["1"]: next of "menu" (1) points to missing activity "ende"; did you mean "end"?',
      '  error typos.flow.json:8:7 $.activities.menu.next: outcome "2" of "menu" (menu) has no link: a run that takes it fails unhandled-outcome; add it to next',
      "",
    ]);
  });

  it("run shows the same problems at their file:line:column before running anything", async () => {
    const run = await cli(["run", "typos.flow.json"], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(
      'error: typos.flow.json: 3 problems:\n  typos.flow.json:6:38 $.activities.say.prompt: "ordrId" is not a declared variable',
    );
  });

  it("an undeclared name in an expression is caught too; outputs of activities and contact fields are known", async () => {
    const file = flowFile("expression.flow.json", [
      "{",
      '  "name": "expression", "start": "check",',
      '  "variables": { "isVip": { "type": "boolean", "default": false } },',
      '  "activities": {',
      '    "check": { "type": "condition", "expression": "isVIP and contact.ani", "next": { "true": "end", "false": "say" } },',
      '    "say": { "type": "play-message", "prompt": "{{ check }} {{ contact.dnis }}", "next": { "default": "end" } },',
      '    "end": { "type": "end-flow" }',
      "  }",
      "}",
    ]);
    const run = await cli(["validate", file], { cwd: dir });
    expect(run.stdout).toContain("✗ expression.flow.json: 1 error\n");
    expect(run.stdout).toContain(
      '$.activities.check.expression: "isVIP" is not a declared variable, an activity or contact: it would read as empty; did you mean "isVip"?',
    );
  });

  it("a variable read but never set (no default, no activity assigns it) is a warning, once", async () => {
    const file = flowFile("unset.flow.json", [
      "{",
      '  "name": "unset", "start": "say",',
      '  "variables": { "orderId": { "type": "string" }, "name": { "type": "string" } },',
      '  "activities": {',
      '    "say": { "type": "play-message", "prompt": "Order {{ orderId }} for {{ name }}", "next": { "default": "again" } },',
      '    "again": { "type": "play-message", "prompt": "{{ orderId }}", "next": { "default": "set" } },',
      '    "set": { "type": "set-variable", "assignments": [{ "variable": "name", "value": "Ann" }], "next": { "default": "end" } },',
      '    "end": { "type": "end-flow" }',
      "  }",
      "}",
    ]);
    const run = await cli(["validate", file], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      "✓ unset.flow.json: valid, 1 warning\n" +
        '  warning unset.flow.json:5:38 $.activities.say.prompt: variable "orderId" is read here but never set: it has no default and no activity assigns it, so it is null unless the run is given it\n',
    );
  });

  it("one unknown field is one problem: no cascade of unreachable warnings after it", async () => {
    const file = flowFile("unknown-field.flow.json", [
      "{",
      '  "name": "chain", "start": "a",',
      '  "activities": {',
      '    "a": { "type": "play-message", "prompt": "a", "nxt": "b", "next": { "default": "b" } },',
      '    "b": { "type": "play-message", "prompt": "b", "next": { "default": "c" } },',
      '    "c": { "type": "play-message", "prompt": "c", "next": { "default": "d" } },',
      '    "d": { "type": "end-flow" }',
      "  }",
      "}",
    ]);
    const run = await cli(["validate", file], { cwd: dir });
    expect(run.stdout).toBe(
      "✗ unknown-field.flow.json: 1 error\n" +
        '  error unknown-field.flow.json:4:5 $.activities.a: unknown field "nxt"\n',
    );
  });

  it("an unlinked error outcome that falls to an onError pointing back at the same activity is a warning", async () => {
    const file = flowFile("self-error.flow.json", [
      '{ "name": "self", "start": "queue", "onError": "queue", "activities": {',
      '  "queue": { "type": "queue-contact", "queue": "Main", "next": { "default": "end" } },',
      '  "end": { "type": "end-flow" } } }',
    ]);
    const run = await cli(["validate", file], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      "✓ self-error.flow.json: valid, 1 warning\n" +
        '  warning self-error.flow.json:2:56 $.activities.queue.next: outcome "error" of "queue" (queue-contact) has no link, so it goes to onError, which is "queue" itself: a failure here repeats until the step limit\n',
    );
  });

  it("the sample flows validate without errors, and without warnings except a run input", async () => {
    const { readdirSync } = await import("node:fs");
    const samples = readdirSync("fixtures/flows").filter((name) => name.endsWith(".flow.json"));
    const run = await cli(["validate", ...samples.map((name) => path.join("fixtures/flows", name))]);
    expect(run.code).toBe(0);
    const warnings = run.stdout.split("\n").filter((line) => line.includes("warning "));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('variable "orderId" is read here but never set');
  });

  it("unreachable activities are still warned about in a flow without errors", async () => {
    const file = flowFile("island.flow.json", [
      '{ "name": "island", "start": "end", "activities": {',
      '  "end": { "type": "end-flow" },',
      '  "island": { "type": "end-flow" } } }',
    ]);
    const run = await cli(["validate", file], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      "✓ island.flow.json: valid, 1 warning\n" +
        '  warning island.flow.json:3:3 $.activities.island: activity "island" is unreachable from start\n',
    );
  });

  it("--connectors: a connector the file does not have, with the name that was meant", async () => {
    const flow = path.resolve("fixtures/flows/crm-lookup.flow.json");
    const { readFileSync } = await import("node:fs");
    const file = path.join(dir, "crn.flow.json");
    writeFileSync(file, readFileSync(flow, "utf8").replace('"connector": "CRM"', '"connector": "CRN"'));
    const connectors = path.resolve("fixtures/connectors.json");
    const run = await cli(["validate", file, "--connectors", connectors], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stdout).toContain(
      'error crn.flow.json:16:7 $.activities.lookup.connector: connector "CRN" is not defined; did you mean "CRM"?',
    );
    const good = await cli(["validate", flow, "--connectors", connectors]);
    expect(good.stdout).toBe("✓ fixtures/flows/crm-lookup.flow.json: valid\n");
    expect(good.code).toBe(0);
  });

  it("--connectors FILE is used on a host that exports FLOWRUN_REDIS_URL: the explicit option wins", async () => {
    const connectors = path.resolve("fixtures/connectors.json");
    const env = { ...process.env, FLOWRUN_REDIS_URL: "redis://127.0.0.1:1" };
    const run = await cli(["validate", "fixtures/flows/crm-lookup.flow.json", "--connectors", connectors], {
      env,
    });
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("✓ fixtures/flows/crm-lookup.flow.json: valid\n");
    expect(run.code).toBe(0);
  });
});

describe("the helpers behind the messages", () => {
  it("closestName suggests only names close enough to be a typo", () => {
    expect(closestName("lookpu", ["lookup", "route", "end"])).toBe("lookup");
    expect(closestName("orderID", ["orderId", "order"])).toBe("orderId");
    expect(closestName("Ordrs", ["Orders", "CRM"])).toBe("Orders");
    expect(closestName("billing", ["lookup", "route"])).toBeUndefined();
  });

  it("JsonPositions points at a member's key, or at the nearest parent that exists", () => {
    const positions = new JsonPositions('{\n  "a": {\n    "b": [1, {"c": 2}]\n  }\n}');
    expect(positions.at("$.a.b[1].c")).toEqual({ line: 3, column: 15 });
    expect(positions.at("$.a.missing")).toEqual({ line: 2, column: 3 });
    expect(positions.at('$["a"]')).toEqual({ line: 2, column: 3 });
  });
});
