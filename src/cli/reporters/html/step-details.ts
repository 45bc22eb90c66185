import { type HttpTrace, httpTraceOf, type RunResult, type TraceEntry } from "../../../engine/result.js";
import { httpSummaryLine, summarizeHttp } from "../../http-summary.js";
import { escapeHtml, escapeJson } from "./escape.js";
import type { NodeState } from "./graph-svg.js";

/** Keys of a trace entry shown in the step's header or its own section. */
const SHOWN = new Set([
  "activity",
  "type",
  "outcome",
  "startedAt",
  "durationMs",
  "error",
  "assignments",
  "http",
]);

const MARKS: Record<NodeState, string> = { ok: "✓", failed: "✗", halted: "■" };

/** How one step ended: halted at the run's halting activity, failed with an error, else ok. */
export function stepState(entry: TraceEntry, index: number, result: RunResult): NodeState {
  const last = index === result.trace.length - 1;
  if (last && result.status === "halted" && result.error?.activity === entry.activity) return "halted";
  return entry.error !== undefined ? "failed" : "ok";
}

function row(term: string, value: string): string {
  return `<dt>${escapeHtml(term)}</dt><dd>${value}</dd>`;
}

/** The request as sent (secrets already `[REDACTED]` in the trace), or why it was not sent. */
function httpSection(http: Partial<HttpTrace>, errorKind: string | undefined): string {
  const summary = summarizeHttp(http, errorKind);
  const headers = summary.sent
    ? Object.entries(http.requestHeaders ?? {}).map(([name, value]) => `\n${name}: ${value}`)
    : [];
  const facts = [
    row("status", http.status === null || http.status === undefined ? "none" : escapeHtml(http.status)),
    row("attempts", escapeHtml(http.attempts ?? 0)),
  ];
  if (http.credentials) facts.push(row("credentials", escapeHtml(http.credentials)));
  return [
    "<h4>request</h4>",
    `<pre class="request">${escapeHtml(httpSummaryLine(summary) + headers.join(""))}</pre>`,
    `<dl>${facts.join("")}</dl>`,
  ].join("");
}

function assignmentsSection(assignments: Record<string, unknown>): string {
  const rows = Object.entries(assignments).map(
    ([name, value]) => `<tr><th>${escapeHtml(name)}</th><td><code>${escapeJson(value)}</code></td></tr>`,
  );
  return `<h4>assignments</h4><table class="assignments">${rows.join("")}</table>`;
}

/** The other details an activity reports: prompts, caller input, queue, connector, ... */
function otherDetails(entry: TraceEntry): string {
  const rows: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (SHOWN.has(key) || value === undefined) continue;
    if (key === "prompt") rows.push(row("prompt", `“${escapeHtml(value)}”`));
    else if (key === "input")
      rows.push(row("caller entered", value === null ? "nothing" : `<code>${escapeJson(value)}</code>`));
    else rows.push(row(key, `<code>${escapeJson(value)}</code>`));
  }
  return rows.length > 0 ? `<dl>${rows.join("")}</dl>` : "";
}

/** The details panel of one step, hidden until its node or list entry is hovered or clicked. */
export function stepDetails(entry: TraceEntry, index: number, result: RunResult): string {
  const state = stepState(entry, index, result);
  const outcome = state === "halted" ? `halted (${result.reason ?? "?"})` : (entry.outcome ?? "(end)");
  const parts = [
    `<section class="step-detail ${state}" data-step="${index + 1}" data-activity="${escapeHtml(entry.activity)}" hidden>`,
    `<h3><span class="mark">${MARKS[state]}</span> ${index + 1} · ${escapeHtml(entry.activity)} <small>${escapeHtml(entry.type)}</small></h3>`,
    `<dl>${row("outcome", escapeHtml(outcome))}${row("duration", `${escapeHtml(entry.durationMs.toFixed(1))} ms`)}${row("started", escapeHtml(entry.startedAt))}</dl>`,
  ];
  const http = httpTraceOf(entry);
  if (http) parts.push(httpSection(http, entry.error?.kind));
  if (entry.assignments && Object.keys(entry.assignments).length > 0)
    parts.push(assignmentsSection(entry.assignments));
  parts.push(otherDetails(entry));
  if (entry.error)
    parts.push(
      `<p class="error">error [${escapeHtml(entry.error.kind)}]: ${escapeHtml(entry.error.message)}</p>`,
    );
  if (state === "halted" && result.error)
    parts.push(`<p class="error">${escapeHtml(result.error.message)}</p>`);
  parts.push("</section>");
  return parts.join("");
}

/** The ordered list of steps, each a button that selects it (the same as clicking its node). */
export function stepList(result: RunResult): string {
  const items = result.trace.map((entry, index) => {
    const state = stepState(entry, index, result);
    const outcome = state === "halted" ? "halted" : (entry.outcome ?? "(end)");
    return `<li><button type="button" class="step ${state}" data-step="${index + 1}" data-activity="${escapeHtml(entry.activity)}"><span class="mark">${MARKS[state]}</span> ${index + 1} ${escapeHtml(entry.activity)} <span class="outcome">→ ${escapeHtml(outcome)}</span> <span class="ms">${escapeHtml(entry.durationMs.toFixed(1))} ms</span></button></li>`;
  });
  return `<ol class="steps">${items.join("")}</ol>`;
}
