import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { copyFixture, envWithoutSecrets, readJson, tempDir, writeJson } from "./helpers.js";

type TestFileJson = {
  cases: {
    name: string;
    exchanges?: { response?: { delayMs?: number } }[];
    expect: { variables?: Record<string, unknown> };
  }[];
};

const env = envWithoutSecrets();

/** A copy of a fixture whose test file `change` edits. */
async function changedFixture(name: string, change: (test: TestFileJson) => void) {
  const dir = await tempDir();
  const { flow, testFile } = await copyFixture(name, dir);
  const test = await readJson<TestFileJson>(testFile);
  change(test);
  await writeJson(testFile, test);
  return { dir, flow, testFile };
}

/** The lines that name a case (✓/✗), in the order printed. */
const caseLines = (stdout: string) => stdout.split("\n").filter((line) => /^[✓✗] /.test(line));

describe("flowrun test output, as Jest users expect", () => {
  it("prints cases in the file's order even when a later case finishes first", async () => {
    const { testFile } = await changedFixture("crm-lookup", (test) => {
      // The first case's token answer comes late, so the second case finishes before it.
      test.cases[0]!.exchanges![0]!.response!.delayMs = 300;
    });
    const run = await cli(["test", testFile], { env });
    expect(run.code).toBe(0);
    expect(caseLines(run.stdout).map((line) => line.replace(/ \(.*ms\)$/, "").split(" › ")[1])).toEqual([
      "VIP caller goes to the VIP queue",
      "CRM down: apologise and queue normally",
    ]);
  });

  it("ends with the failures and their reasons, then the count", async () => {
    const { testFile } = await changedFixture("ivr-menu", (test) => {
      test.cases[0]!.expect.variables = { department: "sales" };
    });
    const run = await cli(["test", testFile], { env });
    expect(run.code).toBe(1);
    const summary = run.stdout.slice(run.stdout.indexOf("\nFailed case:\n"));
    expect(summary).toMatch(
      /^\nFailed case:\n✗ .*ivr-menu\.test\.json › billing on the first try \(.* ms\)\n {4}variable department: expected "sales", got "billing"\n\n1 passed, 1 failed\n$/,
    );
  });

  it("-t runs only the cases whose name matches; no match is a usage error", async () => {
    const { testFile } = await changedFixture("ivr-menu", () => {});
    const run = await cli(["test", testFile, "-t", "wrong keys"], { env });
    expect(run.code).toBe(0);
    expect(caseLines(run.stdout)).toHaveLength(1);
    expect(run.stdout).toContain("› three wrong keys: goodbye and hang up");
    expect(run.stdout).toContain("1 passed, 0 failed");
    const none = await cli(["test", testFile, "--case", "^nothing$"], { env });
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('error: no case name matches "^nothing$"\n');
  });

  it("--bail stops at the first failing case", async () => {
    const { testFile } = await changedFixture("ivr-menu", (test) => {
      for (const testCase of test.cases) testCase.expect.variables = { department: "nowhere" };
    });
    const all = await cli(["test", testFile], { env });
    expect(all.stdout).toContain("0 passed, 2 failed");
    const bailed = await cli(["test", testFile, "--bail"], { env });
    expect(bailed.code).toBe(1);
    expect(caseLines(bailed.stdout)).toHaveLength(2); // the case, and the same case in the closing summary
    expect(bailed.stdout).toContain("0 passed, 1 failed");
  });

  it("a flow file given as a test file is a usage error, not a failed case", async () => {
    const run = await cli(["test", "fixtures/flows/ivr-menu.flow.json"], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "error: fixtures/flows/ivr-menu.flow.json is a flow, not a test file: give its *.test.json (or the folder), or run the flow with npx flowrun run fixtures/flows/ivr-menu.flow.json\n",
    );
    expect(run.stdout).toBe("");
  });

  it("a flow that does not compile shows its problems once, not once per case", async () => {
    const { flow, testFile } = await changedFixture("ivr-menu", () => {});
    const document = JSON.parse(JSON.stringify(await readJson(flow))) as { start: string };
    document.start = "greetng";
    writeFileSync(flow, JSON.stringify(document));
    const run = await cli(["test", testFile], { env });
    expect(run.code).toBe(1);
    const problem = 'start activity "greetng" does not exist; did you mean "greeting"?';
    // Once with the first case, once more in the closing summary.
    expect(run.stdout.split(problem)).toHaveLength(3);
    expect(run.stdout).toContain('the flow does not compile (see "billing on the first try" above)');
    expect(run.stdout).toMatch(
      /ivr-menu\.flow\.json:1:\d+ \$\.start: start activity "greetng" does not exist/,
    );
    // A json report has no "above": every case keeps its own problems.
    const json = await cli(["test", testFile, "--reporter", "json"], { env });
    const report = JSON.parse(json.stdout) as { cases: { failures: string[] }[] };
    expect(report.cases.length).toBeGreaterThan(1);
    for (const testCase of report.cases) expect(testCase.failures.join("\n")).toContain(problem);
  });

  it("a malformed test file gets a plain message with its line and column", async () => {
    const dir = await tempDir();
    writeFileSync(path.join(dir, "bad.test.json"), '{\n  "flow": "x.flow.json",\n  "cases": [\n}\n');
    const run = await cli(["test", "bad.test.json"], { cwd: dir, env });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("bad.test.json:4:1: not valid JSON: expected a value");
    expect(run.stdout).not.toMatch(/Unexpected token|in JSON at position/);
  });

  it("replaying the shipped fixtures prints no warnings", async () => {
    const run = await cli(["test", "fixtures/flows"], { env });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
  });
});

describe("the run trace", () => {
  it("notes a JSON path that matched nothing instead of a bare = null", async () => {
    const { flow, testFile } = await changedFixture("crm-lookup", (test) => {
      const answer = test.cases[0]!.exchanges![1]!.response as { body: { accounts: object[] } };
      answer.body = { accounts: [{ id: "A-17" }] };
    });
    const run = await cli(["run", flow, "--replay", testFile, "--case", "VIP caller goes to the VIP queue"], {
      env,
    });
    expect(run.stdout).toContain('set accountId = "A-17"\n');
    expect(run.stdout).toContain("set isVip = false ($.accounts[0].vip matched nothing in the response)\n");
    expect(run.stdout).toContain(
      "set balance = null ($.accounts[0].balance matched nothing in the response)\n",
    );
  });
});
