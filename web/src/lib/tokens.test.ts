import { describe, expect, it } from "vitest";
import { absoluteUrl, expiry, isExpired, lastUsed, validDays } from "./tokens";

describe("absoluteUrl", () => {
  it("keeps an absolute link and completes a path", () => {
    expect(absoluteUrl("https://atelier.example.com/s/abc", "http://127.0.0.1:8000")).toBe(
      "https://atelier.example.com/s/abc",
    );
    expect(absoluteUrl("/s/abc", "http://127.0.0.1:8000")).toBe("http://127.0.0.1:8000/s/abc");
  });
});

describe("lastUsed", () => {
  const now = new Date("2026-11-28T19:00:00Z");
  it("says when, in days while recent", () => {
    expect(lastUsed(null, now, "UTC")).toBe("never used");
    expect(lastUsed("2026-11-28T08:00:00Z", now, "UTC")).toBe("used today");
    expect(lastUsed("2026-11-27T23:00:00Z", now, "UTC")).toBe("used yesterday");
    expect(lastUsed("2026-11-25T10:00:00Z", now, "UTC")).toBe("used 3 days ago");
    expect(lastUsed("2026-03-21T10:00:00Z", now, "UTC")).toBe("used 21 Mar 2026");
  });
  it("counts days in the workspace's zone", () => {
    // 23:30 UTC on the 27th is already the 28th in Paris
    expect(lastUsed("2026-11-27T23:30:00Z", now, "Europe/Paris")).toBe("used today");
  });
});

describe("expiry", () => {
  const now = new Date("2026-11-28T19:00:00Z");
  it("says expires, or expired once past", () => {
    expect(expiry("2026-12-05T19:00:00Z", now, "UTC")).toBe("expires 5 Dec 2026");
    expect(expiry("2026-11-01T10:00:00Z", now, "UTC")).toBe("expired 1 Nov 2026");
    expect(isExpired("2026-11-01T10:00:00Z", now)).toBe(true);
  });
});

describe("validDays", () => {
  it("takes whole days from 1 to 365", () => {
    expect(validDays(7)).toBe(7);
    expect(validDays(365)).toBe(365);
    expect(validDays(0)).toBeNull();
    expect(validDays(366)).toBeNull();
    expect(validDays(1.5)).toBeNull();
    expect(validDays(null)).toBeNull();
  });
});
