import { describe, expect, it } from "vitest";
import { imageCount, sessionSize, timeRange, timeSource, when } from "./format";

describe("timeRange", () => {
  it("shows clock times today, in the workspace's zone", () => {
    expect(timeRange("2025-03-21T13:05:00Z", "2025-03-21T14:40:00Z", "today", "Europe/Paris")).toBe(
      "14:05–15:40",
    );
  });
  it("adds the weekday this week", () => {
    expect(timeRange("2025-03-18T20:10:00Z", "2025-03-18T22:02:00Z", "this_week", "Europe/Paris")).toBe(
      "Tue 21:10–23:02",
    );
  });
  it("crosses midnight with the end's weekday", () => {
    expect(timeRange("2025-03-18T22:30:00Z", "2025-03-19T00:15:00Z", "this_week", "UTC")).toBe(
      "Tue 22:30–Wed 00:15",
    );
  });
  it("gives the date earlier, a span of days when it spans several", () => {
    expect(timeRange("2025-03-03T10:00:00Z", "2025-03-03T12:00:00Z", "earlier", "UTC")).toBe("3 Mar 2025");
    expect(timeRange("2025-03-03T22:00:00Z", "2025-03-04T01:00:00Z", "earlier", "UTC")).toBe("3–4 Mar 2025");
    expect(timeRange("2024-12-31T22:00:00Z", "2025-01-01T01:00:00Z", "earlier", "UTC")).toBe(
      "31 Dec 2024 – 1 Jan 2025",
    );
  });
  it("never shows a clock time for day precision", () => {
    expect(timeRange("2025-03-21T00:00:00Z", "2025-03-21T00:00:00Z", "today", "UTC", "day")).toBe(
      "21 Mar 2025",
    );
  });
  it("reads the day in the zone, not in UTC", () => {
    // 23:30 UTC on the 2nd is the 3rd in Tokyo
    expect(timeRange("2025-03-02T23:30:00Z", "2025-03-02T23:40:00Z", "earlier", "Asia/Tokyo")).toBe(
      "3 Mar 2025",
    );
  });
});

describe("words", () => {
  it("counts images", () => {
    expect(imageCount(1)).toBe("1 image");
    expect(imageCount(24)).toBe("24 images");
    expect(imageCount(1024)).toBe("1,024 images");
  });
  it("says a session's rejects with its size, only when it has some", () => {
    expect(sessionSize(24, 0)).toBe("24 images");
    expect(sessionSize(1200, 1)).toBe("1,200 images · 1 rejected");
  });
  it("says where a time came from", () => {
    expect(timeSource("png:Creation Time")).toBe("from the file's embedded time");
    expect(timeSource("exif:DateTimeOriginal")).toBe("from the file's embedded time");
    expect(timeSource("c2pa:signature")).toBe("from the C2PA signature");
    expect(timeSource("folder:date")).toBe("from the folder name");
    expect(timeSource("file_mtime")).toBe("from the file's modified time");
    expect(timeSource(null)).toBe("no generation time");
  });
  it("writes an absolute time in the zone", () => {
    expect(when("2025-03-21T09:04:05Z", "Europe/Paris")).toBe("Fri, 21 Mar 2025, 10:04:05");
    expect(when("2025-03-21T00:00:00Z", "UTC", "day")).toBe("21 Mar 2025");
  });
});

describe("zoned dates", async () => {
  const { nextDay, zonedDate, zonedMidnight } = await import("./format");
  it("finds midnight in the zone", () => {
    expect(zonedMidnight("2025-03-21", "Europe/Paris")).toBe("2025-03-20T23:00:00.000Z");
    expect(zonedMidnight("2025-07-01", "Europe/Paris")).toBe("2025-06-30T22:00:00.000Z");
    expect(zonedMidnight("2025-03-21", "UTC")).toBe("2025-03-21T00:00:00.000Z");
    expect(zonedMidnight("2025-03-21", "America/New_York")).toBe("2025-03-21T04:00:00.000Z");
  });
  it("reads an instant's day in the zone and steps a day", () => {
    expect(zonedDate("2025-03-20T23:00:00.000Z", "Europe/Paris")).toBe("2025-03-21");
    expect(nextDay("2025-02-28")).toBe("2025-03-01");
    expect(nextDay("2024-12-31")).toBe("2025-01-01");
  });
});
