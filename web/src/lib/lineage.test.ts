import { describe, expect, it } from "vitest";
import {
  confidenceText,
  edgeLabel,
  edgePath,
  layoutGraph,
  nodeEdges,
  relationClass,
  relationText,
  shortPrompt,
  type GraphNode,
  type SessionEdge,
} from "./lineage";

const node = (id: string, members = [id]): GraphNode => ({ id, cover: members[0], members, label: id });
const edge = (parent_id: string, child_id: string, relation = "img2img", confidence = 0.9): SessionEdge => ({
  parent_id,
  child_id,
  relation,
  confidence,
  explicit: false,
});

describe("node edges", () => {
  it("drops edges inside a stack and merges parallel ones", () => {
    const nodes = [node("s1", ["a", "b"]), node("s2", ["c", "d"])];
    const edges = nodeEdges(
      [
        edge("a", "b", "reroll"),
        edge("a", "c", "img2img", 0.7),
        edge("b", "d", "img2img", 0.95),
        edge("x", "c"),
      ],
      nodes,
    );
    expect(edges).toEqual([
      { from: "s1", to: "s2", relation: "img2img", count: 2, confidence: 0.95, explicit: false },
    ]);
  });
});

describe("graph layout", () => {
  it("places nodes left to right in time; a line of descent stays on its lane", () => {
    const nodes = ["a", "b", "c", "d"].map((id) => node(id));
    const edges = nodeEdges([edge("a", "b"), edge("b", "c")], nodes);
    const layout = layoutGraph(nodes, edges);
    const at = (id: string) => layout.nodes.get(id)!;
    expect([at("a").column, at("b").column, at("c").column, at("d").column]).toEqual([0, 1, 2, 3]);
    expect([at("a").lane, at("b").lane, at("c").lane, at("d").lane]).toEqual([0, 0, 0, 0]);
    expect(at("b").x).toBeGreaterThan(at("a").x);
    expect(layout.width).toBeGreaterThan(at("d").x);
    expect(layout.height).toBeGreaterThan(at("a").y);
  });
  it("a second child branches to a new lane, not across the first", () => {
    const nodes = ["a", "b", "c", "d"].map((id) => node(id));
    const edges = nodeEdges([edge("a", "b"), edge("a", "c", "upscale"), edge("c", "d")], nodes);
    const layout = layoutGraph(nodes, edges);
    const lanes = ["a", "b", "c", "d"].map((id) => layout.nodes.get(id)!.lane);
    expect(lanes).toEqual([0, 0, 1, 1]);
  });
  it("never opens more than maxLanes lanes", () => {
    const nodes = ["r", "a", "b", "c", "d", "e"].map((id) => node(id));
    const edges = nodeEdges(
      ["a", "b", "c", "d", "e"].map((id) => edge("r", id)),
      nodes,
    );
    const layout = layoutGraph(nodes, edges, 3);
    expect(Math.max(...[...layout.nodes.values()].map((p) => p.lane))).toBe(2);
  });
  it("survives an edge back in time and an empty session", () => {
    const nodes = ["a", "b"].map((id) => node(id));
    expect(layoutGraph(nodes, nodeEdges([edge("b", "a")], nodes)).nodes.size).toBe(2);
    expect(layoutGraph([], []).nodes.size).toBe(0);
  });
  it("draws jumps along a lane as arcs and neighbours as lines", () => {
    const p = (column: number, lane: number) => ({ id: "", column, lane, x: column * 64, y: lane * 60 });
    expect(edgePath(p(0, 0), p(1, 0))).toMatch(/^M .* L /);
    expect(edgePath(p(0, 0), p(3, 0))).toMatch(/ Q /);
    expect(edgePath(p(0, 0), p(1, 1))).toMatch(/ C /);
  });
});

describe("edge labels", () => {
  const p = (column: number, lane: number) => ({ id: "", column, lane, x: column * 64, y: 100 + lane * 60 });
  it("go under a line between neighbours, over an arc, mid-way between lanes", () => {
    expect(edgeLabel(p(0, 0), p(1, 0)).y).toBeGreaterThan(100);
    expect(edgeLabel(p(0, 0), p(3, 0)).y).toBeLessThan(100 - 20);
    expect(edgeLabel(p(0, 0), p(1, 1))).toEqual({ x: 32, y: 126 });
  });
  it("the layout leaves room for them inside the picture", () => {
    const nodes = ["a", "b", "c", "d"].map((id) => node(id));
    const layout = layoutGraph(nodes, nodeEdges([edge("a", "b"), edge("a", "d")], nodes));
    const at = (id: string) => layout.nodes.get(id)!;
    expect(edgeLabel(at("a"), at("d")).y).toBeGreaterThan(0);
    expect(edgeLabel(at("a"), at("b")).y).toBeLessThan(layout.height);
  });
});

describe("how a link reads", () => {
  it("names relations and confidence", () => {
    expect(relationText("sweep")).toBe("parameter sweep");
    expect(relationText("unknown")).toBe("unknown");
    expect(relationClass("upscale")).toBe("rel-upscale");
    expect(relationClass("weird")).toBe("rel-derived");
    expect(confidenceText({ confidence: 0.934, explicit: false })).toBe("inferred, 93%");
    expect(confidenceText({ confidence: 1, explicit: true })).toBe("explicit, 100%");
  });
  it("labels a node with its prompt's first words", () => {
    expect(shortPrompt("a (lighthouse:1.2) at dusk, golden hour")).toBe("a lighthouse 1.2 at…");
    expect(shortPrompt("")).toBe("no prompt");
    expect(shortPrompt("red fox")).toBe("red fox");
  });
});
