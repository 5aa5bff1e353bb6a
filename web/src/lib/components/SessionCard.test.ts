import { render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import SessionCard from "./SessionCard.svelte";
import type { SessionCard as Card } from "../api/types";

function card(overrides: Partial<Card> = {}): Card {
  return {
    id: "5b0c3c3e-8a9a-4f55-9a53-0d3f1d3a2b11",
    start: "2025-03-18T20:10:00Z",
    end: "2025-03-18T22:02:00Z",
    asset_count: 24,
    rejected_count: 0,
    precision: "second",
    group: "this_week",
    cover: [
      { asset_id: "a1", thumbnail_url: "/t/a1" },
      { asset_id: "a2", thumbnail_url: "/t/a2" },
    ],
    updated_at: "2025-03-18T22:03:00Z",
    reflection_summary: null,
    summary: {
      phrases: ["red fox", "snow", "film grain", "dusk"],
      tools: [],
      models: [{ name: "sdxl", count: 24 }],
    },
    ...overrides,
  } as Card;
}

describe("SessionCard", () => {
  it("is one link to the session, named with its time range and image count", () => {
    render(SessionCard, { card: card(), zone: "Europe/Paris" });
    const link = screen.getByRole("link", { name: /24 images/ });
    expect(link.getAttribute("href")).toBe("/app/sessions/5b0c3c3e-8a9a-4f55-9a53-0d3f1d3a2b11");
    expect(link.textContent).toContain("Tue 21:10–23:02");
    // the summary before any reflection: top phrases and models
    expect(link.textContent).toContain("red fox · snow · film grain — sdxl");
    expect(link.querySelectorAll("img")).toHaveLength(2);
  });
  it("says the reflection's summary when there is one, and 1 image in the singular", () => {
    render(SessionCard, {
      card: card({ asset_count: 1, reflection_summary: "Foxes at dusk." }),
      zone: "UTC",
    });
    const link = screen.getByRole("link", { name: /1 image\b/ });
    expect(link.textContent).toContain("Foxes at dusk.");
    expect(link.textContent).not.toContain("red fox");
  });
  it("says how many of its images are rejected, when any are", () => {
    render(SessionCard, { card: card({ rejected_count: 2 }), zone: "UTC" });
    expect(screen.getByRole("link", { name: /24 images · 2 rejected/ })).toBeTruthy();
  });
});
