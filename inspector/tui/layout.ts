// Where each pane goes for a terminal size: a status line, columns of panes, a bottom line; the frame is one
// row shorter than the terminal so ink never scrolls it. Pure arithmetic, so sizes are tested without a screen.

export type PaneId = "timeline" | "request" | "counters" | "l2" | "refcount" | "tables" | "map" | "header";

/** Tab order. */
export const PANE_ORDER: readonly PaneId[] = ["timeline", "request", "l2", "refcount", "tables", "map", "header", "counters"];

export const PANE_TITLES: Record<PaneId, string> = {
  timeline: "Requests",
  request: "Request",
  counters: "Counters",
  l2: "L2 cache",
  refcount: "Refcount cache",
  tables: "L1/L2",
  map: "Host clusters",
  header: "Header",
};

export interface PaneBox {
  id: PaneId;
  /** Rows including the title line. */
  height: number;
  width: number;
}

export interface Layout {
  cols: number;
  /** Frame height (terminal rows - 1). */
  height: number;
  body: number;
  columns: PaneBox[][];
}

interface Slot {
  id: PaneId;
  min: number;
  weight: number;
}

const LEFT: Slot[] = [
  { id: "timeline", min: 4, weight: 4 },
  { id: "request", min: 4, weight: 4 },
  { id: "counters", min: 3, weight: 0 },
];
const RIGHT: Slot[] = [
  { id: "l2", min: 3, weight: 2 },
  { id: "refcount", min: 3, weight: 1 },
  { id: "tables", min: 4, weight: 3 },
  { id: "map", min: 3, weight: 2 },
  { id: "header", min: 3, weight: 1 },
];
/** Rows a pane is worth at most (beyond them the space goes to others). */
const MAX: Partial<Record<PaneId, number>> = { counters: 6, header: 9, refcount: 7 };

/** Splits `total` rows among slots: minimums first, then by weight, capped by MAX. */
function split(slots: Slot[], total: number): number[] {
  const h = slots.map((s) => s.min);
  let left = total - h.reduce((a, b) => a + b, 0);
  if (left < 0) {
    // Too small: take rows from the bottom panes (down to a title line, then nothing).
    for (let i = slots.length - 1; i >= 0 && left < 0; i--) {
      const take = Math.min(h[i]!, -left);
      h[i]! -= take;
      left += take;
    }
    return h;
  }
  for (let guard = 0; left > 0 && guard < 1000; guard++) {
    let gave = false;
    const wsum = slots.reduce((a, s, i) => a + (h[i]! < (MAX[s.id] ?? Infinity) ? s.weight || 0.5 : 0), 0);
    if (wsum === 0) break;
    for (let i = 0; i < slots.length && left > 0; i++) {
      const s = slots[i]!;
      if (h[i]! >= (MAX[s.id] ?? Infinity)) continue;
      const share = Math.max(1, Math.floor((left * (s.weight || 0.5)) / wsum));
      const give = Math.min(share, left, (MAX[s.id] ?? Infinity) - h[i]!);
      h[i]! += give;
      left -= give;
      gave = gave || give > 0;
    }
    if (!gave) break;
  }
  if (left > 0) h[0]! += left;
  return h;
}

export function layout(cols: number, rows: number): Layout {
  const height = Math.max(3, rows - 1);
  const body = Math.max(0, height - 2);
  const c = Math.max(20, cols);
  if (c >= 150) {
    const w = Math.floor((c - 2) / 3);
    const cols3: Slot[][] = [LEFT, RIGHT.slice(0, 3), RIGHT.slice(3)];
    const widths = [w, w, c - 2 - 2 * w];
    return { cols: c, height, body, columns: cols3.map((slots, k) => split(slots, body).map((hh, i) => ({ id: slots[i]!.id, height: hh, width: widths[k]! }))) };
  }
  const lw = Math.floor((c - 1) * 0.47);
  const rw = c - 1 - lw;
  return {
    cols: c,
    height,
    body,
    columns: [split(LEFT, body).map((hh, i) => ({ id: LEFT[i]!.id, height: hh, width: lw })), split(RIGHT, body).map((hh, i) => ({ id: RIGHT[i]!.id, height: hh, width: rw }))],
  };
}
