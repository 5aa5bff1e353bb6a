import { fireEvent, render, screen, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import ChangeStrip from "./ChangeStrip.svelte";
import FlagButtons from "./FlagButtons.svelte";
import LineageGraph from "./LineageGraph.svelte";
import LineageList from "./LineageList.svelte";

describe("FlagButtons", () => {
  it("shows the flag in words and as the pressed button; each button sets its flag", async () => {
    const onflag = vi.fn();
    render(FlagButtons, { flag: "reject", onflag });
    const group = screen.getByRole("group", { name: "Flag" });
    expect(group.textContent).toContain("Rejected");
    expect(screen.getByRole("button", { name: "Reject" }).getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByRole("button", { name: "Pick" }).getAttribute("aria-pressed")).toBe("false");
    await fireEvent.click(screen.getByRole("button", { name: "Pick" }));
    await fireEvent.click(screen.getByRole("button", { name: "Clear flag" }));
    expect(onflag.mock.calls).toEqual([["pick"], [null]]);
  });
  it("has nothing to clear when unflagged", () => {
    render(FlagButtons, { flag: null, onflag: () => {} });
    expect(screen.getByRole("group", { name: "Flag" }).textContent).toContain("Not flagged");
    expect((screen.getByRole("button", { name: "Clear flag" }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe("LineageList", () => {
  it("lists each parent with relation, evidence and confidence, and opens it", async () => {
    const onopen = vi.fn();
    render(LineageList, {
      title: "Parents",
      links: [
        {
          asset_id: "p1",
          relation: "img2img",
          rule: "a1111-init-hash",
          evidence: "Init image hash 1a2b matches p1.png",
          confidence: 1,
          explicit: true,
          thumbnail_url: "/t/p1",
        },
      ],
      name: (id: string) => `${id}.png`,
      onopen,
    });
    const list = screen.getByRole("list", { name: "Parents" });
    const button = within(list).getByRole("button", {
      name: "Open p1.png: img2img, explicit, 100%. Init image hash 1a2b matches p1.png",
    });
    expect(button.textContent).toContain("Init image hash 1a2b matches p1.png");
    await fireEvent.click(button);
    expect(onopen).toHaveBeenCalledWith("p1");
  });
  it("says when there is none", () => {
    render(LineageList, { title: "Children", links: [], name: () => "", onopen: () => {} });
    expect(screen.queryByRole("list")).toBeNull();
    expect(document.body.textContent).toContain("Nothing made from it yet.");
  });
});

describe("ChangeStrip", () => {
  it("is a list of steps, each named by what changed and opening its image", async () => {
    const onopen = vi.fn();
    render(ChangeStrip, {
      steps: [
        {
          asset_id: "b",
          previous_asset_id: "a",
          prompt_added: ["lighthouse"],
          prompt_removed: [],
          parameters: [{ name: "cfg", before: 5, after: 7 }],
          model: null,
          loras_added: [],
          loras_removed: [],
        },
      ],
      onopen,
    });
    const list = screen.getByRole("list", { name: "Changes between generations" });
    const step = within(list).getByRole("button", {
      name: "Open the image where: Added lighthouse; CFG 5 → 7",
    });
    expect(step.textContent).toContain("+lighthouse");
    expect(step.textContent).toContain("CFG 5 → 7");
    await fireEvent.click(step);
    expect(onopen).toHaveBeenCalledWith("b");
  });
  it("draws nothing for a session with no change", () => {
    render(ChangeStrip, { steps: [], onopen: () => {} });
    expect(screen.queryByRole("list")).toBeNull();
  });
});

describe("LineageGraph", () => {
  const nodes = [
    { id: "s1", cover: "a", members: ["a", "b"], label: "stack of 2: red fox" },
    { id: "c", cover: "c", members: ["c"], label: "c.png: red fox upscaled" },
  ];
  const edges = [
    { parent_id: "b", child_id: "c", relation: "upscale", confidence: 0.99, explicit: true },
    { parent_id: "a", child_id: "b", relation: "reroll", confidence: 0.9, explicit: false },
  ];

  it("draws a node per stack or image; Enter or a click opens its cover", async () => {
    const onopen = vi.fn();
    render(LineageGraph, { nodes, edges, onopen });
    const graph = screen.getByRole("group", { name: "Lineage graph" });
    const buttons = within(graph).getAllByRole("button");
    expect(buttons.map((b) => b.getAttribute("aria-label"))).toEqual([
      "Open stack of 2: red fox",
      "Open c.png: red fox upscaled",
    ]);
    await fireEvent.click(buttons[1]);
    await fireEvent.keyDown(buttons[0], { key: "Enter" });
    expect(onopen.mock.calls).toEqual([["c"], ["a"]]);
  });
  it("says its links in a list: the edge inside the stack is the stack's, not the graph's", () => {
    render(LineageGraph, { nodes, edges, onopen: () => {} });
    const items = within(screen.getByRole("list", { name: "Lineage links" })).getAllByRole("listitem");
    expect(items.map((li) => li.textContent?.replace(/\s+/g, " ").trim())).toEqual([
      "stack of 2: red fox → upscale → c.png: red fox upscaled",
    ]);
  });
});
