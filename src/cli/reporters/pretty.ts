import type { CaseReport } from "../../replay/runner.js";
import type { Paint } from "../paint.js";

/**
 * The first case of each test file whose flow did not compile: its problems are printed in full once, later cases
 * of the file refer to it (the json, junit and html reports keep each case's own failures, having no "above").
 */
export type CompileFailuresShown = Map<string, string>;

function failuresToShow(report: CaseReport, shown: CompileFailuresShown): readonly string[] {
  if (!report.compileFailed) return report.failures;
  const first = shown.get(report.file);
  if (first === undefined) {
    shown.set(report.file, report.name);
    return report.failures;
  }
  return [`the flow does not compile (see "${first}" above)`];
}

/** One line per case as it finishes; a failing case's reasons below it. */
export function prettyCaseLine(
  report: CaseReport,
  colors: Paint,
  shown: CompileFailuresShown = new Map(),
): string {
  const mark = report.passed ? colors.green("✓") : colors.red("✗");
  const lines = [`${mark} ${report.file} › ${report.name} ${colors.dim(`(${report.durationMs} ms)`)}`];
  for (const failure of failuresToShow(report, shown)) {
    lines.push(...failure.split("\n").map((line, i) => colors.red(`    ${i === 0 ? "" : "  "}${line}`)));
  }
  return `${lines.join("\n")}\n`;
}

/** Every failing case again, with its reasons and diffs, so a long run's failures need no scrolling back. */
export function failureSummary(reports: readonly CaseReport[], colors: Paint): string {
  const failed = reports.filter((r) => !r.passed);
  const shown: CompileFailuresShown = new Map();
  if (failed.length === 0) return "";
  return `\n${colors.red(`Failed ${failed.length === 1 ? "case" : "cases"}:`)}\n${failed.map((r) => prettyCaseLine(r, colors, shown)).join("")}\n`;
}

/** The closing line CI reads: exactly `N passed, N failed`. */
export function summaryLine(reports: readonly CaseReport[]): string {
  const passed = reports.filter((r) => r.passed).length;
  return `${passed} passed, ${reports.length - passed} failed\n`;
}
