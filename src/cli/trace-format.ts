import type { RunResult, TraceEntry } from "../engine/result.js";
import type { Paint } from "./paint.js";

const SHOWN_ELSEWHERE = new Set(["activity", "type", "outcome", "startedAt", "durationMs", "error"]);

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
          lines.push(`set ${colors.bold(name)} = ${value(assigned)}`);
        }
        break;
      case "prompt":
        lines.push(`says ${value(detail)}`);
        break;
      case "input":
        lines.push(`caller entered ${detail === null ? colors.dim("nothing") : value(detail)}`);
        break;
      case "http":
        lines.push(...httpLines(detail as HttpDetails, colors));
        break;
      default:
        lines.push(`${key}: ${value(detail)}`);
    }
  }
  if (entry.error) lines.push(colors.red(`error [${entry.error.kind}]: ${entry.error.message}`));
  return lines;
}

interface HttpDetails {
  method?: string;
  url?: string;
  status?: number | null;
  attempts?: number;
  tokenFetched?: boolean;
  requestHeaders?: Record<string, string>;
}

function httpLines(http: HttpDetails, colors: Paint): string[] {
  const status =
    http.status === undefined || http.status === null ? colors.red("no response") : String(http.status);
  const notes = [
    `${http.attempts ?? 1} attempt${http.attempts === 1 || http.attempts === undefined ? "" : "s"}`,
  ];
  if (http.tokenFetched !== undefined) notes.push(http.tokenFetched ? "token fetched" : "token cached");
  const lines = [
    `${http.method ?? "?"} ${http.url ?? "?"} → ${status} ${colors.dim(`(${notes.join(", ")})`)}`,
  ];
  for (const [name, header] of Object.entries(http.requestHeaders ?? {}))
    lines.push(colors.dim(`  ${name}: ${header}`));
  return lines;
}

const STATUS_COLOR = { completed: "green", halted: "yellow", failed: "red", aborted: "red" } as const;

/** The readable trace `flowrun run` prints. */
export function formatTrace(flowName: string, result: RunResult, colors: Paint): string {
  const out: string[] = [colors.bold(`flow ${flowName}`)];
  result.trace.forEach((entry, index) => {
    const failed = entry.error !== undefined;
    const mark = failed ? colors.red("✗") : colors.green("✓");
    const outcome = entry.outcome === null ? colors.dim("(end)") : colors.cyan(entry.outcome);
    const step = String(index + 1).padStart(3);
    out.push(
      `${step} ${mark} ${colors.bold(entry.activity)} ${colors.dim(entry.type)} → ${outcome} ${colors.dim(`${entry.durationMs.toFixed(1)} ms`)}`,
    );
    for (const line of detailLines(entry, colors)) out.push(`        ${line}`);
  });
  const paintStatus = colors[STATUS_COLOR[result.status]];
  const reason = result.reason ? ` (${result.reason})` : "";
  out.push("");
  out.push(
    `${paintStatus(result.status.toUpperCase())}${reason} at ${result.endedAt ?? "-"} after ${result.path.length} activities`,
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
