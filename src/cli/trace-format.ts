import type { HttpTrace, RunResult, TraceEntry } from "../engine/result.js";
import type { Hints } from "./hints.js";
import { httpSummaryLine, summarizeHttp } from "./http-summary.js";
import type { Paint } from "./paint.js";

const SHOWN_ELSEWHERE = new Set([
  "activity",
  "type",
  "outcome",
  "startedAt",
  "durationMs",
  "error",
  "unmatchedPaths",
]);

function value(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
}

/** Lines that explain one trace entry's details; activity-specific keys get a sentence, others their JSON. */
function detailLines(entry: TraceEntry, colors: Paint): string[] {
  const lines: string[] = [];
  for (const [key, detail] of Object.entries(entry)) {
    if (SHOWN_ELSEWHERE.has(key) || detail === undefined) continue;
    switch (key) {
      case "assignments":
        for (const [name, assigned] of Object.entries(detail as Record<string, unknown>)) {
          const path = entry.unmatchedPaths?.[name];
          const note = path === undefined ? "" : colors.dim(` (${path} matched nothing in the response)`);
          lines.push(`set ${colors.bold(name)} = ${value(assigned)}${note}`);
        }
        break;
      case "prompt":
        lines.push(`says ${value(detail)}`);
        break;
      case "input":
        lines.push(`caller entered ${detail === null ? colors.dim("nothing") : value(detail)}`);
        break;
      case "http":
        lines.push(...httpLines(detail as HttpTrace, entry.error?.kind, colors));
        break;
      case "connector":
        lines.push(`connector ${value(detail)}`);
        break;
      default:
        lines.push(`${key}: ${value(detail)}`);
    }
  }
  if (entry.error) lines.push(colors.red(`error [${entry.error.kind}]: ${entry.error.message}`));
  return lines;
}

function httpLines(http: Partial<HttpTrace>, errorKind: string | undefined, colors: Paint): string[] {
  const summary = summarizeHttp(http, errorKind);
  const answered = typeof http.status === "number";
  const painted = { ...summary, answer: answered ? summary.answer : colors.red(summary.answer) };
  const lines = [httpSummaryLine(painted, colors.dim)];
  // Headers only of a request that was sent: a request never sent has none worth showing.
  if (summary.sent)
    for (const [name, header] of Object.entries(http.requestHeaders ?? {}))
      lines.push(colors.dim(`  ${name}: ${header}`));
  if (http.responseExcerpt !== undefined) lines.push(colors.dim(`  answered: ${http.responseExcerpt}`));
  return lines;
}

const STATUS_COLOR = { completed: "green", halted: "yellow", failed: "red", aborted: "red" } as const;

/** The activity that halted the run, when it halted. */
function haltedActivity(result: RunResult): string | undefined {
  return result.status === "halted" ? (result.error?.activity ?? result.endedAt ?? undefined) : undefined;
}

/** `✓` done, `✗` failed, `■` halted (routing stopped there: no outcome was taken). */
function stepLine(entry: TraceEntry, index: number, halted: boolean, colors: Paint): string {
  const mark = halted ? colors.yellow("■") : entry.error !== undefined ? colors.red("✗") : colors.green("✓");
  const outcome = halted
    ? colors.yellow("halted")
    : entry.outcome === null
      ? colors.dim("(end)")
      : colors.cyan(entry.outcome);
  const step = String(index + 1).padStart(3);
  return `${step} ${mark} ${colors.bold(entry.activity)} ${colors.dim(entry.type)} → ${outcome} ${colors.dim(`${entry.durationMs.toFixed(1)} ms`)}`;
}

/** The readable trace `flowrun run` prints; `hints` adds one-line advice under activities (people only). */
export function formatTrace(flowName: string, result: RunResult, colors: Paint, hints?: Hints): string {
  const out: string[] = [colors.bold(`flow ${flowName}`)];
  const haltedAt = haltedActivity(result);
  const last = result.trace.length - 1;
  result.trace.forEach((entry, index) => {
    out.push(stepLine(entry, index, index === last && entry.activity === haltedAt, colors));
    for (const line of detailLines(entry, colors)) out.push(`        ${line}`);
    for (const hint of hints?.(entry, result) ?? []) out.push(`        ${colors.yellow(`hint: ${hint}`)}`);
  });
  const paintStatus = colors[STATUS_COLOR[result.status]];
  const reason = result.reason ? ` (${result.reason})` : "";
  out.push("");
  out.push(
    `${paintStatus(result.status.toUpperCase())}${reason} at ${result.endedAt ?? "-"} after ${result.path.length} ${result.path.length === 1 ? "activity" : "activities"}`,
  );
  if (result.error && result.status !== "completed") out.push(paintStatus(`  ${result.error.message}`));
  const variables = Object.entries(result.variables);
  if (variables.length > 0) {
    out.push(colors.bold("variables"));
    for (const [name, v] of variables) out.push(`  ${name} = ${value(v)}`);
  }
  if (result.actions.length > 0) {
    out.push(colors.bold("actions"));
    for (const action of result.actions) {
      const { type, activity, ...rest } = action;
      out.push(
        `  ${type} ${colors.dim(`(${activity})`)} ${Object.keys(rest).length ? value(rest) : ""}`.trimEnd(),
      );
    }
  }
  return `${out.join("\n")}\n`;
}
