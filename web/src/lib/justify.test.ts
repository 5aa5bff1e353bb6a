import { describe, expect, it } from "vitest";
import { aspect, justifiedRows, rowOf, verticalNeighbour } from "./justify";

describe("justifiedRows", () => {
  const ratios = [1, 1.5, 0.66, 1, 2, 1, 0.75, 1.33, 1, 1, 1.78, 0.56];
  const rows = justifiedRows(ratios, 1000, 200);

  it("places every item once, in order, in full-width rows", () => {
    expect(rows.flatMap((r) => r.boxes.map((b) => b.index))).toEqual(ratios.map((_, i) => i));
    for (const row of rows.slice(0, -1)) {
      const last = row.boxes.at(-1)!;
      expect(last.left + last.width).toBeGreaterThan(990);
      expect(last.left + last.width).toBeLessThanOrEqual(1000.5);
    }
  });
  it("keeps rows near the target height and stacked without overlap", () => {
    for (const row of rows) expect(row.height).toBeGreaterThan(140);
    for (let i = 1; i < rows.length; i++)
      expect(rows[i].top).toBeGreaterThanOrEqual(rows[i - 1].top + rows[i - 1].height);
  });
  it("finds rows and vertical neighbours", () => {
    const second = rows[1].boxes[0].index;
    expect(rowOf(rows, second)).toBe(1);
    expect(rowOf(rows, 0)).toBe(0);
    expect(rowOf(rows, ratios.length - 1)).toBe(rows.length - 1);
    expect(rowOf(rows, verticalNeighbour(rows, 0, 1))).toBe(1);
    expect(verticalNeighbour(rows, 0, -1)).toBe(0); // nothing above the first row
  });
  it("lays out nothing without width or items", () => {
    expect(justifiedRows([], 1000, 200)).toEqual([]);
    expect(justifiedRows([1, 1], 0, 200)).toEqual([]);
  });
});

describe("aspect", () => {
  it("bounds odd sizes and defaults unknown ones to square", () => {
    expect(aspect(1024, 512)).toBe(2);
    expect(aspect(1, 4000)).toBe(0.25);
    expect(aspect(null, 512)).toBe(1);
  });
});

describe("extendRows", async () => {
  const { extendRows } = await import("./justify");
  it("gives the same rows as laying out everything again", () => {
    const ratios = Array.from(
      { length: 500 },
      (_, i) => [1, 1.5, 0.66, 2, 0.75, 1.33][i % 6] * (1 + (i % 7) / 20),
    );
    let rows = justifiedRows(ratios.slice(0, 100), 1200, 220);
    for (const end of [200, 201, 350, 500]) {
      rows = extendRows(rows, ratios.slice(0, end), 1200, 220);
      const whole = justifiedRows(ratios.slice(0, end), 1200, 220);
      expect(rows.length).toBe(whole.length);
      rows.forEach((row, i) => {
        expect(row.top).toBeCloseTo(whole[i].top, 6);
        expect(row.boxes.map((b) => b.index)).toEqual(whole[i].boxes.map((b) => b.index));
        row.boxes.forEach((b, j) => expect(b.width).toBeCloseTo(whole[i].boxes[j].width, 6));
      });
    }
  });
});
