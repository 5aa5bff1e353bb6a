import { describe, expect, it } from "vitest";
import {
  acceptable,
  batches,
  formatBytes,
  outcome,
  pathOf,
  refusal,
  resultsByFile,
  retryDelay,
  BUSY_TRIES,
  THROTTLED_TRIES,
  sidecars,
  tally,
  uploadBody,
} from "./upload";
import type { UploadResult } from "./api/types";

const ok = (filename: string, status: UploadResult["status"] = "imported"): UploadResult => ({
  filename,
  status,
  asset_id: status === "rejected" ? null : "00000000-0000-0000-0000-000000000000",
});

describe("batches", () => {
  it("puts a few files in each request", () => {
    const files = Array.from({ length: 9 }, () => ({ size: 10 }));
    expect(batches(files, 4).map((b) => b.length)).toEqual([4, 4, 1]);
  });
  it("keeps a request under the byte budget and sends a large file alone", () => {
    const sizes = [30, 30, 50, 200, 10].map((size) => ({ size }));
    expect(batches(sizes, 4, 100).map((b) => b.map((f) => f.size))).toEqual([[30, 30], [50], [200], [10]]);
  });
  it("makes no request for no files", () => {
    expect(batches([])).toEqual([]);
  });
});

describe("acceptable", () => {
  it("takes images and zips, by type or by name", () => {
    expect(acceptable({ name: "a.png", type: "image/png" })).toBe(true);
    expect(acceptable({ name: "renders.zip", type: "application/zip" })).toBe(true);
    expect(acceptable({ name: "renders.ZIP", type: "" })).toBe(true);
    expect(acceptable({ name: "photo.webp", type: "" })).toBe(true);
    expect(acceptable({ name: "notes.txt", type: "text/plain" })).toBe(false);
  });
});

describe("resultsByFile", () => {
  it("gives each file its result, in order", () => {
    const results = [ok("a.png"), ok("b.png", "duplicate")];
    expect(resultsByFile(["a.png", "b.png"], results)).toEqual([[results[0]], [results[1]]]);
  });
  it("gives a zip all of its entries", () => {
    const results = [ok("a.png"), ok("set.zip/x/1.png"), ok("set.zip/x/2.png", "rejected"), ok("b.png")];
    expect(resultsByFile(["a.png", "set.zip", "b.png"], results)).toEqual([
      [results[0]],
      [results[1], results[2]],
      [results[3]],
    ]);
  });
  it("gives a refused zip its one result", () => {
    const results = [ok("bad.zip", "rejected"), ok("c.png")];
    expect(resultsByFile(["bad.zip", "c.png"], results)).toEqual([[results[0]], [results[1]]]);
  });
});

describe("formatBytes", () => {
  it("reads as people read sizes", () => {
    expect(formatBytes(812)).toBe("812 B");
    expect(formatBytes(14_540)).toBe("14.2 KB");
    expect(formatBytes(3_250_000)).toBe("3.1 MB");
    expect(formatBytes(512 * 1024 * 1024)).toBe("512 MB");
  });
});

describe("tally", () => {
  it("counts each outcome, skipping those with none", () => {
    expect(tally([ok("a"), ok("b"), ok("c", "rejected")])).toBe("2 imported, 1 rejected");
    expect(tally([ok("a", "duplicate"), ok("b", "duplicate")])).toBe("2 duplicates");
    expect(tally([])).toBe("");
  });
});

describe("uploadBody", () => {
  it("sends each file followed by its modified time in ms, its folder and its sidecar", () => {
    const a = new File(["x"], "a.png", { type: "image/png", lastModified: 1732540000000 });
    const b = new File(["y"], "b.png", { type: "image/png", lastModified: 1732540060000 });
    const form = uploadBody([
      { file: a, folder: "renders/2025-03-21", sidecar: '{"enqueue_time": "2025-03-21T10:00:00Z"}' },
      { file: b, folder: "", sidecar: "" },
    ]);
    expect(form.getAll("files").map((f) => (f as File).name)).toEqual(["a.png", "b.png"]);
    expect(form.getAll("last_modified")).toEqual(["1732540000000", "1732540060000"]);
    expect(form.getAll("folder")).toEqual(["renders/2025-03-21", ""]);
    expect(form.getAll("sidecar")).toEqual(['{"enqueue_time": "2025-03-21T10:00:00Z"}', ""]);
  });
});

describe("sidecars", () => {
  it("pairs name.png.json and name.json with the image next to them", () => {
    const paths = [
      "r/a.png",
      "r/a.png.json",
      "r/b.webp",
      "r/b.json",
      "r/c.png",
      "other/c.json",
      "notes.json",
    ];
    expect(sidecars(paths)).toEqual(
      new Map([
        [0, 1],
        [2, 3],
      ]),
    );
  });
});

describe("pathOf", () => {
  it("joins the folder and the name", () => {
    const file = new File([""], "a.png");
    expect(pathOf({ file, folder: "renders/day" })).toBe("renders/day/a.png");
    expect(pathOf({ file, folder: "" })).toBe("a.png");
  });
});

describe("retryDelay", () => {
  it("waits as a 503 asks, a few times, and gives up on anything else", () => {
    expect(retryDelay(503, 2, 0)).toBe(2000);
    expect(retryDelay(503, null, 0)).toBe(5000);
    expect(retryDelay(503, null, 1)).toBe(10000);
    expect(retryDelay(503, 600, 0)).toBe(60000);
    expect(retryDelay(503, 2, 2)).toBeNull();
    expect(retryDelay(413, null, 0)).toBeNull();
    // over the workspace's upload limits: paced by Retry-After, for longer than a busy server
    expect(retryDelay(429, 15, 0)).toBe(15000);
    expect(retryDelay(429, 30, BUSY_TRIES)).toBe(30000);
    expect(retryDelay(429, 30, THROTTLED_TRIES - 1)).toBeNull();
    expect(retryDelay(0, null, 0)).toBeNull();
  });
});

describe("refusal", () => {
  it("gives the API's detail, or says what happened", () => {
    expect(refusal(503, '{"detail": "the object store is unreachable"}')).toBe(
      "the object store is unreachable",
    );
    expect(refusal(413, "<html>")).toBe("too large for one upload");
    expect(refusal(0, "")).toBe("the server could not be reached");
    expect(refusal(500, "")).toBe("the server answered 500");
  });
});

describe("outcome", () => {
  it("says where a file is and, once answered, what happened to it", () => {
    expect(outcome({ state: "sending", results: [], error: null })).toBe("uploading");
    expect(outcome({ state: "waiting", results: [], error: "the server is busy, trying again in 5 s" })).toBe(
      "waiting: the server is busy, trying again in 5 s",
    );
    expect(outcome({ state: "skipped", results: [], error: null })).toBe("skipped: not an image or a zip");
    expect(outcome({ state: "done", results: [ok("a.png", "duplicate")], error: null })).toBe("duplicate");
    expect(outcome({ state: "done", results: [ok("a.png", "queued")], error: null })).toBe(
      "queued: stored, its import finishes shortly",
    );
    expect(
      outcome({
        state: "done",
        results: [{ ...ok("b.png", "rejected"), reason: "not an image" }],
        error: null,
      }),
    ).toBe("rejected: not an image");
    expect(outcome({ state: "done", results: [ok("z.zip/1.png"), ok("z.zip/2.png")], error: null })).toBe(
      "2 imported",
    );
    expect(outcome({ state: "failed", results: [], error: "the server could not be reached" })).toBe(
      "not sent: the server could not be reached",
    );
  });
});
