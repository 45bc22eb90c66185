import { readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { replayEngineFactory } from "../../src/replay/engine-factory.js";
import { type CaseReport, runTestFile } from "../../src/replay/runner.js";
import { loadTestFile } from "../../src/replay/test-file.js";
import { envWithoutSecrets, fixturesDir, readJson, repoRoot } from "./helpers.js";

const testFiles = (await readdir(fixturesDir)).filter((name) => name.endsWith(".test.json")).sort();

describe("fixture library", () => {
  it("has at least 10 test files, each beside its flow", async () => {
    expect(testFiles.length).toBeGreaterThanOrEqual(10);
    for (const name of testFiles) {
      const loaded = await loadTestFile(path.join(fixturesDir, name));
      expect(path.dirname(loaded.flowPath)).toBe(fixturesDir);
      const flow = await readJson<{ $schema?: string }>(loaded.flowPath);
      expect(flow.$schema).toBe("../../schema/flow.schema.json");
    }
  });

  it("covers every connector of fixtures/connectors.json", async () => {
    const connectors = await readJson<{ connectors: { name: string }[] }>(
      path.join(repoRoot, "fixtures", "connectors.json"),
    );
    const used = new Set<string>();
    for (const name of testFiles) {
      const loaded = await loadTestFile(path.join(fixturesDir, name));
      const flow = await readJson<{ activities: Record<string, { connector?: string }> }>(loaded.flowPath);
      for (const activity of Object.values(flow.activities))
        if (activity.connector) used.add(activity.connector);
    }
    expect([...used].sort()).toEqual(connectors.connectors.map((c) => c.name).sort());
  });

  it("covers halting and every HTTP error kind (timeout and network through fixture faults)", async () => {
    const kinds = new Set<string>();
    const reasons = new Set<string>();
    for (const name of testFiles) {
      const loaded = await loadTestFile(path.join(fixturesDir, name));
      for (const testCase of loaded.cases) {
        const errorKind = testCase.expect?.variables?.errorKind;
        if (typeof errorKind === "string") kinds.add(errorKind);
        if (testCase.expect?.reason) reasons.add(testCase.expect.reason);
      }
    }
    expect([...kinds].sort()).toEqual([
      "auth",
      "egress-denied",
      "http-status",
      "invalid-request",
      "method-not-allowed",
      "network",
      "parse",
      "response-too-large",
      "timeout",
    ]);
    expect([...reasons].sort()).toEqual(["connector-inactive", "connector-not-found"]);
  });

  describe.each(testFiles)("%s", (name) => {
    it("replays every case and passes", async () => {
      const reports: CaseReport[] = await runTestFile(
        path.join(fixturesDir, name),
        replayEngineFactory({ secrets: { env: envWithoutSecrets() } }),
        () => {},
        repoRoot,
      );
      expect(reports.length).toBeGreaterThan(0);
      for (const report of reports) {
        expect({ name: report.name, failures: report.failures }).toEqual({ name: report.name, failures: [] });
        expect(report.passed).toBe(true);
      }
    });
  });
});
