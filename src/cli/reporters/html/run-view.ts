import type { RunResult } from "../../../engine/result.js";
import { escapeHtml, escapeJson } from "./escape.js";
import { layOutFlow } from "./flow-graph.js";
import { graphSvg, type NodeState } from "./graph-svg.js";
import { stepDetails, stepList, stepState } from "./step-details.js";

export interface RunViewInput {
  /** Unique within the page (ids of the graph's markers). */
  readonly key: string;
  /** The flow document that ran (it compiled). */
  readonly flowDocument: unknown;
  readonly result: RunResult;
}

function statusLine(result: RunResult): string {
  const reason = result.reason ? ` (${result.reason})` : "";
  const where = result.endedAt ?? "-";
  const count = result.path.length;
  const error =
    result.error && result.status !== "completed" ? `<br>${escapeHtml(result.error.message)}` : "";
  return `<p class="status ${result.status}">${escapeHtml(result.status.toUpperCase() + reason)} at ${escapeHtml(where)} after ${count} activit${count === 1 ? "y" : "ies"}${error}</p>`;
}

function variablesTable(variables: Record<string, unknown>): string {
  const rows = Object.entries(variables).map(
    ([name, value]) => `<tr><th>${escapeHtml(name)}</th><td><code>${escapeJson(value)}</code></td></tr>`,
  );
  return rows.length > 0
    ? `<table class="variables">${rows.join("")}</table>`
    : '<p class="none">no variables</p>';
}

function actionsList(actions: RunResult["actions"]): string {
  if (actions.length === 0) return '<p class="none">no call actions</p>';
  const items = actions.map((action) => {
    const { type, activity, ...rest } = action;
    const fields = Object.keys(rest).length > 0 ? ` <code>${escapeJson(rest)}</code>` : "";
    return `<li><strong>${escapeHtml(type)}</strong> <small>(${escapeHtml(activity)})</small>${fields}</li>`;
  });
  return `<ol class="actions">${items.join("")}</ol>`;
}

/** One run: the graph with its path, the steps with their details, then the variables and actions. */
export function runView({ key, flowDocument, result }: RunViewInput): string {
  const graph = layOutFlow(flowDocument, result);
  const states = new Map<string, NodeState>();
  result.trace.forEach((entry, index) => {
    states.set(entry.activity, stepState(entry, index, result));
  });
  const unreached = graph.nodes
    .filter((node) => node.steps.length === 0)
    .map(
      (node) =>
        `<section class="step-detail unreached" data-activity="${escapeHtml(node.id)}" hidden><h3>${escapeHtml(node.id)} <small>${escapeHtml(node.type)}</small></h3><p>not reached in this run</p></section>`,
    );
  return [
    `<div class="run" data-run="${escapeHtml(key)}">`,
    statusLine(result),
    '<div class="run-body">',
    `<div class="graph-wrap">${graphSvg(graph, states, `${key}-`)}</div>`,
    '<div class="side">',
    "<h3>steps</h3>",
    stepList(result),
    '<div class="details" aria-live="polite"><p class="placeholder">Hover or click a step or an activity to see what it did.</p>',
    ...result.trace.map((entry, index) => stepDetails(entry, index, result)),
    ...unreached,
    "</div>",
    "</div>",
    "</div>",
    "<h3>variables</h3>",
    variablesTable(result.variables),
    "<h3>actions</h3>",
    actionsList(result.actions),
    "</div>",
  ].join("\n");
}
