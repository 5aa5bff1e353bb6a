import { describe, expect, it } from "vitest";
import { absoluteUrl, expiry, isExpired, lastUsed, sharedRange, validDays } from "./tokens";

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

describe("sharedRange", () => {
  it("gives the day and the clock times in the visitor's zone", () => {
    expect(sharedRange("2025-03-21T09:04:00Z", "2025-03-21T10:30:00Z", "second", "Europe/Paris")).toBe(
      "Fri, 21 Mar 2025, 10:04–11:30",
    );
  });
  it("gives one time when the session shown lasts less than a minute", () => {
    expect(sharedRange("2025-03-21T09:04:00Z", "2025-03-21T09:04:30Z", "second", "Europe/Paris")).toBe(
      "Fri, 21 Mar 2025, 10:04",
    );
  });
  it("names both days across midnight", () => {
    expect(sharedRange("2025-03-21T23:10:00Z", "2025-03-22T01:02:00Z", "second", "UTC")).toBe(
      "Fri, 21 Mar 2025, 23:10 – Sat, 22 Mar 2025, 01:02",
    );
  });
  it("gives only dates at day precision", () => {
    expect(sharedRange("2025-03-21T00:00:00Z", "2025-03-21T00:00:00Z", "day", "UTC")).toBe(
      "Fri, 21 Mar 2025",
    );
  });
});
