import { createHash } from "node:crypto";
import { escapeHtml } from "./escape.js";

const STYLE = `
:root { color-scheme: light; --ink: #1d2430; --muted: #667085; --line: #c5ccd6; --bg: #f7f8fa; --card: #fff;
  --ok: #1a7f37; --fail: #cf222e; --halt: #b25e00; --path: #2f6fde; --path-bg: #e8f0fe; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { padding: 16px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { margin: 0; font-size: 20px; } h2 { font-size: 17px; margin: 0 0 8px; } h3 { font-size: 14px; margin: 16px 0 6px; }
h4 { font-size: 13px; margin: 12px 0 4px; color: var(--muted); }
main { padding: 16px 24px 48px; }
.meta, .none, small { color: var(--muted); }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg); padding: 8px; border-radius: 4px; margin: 4px 0; }
.status { font-weight: 600; margin: 0 0 12px; } .status.completed { color: var(--ok); } .status.halted { color: var(--halt); }
.status.failed, .status.aborted { color: var(--fail); }
.run { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px; margin-bottom: 20px; }
.run-body { display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }
.graph-wrap { flex: 1 1 420px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; background: #fcfcfd; }
.side { flex: 1 1 340px; min-width: 300px; }
svg.flow-graph { display: block; max-width: 100%; height: auto; margin: 0 auto; font-family: system-ui, sans-serif; }
.node { cursor: pointer; outline: none; }
.node .shape { fill: #fff; stroke: #8a94a6; stroke-width: 1.2; }
.node .shape-inner { fill: none; stroke: #b4bcc8; stroke-width: 1; }
.node text { text-anchor: middle; pointer-events: none; }
.node text.id { font-size: 13px; font-weight: 600; fill: var(--ink); }
.node text.type { font-size: 11px; fill: var(--muted); }
.node.taken .shape { fill: var(--path-bg); stroke: var(--path); stroke-width: 2.4; }
.node.taken.failed .shape { stroke: var(--fail); fill: #ffebe9; }
.node.taken.halted .shape { stroke: var(--halt); fill: #fff1e0; stroke-dasharray: 5 3; }
.node.start .shape { stroke-width: 2.4; }
.node.selected .shape, .node:focus .shape { filter: drop-shadow(0 0 3px #2f6fde); }
.badge rect { fill: var(--path); } .badge text { fill: #fff; font-size: 11px; font-weight: 700; text-anchor: middle; }
.node.failed .badge rect { fill: var(--fail); } .node.halted .badge rect { fill: var(--halt); }
.edge path { fill: none; stroke: #a3acb9; stroke-width: 1.2; }
.edge.fallback path { stroke-dasharray: 4 3; }
.edge .label-bg { fill: #fcfcfd; } .edge text { font-size: 11px; fill: var(--muted); text-anchor: middle; }
.edge.taken path { stroke: var(--path); stroke-width: 2.6; } .edge.taken text { fill: var(--path); font-weight: 600; }
.arrow { fill: #a3acb9; } .arrow-taken { fill: var(--path); }
ol.steps { list-style: none; padding: 0; margin: 0; }
button.step { all: unset; display: block; width: 100%; padding: 3px 6px; border-radius: 4px; cursor: pointer; }
button.step:hover, button.step.selected, button.step:focus-visible { background: var(--path-bg); }
.mark { display: inline-block; width: 1.1em; }
.step.ok .mark, .step-detail.ok .mark { color: var(--ok); } .step.failed .mark, .step-detail.failed .mark { color: var(--fail); }
.step.halted .mark, .step-detail.halted .mark { color: var(--halt); }
.step .outcome, .step .ms { color: var(--muted); }
.details { margin-top: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
.step-detail h3 { margin-top: 4px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 4px 0; } dt { color: var(--muted); } dd { margin: 0; word-break: break-word; }
table { border-collapse: collapse; } th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; border-bottom: 1px solid #eef0f3; }
th { font-weight: 600; }
.error { color: var(--fail); white-space: pre-wrap; }
.summary { font-size: 16px; font-weight: 600; } .summary .passed { color: var(--ok); } .summary .failed { color: var(--fail); }
.case { margin-bottom: 28px; } .case > h2 .mark { font-size: 18px; } .case-passed > h2 .mark { color: var(--ok); } .case-failed > h2 .mark { color: var(--fail); }
table.compare { margin-bottom: 12px; }
ul.failures { color: var(--fail); margin: 4px 0 12px; } ul.failures li { white-space: pre-wrap; }
table.compare td, table.compare th { padding-right: 16px; } table.compare tr.mismatch td { background: #ffebe9; }
table.compare tr.mismatch th::before { content: "✗ "; color: var(--fail); } table.compare tr.match th::before { content: "✓ "; color: var(--ok); }
`;

/** Hover previews a step, click pins it; everything is scoped to its `.run`, so a page may hold many runs. */
const SCRIPT = `
(function () {
  document.querySelectorAll(".run").forEach(function (run) {
    var pinned = null;
    function show(selection) {
      run.querySelectorAll(".step-detail").forEach(function (section) {
        var match = selection !== null && (selection.step
          ? section.dataset.step === selection.step
          : section.dataset.activity === selection.activity);
        section.hidden = !match;
      });
      run.querySelector(".placeholder").hidden = selection !== null;
      run.querySelectorAll(".node").forEach(function (node) {
        node.classList.toggle("selected", selection !== null && node.dataset.activity === selection.activity);
      });
      run.querySelectorAll("button.step").forEach(function (button) {
        var match = selection !== null && (selection.step ? button.dataset.step === selection.step
          : button.dataset.activity === selection.activity);
        button.classList.toggle("selected", match);
      });
    }
    function selectionOf(element) {
      return { activity: element.dataset.activity, step: element.tagName === "BUTTON" ? element.dataset.step : null };
    }
    run.querySelectorAll(".node, button.step").forEach(function (element) {
      element.addEventListener("mouseenter", function () { show(selectionOf(element)); });
      element.addEventListener("mouseleave", function () { show(pinned); });
      element.addEventListener("click", function () { pinned = selectionOf(element); show(pinned); });
      element.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); pinned = selectionOf(element); show(pinned); }
      });
    });
  });
})();
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/**
 * A complete, self-contained page: inline style and script, no external reference. The Content-Security-Policy
 * allows exactly that style and that script (by hash) and no fetch of any kind, so a browser that opens the file
 * from disk loads nothing else, and an element smuggled into the content could not run or load anything.
 */
export function htmlPage(title: string, subtitle: string, body: string): string {
  const csp = `default-src 'none'; style-src ${sha256(STYLE)}; script-src ${sha256(SCRIPT)}; img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'`;
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    `<header><h1>${escapeHtml(title)}</h1><p class="meta">${escapeHtml(subtitle)}</p></header>`,
    `<main>${body}</main>`,
    `<script>${SCRIPT}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
