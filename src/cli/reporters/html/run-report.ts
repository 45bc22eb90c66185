import type { RunResult } from "../../../engine/result.js";
import { escapeHtml } from "./escape.js";
import { htmlPage } from "./page.js";
import { runView } from "./run-view.js";

export interface RunReportInput {
  readonly flowName: string;
  /** The flow file as given on the command line. */
  readonly flowFile: string;
  readonly flowDocument: unknown;
  readonly result: RunResult;
  /** `--replay FILE --case NAME`, when the run was replayed. */
  readonly replay?: { readonly file: string; readonly caseName: string };
  /** Problems worth showing beside the run (a replayed request that matched no exchange, ...). */
  readonly problems?: readonly string[];
  readonly generatedAt: Date;
}

/** The page `flowrun run --report FILE.html` writes. */
export function runReportHtml(input: RunReportInput): string {
  const how = input.replay
    ? `replayed from ${input.replay.file}, case “${input.replay.caseName}”`
    : "run live";
  const problems =
    input.problems && input.problems.length > 0
      ? `<h2>replay problems</h2><ul class="failures">${input.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join("")}</ul>`
      : "";
  return htmlPage(
    `flow ${input.flowName}`,
    `${input.flowFile}, ${how}, ${input.generatedAt.toISOString()}`,
    problems + runView({ key: "run", flowDocument: input.flowDocument, result: input.result }),
  );
}
