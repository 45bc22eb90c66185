import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";

const ivr = "fixtures/flows/ivr-menu.flow.json";
const everyActivity = "fixtures/flows/every-activity.flow.json";

describe("flowrun run", () => {
  it("prints a readable trace and exits 0 when the flow completes", async () => {
    const run = await cli(["run", ivr, "--menu-input", "2", "--contact", "ani=+15551234567"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("flow ivr-menu");
    expect(run.stdout).toMatch(/mainMenu menu → 2/);
    expect(run.stdout).toContain('caller entered "2"');
    expect(run.stdout).toContain('says "Welcome to Example Telecom. Your number is +15551234567."');
    expect(run.stdout).toMatch(/COMPLETED at end after 6 activities/);
    expect(run.stdout).not.toContain("\u001b["); // no colour off a terminal
  });

  it("--json prints the documented result shape", async () => {
    const run = await cli(["run", ivr, "--menu-input", "1", "--json"]);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({
      status: "completed",
      reason: null,
      endedAt: "end",
      path: ["greeting", "mainMenu", "setBilling", "route", "billingQueue", "end"],
      variables: { department: "billing", attempts: 0 },
    });
    expect(result.actions).toContainEqual({
      type: "queue-contact",
      queue: "Billing",
      activity: "billingQueue",
    });
  });

  it("runs the every-activity sample through menu, condition and queue", async () => {
    const profile = JSON.stringify({
      language: "de",
      tier: 3,
      balance: 250.5,
      lastCall: "2026-11-01T09:00:00Z",
    });
    const run = await cli([
      "run",
      everyActivity,
      "--contact",
      `profile=${profile}`,
      "--menu-input",
      "1",
      "--json",
    ]);
    const result = JSON.parse(run.stdout);
    expect(run.code).toBe(0);
    expect(result.path).toEqual([
      "readProfile",
      "markVip",
      "greet",
      "welcomeGerman",
      "options",
      "vipCheck",
      "vipQueue",
      "done",
    ]);
    expect(result.variables).toMatchObject({
      language: "de",
      tier: 3,
      isVip: true,
      balance: 250.5,
      lastCall: "2026-11-01T09:00:00Z",
    });
    expect(result.actions.at(-1)).toEqual({ type: "queue-contact", queue: "VIP-de", activity: "vipQueue" });
  });

  it("exits 1 when the run fails", async () => {
    const run = await cli(["run", ivr, "--max-steps", "3"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAILED \(step-limit\)/);
  });

  it("exits 2 for an undeclared --var, without a stack trace", async () => {
    const run = await cli(["run", ivr, "--var", "nope=1"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('error: run input sets undeclared variable "nope"\n');
  });

  it("exits 2 for a malformed --var", async () => {
    const run = await cli(["run", ivr, "--var", "novalue"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--var expects name=value, got "novalue"');
  });

  it("exits 2 naming file, line and column when the flow is not JSON", async () => {
    const run = await cli(["run", "test/fixtures/not-json.flow.json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: .*not-json\.flow\.json:5:32: not valid JSON/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("exits 2 for a missing file", async () => {
    const run = await cli(["run", "no/such.flow.json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("no/such.flow.json: cannot read (no such file)");
  });

  it("exits 2 and lists the problems of an invalid flow", async () => {
    const run = await cli(["run", "test/fixtures/broken.flow.json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('$.activities.fax.type: unknown activity type "send-fax"');
  });
});

describe("flowrun validate", () => {
  it("accepts valid flows with exit 0", async () => {
    const run = await cli(["validate", ivr, everyActivity]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("✓ fixtures/flows/ivr-menu.flow.json: valid");
    expect(run.stdout).toContain("✓ fixtures/flows/every-activity.flow.json: valid");
  });

  it("prints each problem of a broken flow with its path and exits 2", async () => {
    const run = await cli(["validate", "test/fixtures/broken.flow.json"]);
    expect(run.code).toBe(2);
    const lines = run.stdout.split("\n");
    expect(lines[0]).toBe("✗ test/fixtures/broken.flow.json: 5 errors");
    const at = "test/fixtures/broken.flow.json";
    expect(run.stdout).toContain(
      `error ${at}:3:48 $.variables.score.default: cannot assign string "high" to variable "score" of type integer`,
    );
    expect(run.stdout).toContain(`error ${at}:8:7 $.activities.greet.prompt: invalid template`);
    expect(run.stdout).toContain(
      `error ${at}:9:17 $.activities.greet.next.default: next of "greet" (default) points to missing activity "rout"; did you mean "route"?`,
    );
    expect(run.stdout).toContain(
      `error ${at}:11:37 $.activities.route.expression: invalid expression "score >"`,
    );
    expect(run.stdout).toContain(
      `error ${at}:12:14 $.activities.fax.type: unknown activity type "send-fax"; known types:`,
    );
  });

  it("reports a file that is not JSON with its line and column", async () => {
    const run = await cli(["validate", "test/fixtures/not-json.flow.json", ivr]);
    expect(run.code).toBe(2);
    // Our words, not V8's parser text (which quotes the document and changes between Node versions).
    expect(run.stdout).toContain(
      "✗ test/fixtures/not-json.flow.json:5:32: not valid JSON: expected a field name in double quotes\n",
    );
    expect(run.stdout).toContain("✓ fixtures/flows/ivr-menu.flow.json: valid");
  });

  it("shows help and exits 2 without arguments", async () => {
    const run = await cli(["validate"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("missing required argument 'flow'");
  });

  it("--help exits 0", async () => {
    const run = await cli(["run", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("--menu-input <digits>");
  });
});
