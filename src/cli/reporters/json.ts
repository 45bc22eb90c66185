import type { CaseReport } from "../../replay/runner.js";

/** Machine-readable results: every case with its failures and the run's status and path. */
export function jsonReport(reports: readonly CaseReport[]): string {
  const passed = reports.filter((r) => r.passed).length;
  return `${JSON.stringify(
    {
      passed,
      failed: reports.length - passed,
      cases: reports.map((r) => ({
        file: r.file,
        name: r.name,
        passed: r.passed,
        durationMs: r.durationMs,
        failures: r.failures,
        status: r.result?.status ?? null,
        path: r.result?.path ?? null,
      })),
    },
    null,
    2,
  )}\n`;
}
