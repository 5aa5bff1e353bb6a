// The lineage of a session as a small graph: one node per stack (or per image of an expanded stack, or
// an image alone), placed left to right in generation order, an idea's line of descent kept on one
// lane; edges between nodes by relation. Also how a parent or child reads in the inspector. Plain
// logic, tested alone; LineageGraph.svelte only draws what `layoutGraph` says.

export type Relation = "img2img" | "inpaint" | "upscale" | "edit" | "reroll" | "sweep" | "derived";

/** An edge of GET /sessions/{id}/lineage. */
export interface SessionEdge {
  parent_id: string;
  child_id: string;
  relation: string;
  confidence: number;
  explicit: boolean;
}

/** A parent or child of GET /assets/{id}/lineage. */
export interface LineageLink {
  asset_id: string;
  relation: string;
  rule: string;
  evidence: string;
  confidence: number;
  explicit: boolean;
  thumbnail_url: string;
}

export const RELATION_TEXT: Record<string, string> = {
  img2img: "img2img",
  inpaint: "inpaint",
  upscale: "upscale",
  edit: "prompt edit",
  reroll: "reroll",
  sweep: "parameter sweep",
  derived: "derived copy",
};

/** Colour classes per relation (app.css defines them for light and dark). */
export function relationClass(relation: string): string {
  return `rel-${relation in RELATION_TEXT ? relation : "derived"}`;
}

export function relationText(relation: string): string {
  return RELATION_TEXT[relation] ?? relation;
}

/** "explicit" when the file says so; else how sure the rule is, in percent. */
export function confidenceText(link: { confidence: number; explicit: boolean }): string {
  const percent = `${Math.round(Math.max(0, Math.min(1, link.confidence)) * 100)}%`;
  return link.explicit ? `explicit, ${percent}` : `inferred, ${percent}`;
}

/** A node: a stack (several images) or one image. `id` is the stack id or the image's id. */
export interface GraphNode {
  id: string;
  /** the image it opens and shows */
  cover: string;
  members: string[];
  label: string;
  /** why a stack's images belong together ("10 variations of one idea: 9 rerolls") */
  detail?: string;
}

export interface NodeEdge {
  from: string;
  to: string;
  relation: string;
  /** how many image edges it stands for */
  count: number;
  confidence: number;
  explicit: boolean;
}

/** The image edges as edges between nodes: an edge inside one node is dropped (the stack says it);
 * several between the same two nodes with the same relation are one, counted, at the highest confidence. */
export function nodeEdges(edges: SessionEdge[], nodes: GraphNode[]): NodeEdge[] {
  const nodeOf = new Map<string, string>();
  for (const node of nodes) for (const id of node.members) nodeOf.set(id, node.id);
  const merged = new Map<string, NodeEdge>();
  for (const edge of edges) {
    const from = nodeOf.get(edge.parent_id);
    const to = nodeOf.get(edge.child_id);
    if (!from || !to || from === to) continue;
    const key = `${from} ${to} ${edge.relation}`;
    const seen = merged.get(key);
    if (seen) {
      seen.count += 1;
      seen.confidence = Math.max(seen.confidence, edge.confidence);
      seen.explicit ||= edge.explicit;
    } else merged.set(key, { from, to, relation: edge.relation, count: 1, ...pick(edge) });
  }
  return [...merged.values()];
}

function pick(edge: SessionEdge): { confidence: number; explicit: boolean } {
  return { confidence: edge.confidence, explicit: edge.explicit };
}

export interface Placed {
  id: string;
  x: number;
  y: number;
  lane: number;
  column: number;
}

export interface Layout {
  nodes: Map<string, Placed>;
  width: number;
  height: number;
}

export const COLUMN = 64;
export const LANE = 60;
export const RADIUS = 20;
const MARGIN = 30;

/**
 * Columns in generation order (one node a column, so time reads left to right); a node continues its
 * parent's lane when the parent is that lane's newest node (a line of descent stays straight); a node
 * with no parent here takes lane 0, the main line of the session; another child opens the lowest lane
 * whose newest node is older than its parent (so it does not cross a younger line), at most `maxLanes`.
 */
