import { describe, expect, it } from "vitest";
import {
  canReflect,
  cited,
  creditsText,
  insufficient,
  isRunning,
  latestCompleted,
  phase,
  quoteStale,
  reflectLabel,
  writtenBy,
  type Reflection,
} from "./reflection";

function reflection(status: string, id = status): Reflection {
  return {
    reflection_id: id,
    session_id: "s",
    status,
    model: "builtin",
    curator: "builtin",
    summary: null,
    summary_statements: [],
    style_patterns: [],
    evolution_notes: [],
    facts: [],
    credits_reserved: 2,
    credits_charged: null,
    error: null,
    created_at: "2026-01-01T00:00:00Z",
    completed_at: null,
  };
}

describe("the Reflect button", () => {
  it("shows the price once quoted", () => {
    expect(reflectLabel({ credits: 2 })).toBe("Reflect on this session · 2 credits");
    expect(reflectLabel({ credits: 1 })).toBe("Reflect on this session · 1 credit");
    expect(reflectLabel(null)).toBe("Reflect on this session");
  });
  it("asks a quote again shortly before it expires", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(quoteStale({ expires_at: "2026-01-01T12:15:00+00:00" }, now)).toBe(false);
    expect(quoteStale({ expires_at: "2026-01-01T12:00:30+00:00" }, now)).toBe(true);
    expect(quoteStale({ expires_at: "2026-01-01T11:59:00+00:00" }, now)).toBe(true);
    expect(quoteStale({ expires_at: "not a time" }, now)).toBe(true);
  });
  it("is offered from 50 images", () => {
    expect(canReflect(49)).toBe(false);
    expect(canReflect(50)).toBe(true);
  });
  it("counts credits in English", () => {
    expect(creditsText(1500)).toBe("1,500 credits");
  });
});

describe("insufficient", () => {
  const packs = [{ id: "starter", name: "Starter", credits: 100, price: "$5.00" }];
  it("reads the 402 problem", () => {
    const body = {
      type: "https://atelier.example/problems/insufficient-credits",
      balance: 0,
      available: 0,
      price: 2,
      packs,
    };
    expect(insufficient(body)).toEqual({ price: 2, available: 0, balance: 0, packs });
  });
  it("ignores other errors", () => {
    expect(insufficient({ detail: "the quote expired: ask for a new one" })).toBeNull();
    expect(insufficient(undefined)).toBeNull();
    expect(insufficient("402")).toBeNull();
  });
  it("takes a missing available from the balance and a missing list as none", () => {
    expect(insufficient({ type: "x/insufficient-credits", balance: 1, price: 2 })).toEqual({
      price: 2,
      available: 1,
      balance: 1,
      packs: [],
    });
  });
});

describe("status", () => {
  it("runs while pending or running", () => {
    expect(isRunning(reflection("pending"))).toBe(true);
    expect(isRunning(reflection("running"))).toBe(true);
    expect(isRunning(reflection("completed"))).toBe(false);
    expect(isRunning(reflection("failed"))).toBe(false);
    expect(isRunning(null)).toBe(false);
  });
  it("shows the newest completed reflection, past a newer failure", () => {
    const list = [reflection("failed", "c"), reflection("completed", "b"), reflection("completed", "a")];
    expect(latestCompleted(list)?.reflection_id).toBe("b");
    expect(latestCompleted([reflection("pending")])).toBeNull();
  });
  it("names the curator", () => {
    expect(writtenBy({ curator: "builtin", model: "builtin" })).toMatch(/^the AI Museum Curator \(built-in/);
    expect(writtenBy({ curator: "model", model: "gpt-4o-mini" })).toBe("the AI Museum Curator (gpt-4o-mini)");
  });
});

describe("the evolution strip", () => {
  it("turns 'At image N:' into a step's title", () => {
    expect(
      phase({ text: "At image 31: added 'golden hour'; raised CFG from 5 to 7.", asset_ids: ["a", "b"] }),
    ).toEqual({
      title: "Image 31",
      text: "Added 'golden hour'; raised CFG from 5 to 7.",
      assetIds: ["a", "b"],
    });
  });
  it("keeps other statements whole", () => {
    expect(phase({ text: "Images 3 and 40 represent the session.", asset_ids: [] })).toEqual({
      title: "",
      text: "Images 3 and 40 represent the session.",
      assetIds: [],
    });
  });
  it("shows a few cited images without repeats, spread over the list, and counts the rest", () => {
    expect(cited(["a", "b", "a", "c", "d"], 2)).toEqual({ shown: ["a", "d"], more: 2 });
    expect(cited(["a", "b", "c"], 6)).toEqual({ shown: ["a", "b", "c"], more: 0 });
    expect(cited([], 6)).toEqual({ shown: [], more: 0 });
    expect(cited(["a", "b", "c"], 1)).toEqual({ shown: ["a"], more: 2 });
  });
  it("shows both halves of a statement citing two groups", () => {
    const ids = [
      ...Array.from({ length: 30 }, (_, i) => `blue${i}`),
      ...Array.from({ length: 30 }, (_, i) => `orange${i}`),
    ];
    const { shown, more } = cited(ids, 4);
    expect(shown).toEqual(["blue0", "blue20", "orange9", "orange29"]);
    expect(more).toBe(56);
  });
});
