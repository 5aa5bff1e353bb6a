// Rows of mixed aspect ratios (justified-layout), grouped into rows so a virtualizer can render only
// the rows on screen: a gallery of 100,000 images keeps a few hundred DOM nodes.
import justifiedLayout from "justified-layout";

export const SPACING = 4;

export interface Box {
  index: number; // into the items given
  left: number;
  width: number;
  height: number;
}

export interface Row {
  top: number;
  height: number;
  boxes: Box[];
}

/** An image's aspect ratio, sane even when its size is unknown or absurd (a 1×4000 strip). */
export function aspect(width: number | null | undefined, height: number | null | undefined): number {
  if (!width || !height) return 1;
  return Math.min(4, Math.max(0.25, width / height));
}

export function justifiedRows(ratios: number[], containerWidth: number, targetRowHeight: number): Row[] {
  if (!ratios.length || containerWidth <= 0) return [];
  const layout = justifiedLayout(ratios, {
    containerWidth,
    containerPadding: 0,
    boxSpacing: SPACING,
    targetRowHeight,
    // the last row keeps the target height instead of stretching a lone image across the page
    showWidows: true,
  });
  const rows: Row[] = [];
  layout.boxes.forEach((box, index) => {
    const row = rows.at(-1);
    if (row && Math.abs(row.top - box.top) < 0.5) {
      row.boxes.push({ index, left: box.left, width: box.width, height: box.height });
      row.height = Math.max(row.height, box.height);
    } else {
      rows.push({
        top: box.top,
        height: box.height,
        boxes: [{ index, left: box.left, width: box.width, height: box.height }],
      });
    }
  });
  return rows;
}

/** The row holding item `index` (rows are in item order). */
export function rowOf(rows: Row[], index: number): number {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (rows[mid].boxes[0].index <= index) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The item above or below `index` (`step` -1 or +1 rows), nearest by horizontal centre. */
export function verticalNeighbour(rows: Row[], index: number, step: -1 | 1): number {
  const r = rowOf(rows, index);
  const target = rows[r + step];
  if (!target) return index;
  const box = rows[r].boxes.find((b) => b.index === index)!;
  const centre = box.left + box.width / 2;
  let best = target.boxes[0];
  for (const b of target.boxes) {
    if (Math.abs(b.left + b.width / 2 - centre) < Math.abs(best.left + best.width / 2 - centre)) best = b;
  }
  return best.index;
}

/**
 * `justifiedRows` for a list that grew at its end (the next page arrived): the rows before the last
 * one stay as they were, and only the last row onwards is laid out again, so a gallery of 100,000
 * images does not lay out 100,000 boxes on every page. `previous` is the layout of the list's first
 * `previousCount` items at the same width and height.
 */
export function extendRows(
  previous: Row[],
  ratios: number[],
  containerWidth: number,
  targetRowHeight: number,
): Row[] {
  const last = previous.at(-1);
  if (!last) return justifiedRows(ratios, containerWidth, targetRowHeight);
  const start = last.boxes[0].index;
  const tail = justifiedRows(ratios.slice(start), containerWidth, targetRowHeight).map((row) => ({
    top: row.top + last.top,
    height: row.height,
    boxes: row.boxes.map((b) => ({ ...b, index: b.index + start })),
  }));
  return [...previous.slice(0, -1), ...tail];
}
