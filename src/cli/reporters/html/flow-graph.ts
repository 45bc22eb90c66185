import dagre from "@dagrejs/dagre";
import type { RunResult } from "../../../engine/result.js";

/** An activity of the flow as the report draws it. */
export interface GraphNode {
  readonly id: string;
  readonly type: string;
  /** 1-based positions in the run's path where this activity executed (empty when not reached). */
  readonly steps: number[];
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A link between two activities, labelled with the outcome that takes it. */
export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly outcome: string;
  /** `next` and `cases` come from the flow; `fallback` is a link the run took by a fallback (onError, timeout -> error). */
  readonly kind: "next" | "case" | "fallback";
  /** The transitions of the run along this link, by the step number of their source activity. */
  readonly order: number[];
  readonly points: readonly { x: number; y: number }[];
  readonly labelX: number;
  readonly labelY: number;
}

export interface FlowGraph {
  readonly width: number;
  readonly height: number;
  readonly start: string | undefined;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

interface Link {
  from: string;
  to: string;
  outcome: string;
  kind: GraphEdge["kind"];
  order: number[];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The links a flow document declares: `next` of every activity and the `cases` of `case` activities. */
function declaredLinks(activities: Record<string, unknown>): Link[] {
  const links: Link[] = [];
  for (const [from, activity] of Object.entries(activities)) {
    if (!isRecord(activity)) continue;
    const add = (map: unknown, kind: Link["kind"], label: (key: string) => string) => {
      if (!isRecord(map)) return;
      for (const [key, to] of Object.entries(map))
        if (typeof to === "string" && Object.hasOwn(activities, to))
          links.push({ from, to, outcome: label(key), kind, order: [] });
    };
    if (activity.type === "case") add(activity.cases, "case", (value) => `= ${value}`);
    add(activity.next, "next", (outcome) => outcome);
  }
  return links;
}

/** Marks the links the run took, in order; a transition no declared link explains gets a fallback link. */
function markTaken(links: Link[], result: RunResult | undefined): void {
  if (!result) return;
  for (let index = 0; index + 1 < result.path.length; index++) {
    const from = result.path[index]!;
    const to = result.path[index + 1]!;
    const outcome = result.trace[index]?.outcome ?? "default";
    const between = links.filter((link) => link.from === from && link.to === to);
    const link =
      between.find((candidate) => candidate.outcome === outcome || candidate.outcome === `= ${outcome}`) ??
      between.find((candidate) => candidate.kind === "fallback" && candidate.outcome === outcome) ??
      (between.length === 1 ? between[0] : undefined);
    if (link) link.order.push(index + 1);
    else links.push({ from, to, outcome, kind: "fallback", order: [index + 1] });
  }
}

/** Width of a label in px at the report's 12px font (no DOM at generation time: an estimate that errs wide). */
export function textWidth(text: string, fontPx = 12): number {
  return Math.ceil([...text].length * fontPx * 0.62);
}

const NODE_HEIGHT = 46;
const NODE_PADDING = 28;

/** Node size by type: conditions are diamonds and need more room around the same text. */
function nodeSize(id: string, type: string): { width: number; height: number } {
  const width = Math.max(textWidth(id, 13), textWidth(type, 11)) + NODE_PADDING;
  if (type === "condition" || type === "case")
    return { width: Math.max(110, width * 1.5), height: NODE_HEIGHT + 24 };
  return { width: Math.max(90, width), height: NODE_HEIGHT };
}

/**
 * The flow's graph laid out top to bottom by dagre, with the run's path on it. `document` is a flow document that
 * compiled (the report is written after a run), read defensively all the same.
 */
export function layOutFlow(document: unknown, result: RunResult | undefined): FlowGraph {
  const flow = isRecord(document) ? document : {};
  const activities = isRecord(flow.activities) ? flow.activities : {};
  const links = declaredLinks(activities);
  markTaken(links, result);

  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: "TB", nodesep: 36, ranksep: 56, edgesep: 16, marginx: 16, marginy: 16 });
  graph.setDefaultEdgeLabel(() => ({}));
  const types = new Map<string, string>();
  for (const [id, activity] of Object.entries(activities)) {
    const type = isRecord(activity) && typeof activity.type === "string" ? activity.type : "?";
    types.set(id, type);
    graph.setNode(id, nodeSize(id, type));
  }
  links.forEach((link, index) => {
    const label = edgeLabel(link);
    graph.setEdge(
      link.from,
      link.to,
      { width: textWidth(label, 11) + 8, height: 16, labelpos: "c" },
      `e${index}`,
    );
  });
  dagre.layout(graph);

  const steps = new Map<string, number[]>();
  result?.path.forEach((id, index) => {
    steps.set(id, [...(steps.get(id) ?? []), index + 1]);
  });
  const nodes: GraphNode[] = [...types].map(([id, type]) => {
    const laid = graph.node(id) as { x: number; y: number; width: number; height: number };
    return {
      id,
      type,
      steps: steps.get(id) ?? [],
      x: laid.x,
      y: laid.y,
      width: laid.width,
      height: laid.height,
    };
  });
  const edges: GraphEdge[] = links.map((link, index) => {
    const laid = graph.edge(link.from, link.to, `e${index}`) as {
      points: { x: number; y: number }[];
      x: number;
      y: number;
    };
    return { ...link, points: laid.points, labelX: laid.x, labelY: laid.y };
  });
  const size = graph.graph() as { width?: number; height?: number };
  return {
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    start: typeof flow.start === "string" ? flow.start : undefined,
    nodes,
    edges,
  };
}

/** What an edge says: the outcome that takes it (a fallback link says so). */
export function edgeLabel(link: Pick<GraphEdge, "outcome" | "kind">): string {
  return link.kind === "fallback" ? `${link.outcome} (fallback)` : link.outcome;
}
