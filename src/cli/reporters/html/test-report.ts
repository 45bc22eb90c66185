import { compareExpectation, type ExpectationRow } from "../../../replay/expectations.js";
import type { CaseReport } from "../../../replay/runner.js";
import { escapeHtml, escapeJson } from "./escape.js";
import { htmlPage } from "./page.js";
import { runView } from "./run-view.js";

/** The case's `expect` beside what the run did, field by field. */
function comparison(report: CaseReport): string {
  if (!report.result) return "";
  const rows: ExpectationRow[] = compareExpectation(report.result, report.expected);
  if (rows.length === 0) return '<p class="none">this case expects nothing of the run</p>';
  const body = rows.map(
    (row) =>
      `<tr class="${row.matches ? "match" : "mismatch"}"><th>${escapeHtml(row.field)}</th><td><code>${escapeJson(row.expected)}</code></td><td><code>${row.present ? escapeJson(row.actual) : "(no such variable)"}</code></td></tr>`,
  );
  return `<table class="compare"><thead><tr><th></th><th>expected</th><th>actual</th></tr></thead><tbody>${body.join("")}</tbody></table>`;
}

function caseSection(report: CaseReport, index: number): string {
  const state = report.passed ? "case-passed" : "case-failed";
  const failures =
    report.failures.length > 0
      ? `<ul class="failures">${report.failures.map((failure) => `<li>${escapeHtml(failure)}</li>`).join("")}</ul>`
      : "";
  const run =
    report.result && report.flowDocument !== undefined
      ? runView({ key: `case${index}`, flowDocument: report.flowDocument, result: report.result })
      : "";
  return [
    `<section class="case ${state}" data-case="${escapeHtml(report.name)}">`,
    `<h2><span class="mark">${report.passed ? "✓" : "✗"}</span> ${escapeHtml(report.file)} › ${escapeHtml(report.name)} <small>${escapeHtml(report.durationMs)} ms</small></h2>`,
    failures,
    comparison(report),
    run,
    "</section>",
  ].join("\n");
}

/** The page `flowrun test --reporter html` writes: a summary, then every case, failures first. */
export function testReportHtml(reports: readonly CaseReport[], generatedAt: Date): string {
  const passed = reports.filter((report) => report.passed).length;
  const failed = reports.length - passed;
  const totalMs = reports.reduce((sum, report) => sum + report.durationMs, 0);
  // Failures first; otherwise the order the cases were run in (file, then case).
  const ordered = [...reports].sort((a, b) => Number(a.passed) - Number(b.passed));
  const summary = `<p class="summary"><span class="passed">${passed} passed</span>, <span class="failed">${failed} failed</span> <small>(${reports.length} cases, ${totalMs.toFixed(1)} ms)</small></p>`;
  return htmlPage(
    "flowrun test",
    `${reports.length} fixture cases, ${generatedAt.toISOString()}`,
    summary + ordered.map((report, index) => caseSection(report, index)).join("\n"),
  );
}
