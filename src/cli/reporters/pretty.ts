import type { CaseReport } from "../../replay/runner.js";
import type { Paint } from "../paint.js";

/** One line per case as it finishes; a failing case's reasons below it. */
export function prettyCaseLine(report: CaseReport, colors: Paint): string {
  const mark = report.passed ? colors.green("✓") : colors.red("✗");
  const lines = [`${mark} ${report.file} › ${report.name} ${colors.dim(`(${report.durationMs} ms)`)}`];
  for (const failure of report.failures) {
    lines.push(...failure.split("\n").map((line, i) => colors.red(`    ${i === 0 ? "" : "  "}${line}`)));
  }
  return `${lines.join("\n")}\n`;
}

/** Every failing case again, with its reasons and diffs, so a long run's failures need no scrolling back. */
export function failureSummary(reports: readonly CaseReport[], colors: Paint): string {
  const failed = reports.filter((r) => !r.passed);
  if (failed.length === 0) return "";
  return `\n${colors.red(`Failed ${failed.length === 1 ? "case" : "cases"}:`)}\n${failed.map((r) => prettyCaseLine(r, colors)).join("")}\n`;
}

/** The closing line CI reads: exactly `N passed, N failed`. */
export function summaryLine(reports: readonly CaseReport[]): string {
  const passed = reports.filter((r) => r.passed).length;
  return `${passed} passed, ${reports.length - passed} failed\n`;
}
