import { describe, expect, it } from "vitest";
import {
  afterFlag,
  flagForKey,
  flagSuffix,
  isTyping,
  keeperQuery,
  keeperView,
  stackTiles,
  type Stack,
} from "./curation";

const a = (id: string, flag: "pick" | "reject" | null = null) => ({ asset_id: id, flag });

function stack(id: string, members: string[], cover = members.at(-1)!): Stack {
  return {
    stack_id: id,
    cover_asset_id: cover,
    asset_ids: members,
    size: members.length,
    manual: false,
    reason: "same prompt",
  };
}

describe("flag keys", () => {
  it("P picks, X rejects, U clears, in either case", () => {
    expect(flagForKey("p")).toBe("pick");
    expect(flagForKey("P")).toBe("pick");
    expect(flagForKey("x")).toBe("reject");
    expect(flagForKey("u")).toBeNull();
  });
  it("ignores other keys and modified keys (Ctrl+P prints, Cmd+X cuts)", () => {
    expect(flagForKey("a")).toBeUndefined();
    expect(flagForKey("ArrowUp")).toBeUndefined();
    expect(flagForKey("Unidentified")).toBeUndefined();
    expect(flagForKey("p", { ctrlKey: true })).toBeUndefined();
    expect(flagForKey("x", { metaKey: true })).toBeUndefined();
    expect(flagForKey("u", { altKey: true })).toBeUndefined();
  });
  it("a key in a text field is typing", () => {
    document.body.innerHTML = `<input id="i"><button id="b"></button><div contenteditable="true"><span id="s">x</span></div>`;
    expect(isTyping(document.getElementById("i"))).toBe(true);
    expect(isTyping(document.getElementById("b"))).toBe(false);
    expect(isTyping(document.getElementById("s"))).toBe(true);
    expect(isTyping(null)).toBe(false);
  });
  it("a tile's name says its flag", () => {
    expect(flagSuffix("pick")).toBe(", picked");
    expect(flagSuffix("reject")).toBe(", rejected");
    expect(flagSuffix(null)).toBe("");
  });
});

describe("stack tiles", () => {
  const assets = ["a", "b", "c", "d", "e"].map((id) => a(id));
  const stacks = [stack("s1", ["a", "c", "d"], "c"), stack("s2", ["b"]), stack("s3", ["e"])];

  it("a collapsed stack is one tile at its first member's place, showing its cover", () => {
    const tiles = stackTiles(assets, stacks, new Set());
    expect(tiles.map((t) => t.asset.asset_id)).toEqual(["c", "b", "e"]);
    expect(tiles[0].members.map((m) => m.asset_id)).toEqual(["a", "c", "d"]);
    expect(tiles[0].stack?.stack_id).toBe("s1");
    expect(tiles[1].stack).toBeNull(); // a stack of one is an image alone
  });
  it("an expanded stack's members follow one another in place", () => {
    const tiles = stackTiles(assets, stacks, new Set(["s1"]));
    expect(tiles.map((t) => t.asset.asset_id)).toEqual(["a", "c", "d", "b", "e"]);
    expect(tiles.map((t) => t.leads)).toEqual([true, false, false, false, false]);
    expect(tiles.slice(0, 3).every((t) => t.expanded)).toBe(true);
  });
  it("counts only the members on the page; a hidden cover gives way to the last shown", () => {
    const shown = [a("a"), a("b"), a("d"), a("e")]; // c rejected and hidden
    const tiles = stackTiles(shown, stacks, new Set());
    expect(tiles.map((t) => t.asset.asset_id)).toEqual(["d", "b", "e"]);
    expect(tiles[0].members).toHaveLength(2);
    const alone = stackTiles([a("a"), a("b")], stacks, new Set());
    expect(alone.map((t) => t.stack)).toEqual([null, null]);
  });
  it("images the stacks do not know yet are shown alone", () => {
    const tiles = stackTiles([...assets, a("new")], stacks, new Set());
    expect(tiles.at(-1)?.asset.asset_id).toBe("new");
  });
});

describe("after a flag", () => {
  const list = [a("a"), a("b"), a("c", "pick")];
  it("a reject leaves the page unless rejects are shown", () => {
    const view = { only: null, showRejected: false };
    expect(afterFlag(list, "a", "reject", view).map((x) => x.asset_id)).toEqual(["b", "c"]);
    const shown = afterFlag(list, "a", "reject", { ...view, showRejected: true });
    expect(shown[0]).toEqual({ asset_id: "a", flag: "reject" });
  });
  it("a pick stays; clearing a pick on a keepers-only page takes it out", () => {
    expect(afterFlag(list, "b", "pick", { only: null, showRejected: false })[1].flag).toBe("pick");
    const keepers = afterFlag(list, "c", null, { only: "pick", showRejected: false });
    expect(keepers.map((x) => x.asset_id)).toEqual(["a", "b"]);
  });
  it("on a rejects-only page, a reject stays and anything else leaves", () => {
    const rejects = [a("r", "reject"), a("s", "reject")];
    const view = { only: "reject" as const, showRejected: false };
    expect(afterFlag(rejects, "r", "pick", view).map((x) => x.asset_id)).toEqual(["s"]);
    expect(afterFlag(rejects, "s", null, view).map((x) => x.asset_id)).toEqual(["r"]);
    expect(afterFlag(rejects, "s", "reject", view)).toHaveLength(2);
  });
  it("puts a view in the address as the API takes it", () => {
    expect(keeperQuery({ only: null, showRejected: false })).toEqual({});
    expect(keeperQuery({ only: null, showRejected: true })).toEqual({ include_rejected: true });
    expect(keeperQuery({ only: "reject", showRejected: true })).toEqual({ flag: "reject" });
    expect(keeperView({ flag: "reject" })).toEqual({ only: "reject", showRejected: false });
    expect(keeperView({ include_rejected: true })).toEqual({ only: null, showRejected: true });
  });
});