export function layoutGraph(nodes: GraphNode[], edges: NodeEdge[], maxLanes = 5): Layout {
  const column = new Map(nodes.map((n, i) => [n.id, i]));
  const parents = new Map<string, string[]>();
  for (const e of edges) {
    // an edge pointing back in time (a late parent's copy) still draws; it does not choose lanes
    if ((column.get(e.from) ?? 0) >= (column.get(e.to) ?? 0)) continue;
    parents.set(e.to, [...(parents.get(e.to) ?? []), e.from]);
  }
  const laneOf = new Map<string, number>();
  const tails: (number | undefined)[] = []; // each lane's newest node's column
  const placed = new Map<string, Placed>();
  nodes.forEach((node, i) => {
    const own = (parents.get(node.id) ?? [])
      .map((p) => ({ lane: laneOf.get(p)!, at: column.get(p)! }))
      .sort((a, b) => b.at - a.at);
    let lane = 0;
    const continued = own.find((p) => tails[p.lane] === p.at);
    if (continued) lane = continued.lane;
    else if (own.length) {
      const parentAt = own[0].at;
      lane = tails.findIndex((t, l) => l > 0 && (t === undefined || t < parentAt));
      if (lane < 0) lane = Math.min(tails.length || 1, maxLanes - 1);
    }
    laneOf.set(node.id, lane);
    tails[lane] = i;
    placed.set(node.id, { id: node.id, column: i, lane, x: MARGIN + i * COLUMN, y: MARGIN + lane * LANE });
  });
  const lanes = Math.max(1, ...[...placed.values()].map((p) => p.lane + 1));
  // room above for the arcs along a lane and their labels, below for the labels under straight lines
  const drawn = edges.flatMap((e) => {
    const from = placed.get(e.from);
    const to = placed.get(e.to);
    return from && to ? [{ from, to }] : [];
  });
  const above = Math.max(0, ...drawn.map(({ from, to }) => from.y - edgeLabel(from, to).y + 12 - MARGIN));
  const below = drawn.some(({ from, to }) => from.lane === to.lane && Math.abs(to.column - from.column) === 1)
    ? 10
    : 0;
  for (const p of placed.values()) p.y += above;
  return {
    nodes: placed,
    width: MARGIN * 2 + Math.max(0, nodes.length - 1) * COLUMN,
    height: MARGIN * 2 + (lanes - 1) * LANE + above + below,
  };
}

function lift(from: Placed, to: Placed): number {
  return Math.min(RADIUS * 2.2, 10 + Math.abs(to.column - from.column) * 4);
}

/** Where an edge's label goes: under a straight line between neighbours (no room between them),
 * over the top of an arc, at the middle of a curve between lanes. */
export function edgeLabel(from: Placed, to: Placed): { x: number; y: number } {
  const x = (from.x + to.x) / 2;
  if (from.lane !== to.lane) return { x, y: (from.y + to.y) / 2 - 4 };
  if (Math.abs(to.column - from.column) === 1) return { x, y: from.y + RADIUS + 10 };
  return { x, y: from.y - RADIUS - lift(from, to) - 4 };
}

/** The SVG path of an edge: a straight line between neighbours, else an arc above the nodes it jumps. */
export function edgePath(from: Placed, to: Placed): string {
  if (from.lane === to.lane && Math.abs(to.column - from.column) > 1) {
    const mid = (from.x + to.x) / 2;
    const top = from.y - RADIUS - lift(from, to) * 2; // the control point: the arc's top is half as high
    return `M ${from.x} ${from.y - RADIUS} Q ${mid} ${top} ${to.x} ${to.y - RADIUS}`;
  }
  if (from.lane === to.lane) return `M ${from.x + RADIUS} ${from.y} L ${to.x - RADIUS} ${to.y}`;
  const dx = (to.x - from.x) / 2;
  return `M ${from.x} ${from.y} C ${from.x + dx} ${from.y} ${to.x - dx} ${to.y} ${to.x} ${to.y}`;
}

/** A short label for an image or a stack from its prompt: its first few words. */
export function shortPrompt(prompt: string | null | undefined, words = 4): string {
  const list = (prompt ?? "")
    .replace(/[(),[\]{}<>:|]+/g, " ")
    .split(/\s+/)
    .filter(Boolean);
  if (!list.length) return "no prompt";
  return list.length > words ? `${list.slice(0, words).join(" ")}…` : list.join(" ");
}
