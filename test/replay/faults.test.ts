import path from "node:path";
import { describe, expect, it } from "vitest";
import type { ValidationError } from "../../src/core/errors.js";
import { httpTraceOf } from "../../src/engine/result.js";
import { replayEngineFactory } from "../../src/replay/engine-factory.js";
import { runTestFile } from "../../src/replay/runner.js";
import { loadTestFile } from "../../src/replay/test-file.js";
import { cli } from "../helpers/cli.js";
import { copyFixture, fixturesDir, readJson, tempDir, writeJson } from "./helpers.js";

/** Faults: `fault: timeout | network` and `response.delayMs` in test files, replayed through the MockAgent. */

interface TestFileJson {
  cases: { name: string; exchanges: Record<string, unknown>[]; expect: Record<string, unknown> }[];
}

const request = { method: "GET", url: "https://status.example.com/api/v2/status.json" };

async function problemsOf(exchange: Record<string, unknown>): Promise<{ path: string; message: string }[]> {
  const dir = await tempDir();
  const file = path.join(dir, "bad.test.json");
  await writeJson(file, { flow: "./x.flow.json", cases: [{ name: "c", exchanges: [exchange] }] });
  try {
    await loadTestFile(file);
  } catch (error) {
    return [...(error as ValidationError).problems];
  }
  throw new Error("the test file was accepted");
}

describe("fault fields in the test file schema", () => {
  it("an unknown fault is a validation error at its JSON path", async () => {
    const problems = await problemsOf({ request, fault: "timeot" });
    expect(problems).toEqual([
      expect.objectContaining({
        path: "$.cases[0].exchanges[0].fault",
        message: expect.stringContaining("timeout"),
      }),
    ]);
  });

  it("an exchange has a response or a fault, exactly one", async () => {
    expect(await problemsOf({ request, fault: "network", response: { status: 200 } })).toEqual([
      expect.objectContaining({
        path: "$.cases[0].exchanges[0].fault",
        message: expect.stringMatching(/not both/),
      }),
    ]);
    expect(await problemsOf({ request })).toEqual([
      expect.objectContaining({
        path: "$.cases[0].exchanges[0]",
        message: "an exchange needs a response or a fault",
      }),
    ]);
  });

  it("delayMs is a whole number of milliseconds up to 60000", async () => {
    for (const delayMs of [-1, 1.5, 60_001, "10"]) {
      const problems = await problemsOf({ request, response: { status: 200, delayMs } });
      expect(problems.map((p) => p.path)).toEqual(["$.cases[0].exchanges[0].response.delayMs"]);
    }
  });

  it("flowrun test reports an unknown fault with the file and path, and fails", async () => {
    const dir = await tempDir();
    await writeJson(path.join(dir, "bad.test.json"), {
      flow: "./x.flow.json",
      cases: [{ name: "c", exchanges: [{ request, fault: "dns" }] }],
    });
    const run = await cli(["test", "bad.test.json"], { cwd: dir });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("$.cases[0].exchanges[0].fault");
  });
});

describe("fault cases replay through the engine's request path", () => {
  it("each case of the status-check fixture takes its path, retries included", async () => {
    const reports = await runTestFile(
      path.join(fixturesDir, "status-check.test.json"),
      replayEngineFactory({ secrets: { env: {} } }),
      () => {},
    );
    const byName = new Map(reports.map((report) => [report.name, report]));
    for (const report of reports) expect(report.failures, report.name).toEqual([]);
    const attempts = (name: string) => {
      const entry = byName.get(name)?.result?.trace[0];
      return entry && httpTraceOf(entry)?.attempts;
    };
    expect(attempts("status API silent, then answers on the retry: normal routing")).toBe(2);
    expect(attempts("connection dropped, then the retry answers: normal routing")).toBe(2);
    expect(attempts("connection dropped on every attempt: error path with kind network")).toBe(2);
    expect(attempts("degraded provider, answer after 20 ms: delay announced")).toBe(1);
    const timedOut = byName.get("status API silent on every attempt: timeout path")?.result;
    expect(timedOut?.trace[0]?.outcome).toBe("timeout");
  });

  async function runEdited(edit: (file: TestFileJson) => void): Promise<{ code: number; out: string }> {
    const dir = await tempDir();
    const { testFile } = await copyFixture("status-check", dir);
    const json = await readJson<TestFileJson>(testFile);
    edit(json);
    await writeJson(testFile, json);
    const run = await cli(["test", testFile], { cwd: dir });
    return { code: run.code, out: run.stdout };
  }
  const caseNamed = (file: TestFileJson, name: string) => file.cases.find((c) => c.name === name)!;

  it("a wrong expectation on a network fault case fails naming the case", async () => {
    const name = "connection dropped on every attempt: error path with kind network";
    const { code, out } = await runEdited((file) => {
      (caseNamed(file, name).expect.variables as Record<string, unknown>).errorKind = "timeout";
    });
    expect(code).toBe(1);
    expect(out).toMatch(
      new RegExp(`✗ .*status-check\\.test\\.json › ${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
    expect(out).toContain('variable errorKind: expected "timeout", got "network"');
    expect(out).toContain("6 passed, 1 failed");
  });

  it("a delay past the deadline turns a fixture's on-time answer into a timeout (delayMs is honoured)", async () => {
    const name = "degraded provider, answer after 20 ms: delay announced";
    const { code, out } = await runEdited((file) => {
      const exchange = caseNamed(file, name).exchanges[0] as { response: { delayMs: number } };
      exchange.response.delayMs = 5000;
    });
    expect(code).toBe(1);
    expect(out).toMatch(/✗ .*› degraded provider, answer after 20 ms/);
    // The late answer timed out the first attempt; the retry found no exchange left for it.
    expect(out).toContain("(its recorded exchange was already used)");
    expect(out).toContain("variable degraded: expected true, got false");
  });

  it("a timeout fault replaced by an answer takes the other path, so the fault is what made the timeout", async () => {
    const name = "status API silent on every attempt: timeout path";
    const { code, out } = await runEdited((file) => {
      const testCase = caseNamed(file, name);
      testCase.exchanges = [{ request, response: { status: 200, body: { status: { degraded: false } } } }];
    });
    expect(code).toBe(1);
    expect(out).toMatch(/✗ .*› status API silent on every attempt: timeout path/);
    expect(out).toContain("got checkStatus → route → mainQueue → end");
  });
});
