import { escapeHtml } from "./escape.js";
import { edgeLabel, type FlowGraph, type GraphEdge, type GraphNode, textWidth } from "./flow-graph.js";

/** How an executed activity ended, for its colour: the state of its last execution. */
export type NodeState = "ok" | "failed" | "halted";

const round = (value: number) => Math.round(value * 10) / 10;

/** The outline of a node, shaped by its activity type so a reader tells decisions, calls and ends apart. */
function nodeShape(node: GraphNode): string {
  const { x, y } = node;
  const w = node.width / 2;
  const h = node.height / 2;
  const points = (list: [number, number][]) =>
    `<polygon class="shape" points="${list.map(([px, py]) => `${round(px)},${round(py)}`).join(" ")}"/>`;
  const rect = (rx: number, extra = "") =>
    `<rect class="shape${extra}" x="${round(x - w)}" y="${round(y - h)}" width="${round(node.width)}" height="${round(node.height)}" rx="${rx}"/>`;
  switch (node.type) {
    case "condition":
      return points([
        [x, y - h],
        [x + w, y],
        [x, y + h],
        [x - w, y],
      ]);
    case "case":
      return points([
        [x - w + 16, y - h],
        [x + w - 16, y - h],
        [x + w, y],
        [x + w - 16, y + h],
        [x - w + 16, y + h],
        [x - w, y],
      ]);
    case "http-request":
      // A double outline: the one activity that talks to the outside world.
      return `${rect(4)}<rect class="shape-inner" x="${round(x - w + 4)}" y="${round(y - h + 4)}" width="${round(node.width - 8)}" height="${round(node.height - 8)}" rx="2"/>`;
    case "menu":
    case "play-message":
      return rect(h);
    case "queue-contact":
    case "blind-transfer":
      return points([
        [x - w + 10, y - h],
        [x + w, y - h],
        [x + w - 10, y + h],
        [x - w, y + h],
      ]);
    case "end-flow":
    case "disconnect-contact":
      return `<ellipse class="shape" cx="${round(x)}" cy="${round(y)}" rx="${round(w)}" ry="${round(h)}"/>`;
    default:
      return rect(2);
  }
}

/** The step numbers of an executed node, in a badge at its top-left corner. */
function badge(node: GraphNode): string {
  if (node.steps.length === 0) return "";
  const text = node.steps.join(", ");
  const width = Math.max(20, textWidth(text, 11) + 10);
  const x = node.x - node.width / 2 - 6;
  const y = node.y - node.height / 2 - 10;
  return `<g class="badge"><rect x="${round(x)}" y="${round(y)}" width="${width}" height="18" rx="9"/><text x="${round(x + width / 2)}" y="${round(y + 13)}">${escapeHtml(text)}</text></g>`;
}

function nodeSvg(node: GraphNode, state: NodeState | undefined, isStart: boolean): string {
  const classes = ["node", `type-${node.type.replace(/[^a-z0-9-]/gi, "_")}`];
  if (node.steps.length > 0) classes.push("taken", state ?? "ok");
  if (isStart) classes.push("start");
  const label = `${node.id} (${node.type})${node.steps.length ? `, step ${node.steps.join(", ")}` : ", not reached"}`;
  return [
    `<g class="${classes.join(" ")}" data-activity="${escapeHtml(node.id)}" data-steps="${node.steps.join(" ")}" tabindex="0" role="button" aria-label="${escapeHtml(label)}">`,
    `<title>${escapeHtml(label)}</title>`,
    nodeShape(node),
    `<text class="id" x="${round(node.x)}" y="${round(node.y - 2)}">${escapeHtml(node.id)}</text>`,
    `<text class="type" x="${round(node.x)}" y="${round(node.y + 13)}">${escapeHtml(node.type)}</text>`,
    badge(node),
    "</g>",
  ].join("");
}

/** A smooth path through dagre's points: straight to the first, then quadratic curves through the midpoints. */
function edgePath(points: GraphEdge["points"]): string {
  if (points.length === 0) return "";
  const [first, ...rest] = points;
  let d = `M${round(first!.x)},${round(first!.y)}`;
  for (let index = 0; index < rest.length - 1; index++) {
    const point = rest[index]!;
    const next = rest[index + 1]!;
    d += ` Q${round(point.x)},${round(point.y)} ${round((point.x + next.x) / 2)},${round((point.y + next.y) / 2)}`;
  }
  const last = rest.at(-1);
  if (last) d += ` L${round(last.x)},${round(last.y)}`;
  return d;
}

function edgeSvg(edge: GraphEdge, idPrefix: string): string {
  const taken = edge.order.length > 0;
  const classes = ["edge", edge.kind, ...(taken ? ["taken"] : [])].join(" ");
  const label = edgeLabel(edge);
  const width = textWidth(label, 11) + 8;
  return [
    `<g class="${classes}" data-from="${escapeHtml(edge.from)}" data-to="${escapeHtml(edge.to)}" data-outcome="${escapeHtml(edge.outcome)}" data-order="${edge.order.join(" ")}">`,
    `<path d="${edgePath(edge.points)}" marker-end="url(#${idPrefix}arrow${taken ? "-taken" : ""})"/>`,
    `<rect class="label-bg" x="${round(edge.labelX - width / 2)}" y="${round(edge.labelY - 8)}" width="${width}" height="16" rx="3"/>`,
    `<text x="${round(edge.labelX)}" y="${round(edge.labelY + 4)}">${escapeHtml(label)}</text>`,
    "</g>",
  ].join("");
}

/**
 * The flow graph as inline SVG: nodes shaped by type, links labelled by outcome, the run's path highlighted.
 * `idPrefix` keeps the markers' ids unique when a page holds several graphs.
 */
export function graphSvg(graph: FlowGraph, states: ReadonlyMap<string, NodeState>, idPrefix: string): string {
  const width = Math.max(graph.width, 120);
  const height = Math.max(graph.height, 60);
  return [
    `<svg class="flow-graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="group" aria-label="flow graph">`,
    "<defs>",
    `<marker id="${idPrefix}arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow"/></marker>`,
    `<marker id="${idPrefix}arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-taken"/></marker>`,
    "</defs>",
    // Untaken edges first, so the highlighted path is drawn over them.
    ...[...graph.edges]
      .sort((a, b) => a.order.length - b.order.length)
      .map((edge) => edgeSvg(edge, idPrefix)),
    ...graph.nodes.map((node) => nodeSvg(node, states.get(node.id), node.id === graph.start)),
    "</svg>",
  ].join("\n");
}
