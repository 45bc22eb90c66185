import path from "node:path";
import { describe, expect, it } from "vitest";
import { replayEngineFactory } from "../../src/replay/engine-factory.js";
import { UNMATCHED_STATUS } from "../../src/replay/replay-agent.js";
import { runTestFile } from "../../src/replay/runner.js";
import { copyFixture, envWithoutSecrets, readJson, tempDir, writeJson } from "./helpers.js";

describe("replay session", () => {
  // Regression: unmatched requests were answered 599, which the token endpoint client retries as a 5xx: the same
  // unmatched token request was reported five times and the case spent ~1.5 s in backoff before failing.
  it("answers an unmatched token request once, with a status nothing retries", async () => {
    expect(UNMATCHED_STATUS).toBeLessThan(500);
    const dir = await tempDir();
    const { testFile } = await copyFixture("order-status", dir);
    const test = await readJson<{ cases: { name: string; exchanges: { request: { url: string } }[] }[] }>(
      testFile,
    );
    const shipped = test.cases.find((c) => c.name.startsWith("shipped order"));
    if (!shipped?.exchanges[0]) throw new Error("fixture changed");
    shipped.exchanges[0].request.url = "https://auth.example.com/oauth2/v1/token";
    await writeJson(testFile, { ...test, cases: [shipped] });
    const [report] = await runTestFile(
      testFile,
      replayEngineFactory({ secrets: { env: envWithoutSecrets() } }),
      () => {},
      dir,
    );
    expect(report?.passed).toBe(false);
    const unmatched = report?.failures.filter((f) => f.startsWith("no recorded exchange matches")) ?? [];
    expect(unmatched).toHaveLength(1);
    expect(unmatched[0]).toContain("- path /oauth/token ≠ recorded /oauth2/v1/token");
    expect(report?.durationMs).toBeLessThan(1_000);
    expect(path.basename(report?.file ?? "")).toBe("order-status.test.json");
  });
});
