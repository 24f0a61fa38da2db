// Where each pane goes for a terminal size: a status line, columns of panes, a bottom line; the frame is one
// row shorter than the terminal so ink never scrolls it. Pure arithmetic, so sizes are tested without a screen.

export type PaneId = "timeline" | "request" | "counters" | "l2" | "refcount" | "tables" | "map" | "header" | "crash";

/** The default of every switch over pane ids: a new pane id fails to compile there until it is handled. */
export function unknownPane(id: never): never {
  throw new Error(`unknown pane ${String(id)}`);
}

/** Tab order. */
export const PANE_ORDER: readonly PaneId[] = ["timeline", "request", "l2", "refcount", "tables", "map", "header", "counters", "crash"];

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
  // The volatile writes: no rows until `:crash` asks for them (its wants are 0 before).
  { id: "crash", min: 0, weight: 0 },
];
const RIGHT: Slot[] = [
  { id: "l2", min: 3, weight: 2 },
  { id: "refcount", min: 3, weight: 1 },
  { id: "tables", min: 4, weight: 3 },
  { id: "map", min: 3, weight: 2 },
  { id: "header", min: 3, weight: 1 },
];
/** Rows a pane is worth at most (beyond them the space goes to others). */
const MAX: Partial<Record<PaneId, number>> = { counters: 6, header: 9, refcount: 7, crash: 10 };

/** Rows each pane's content needs (title included), when known: a pane never gets more than it can fill. */
export type Wants = Partial<Record<PaneId, number>>;

/** Rows each list (a pane without a cap) keeps beyond its minimum before content-sized panes are given theirs. */
const LIST_RESERVE = 2;

/**
 * Splits `total` rows among slots: minimums first; then content-sized panes, in column order, get what they want
 * as long as the lists keep a little room; the rest is shared by weight.
 */
function split(slots: Slot[], total: number, wants: Wants): number[] {
  // A pane with no minimum shows only when it says what it wants.
  const cap = (s: Slot) => Math.max(s.min, Math.min(MAX[s.id] ?? Infinity, wants[s.id] ?? (s.min === 0 ? 0 : Infinity)));
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
  const capped = slots.map((s) => Number.isFinite(cap(s)));
  const reserve = capped.filter((c) => !c).length * LIST_RESERVE;
  slots.forEach((s, i) => {
    if (!capped[i]) return;
    const give = Math.max(0, Math.min(cap(s) - h[i]!, left - reserve));
    h[i]! += give;
    left -= give;
  });
  while (left > 0) {
    const open = slots.map((s, i) => (h[i]! < cap(s) ? s.weight || 0.5 : 0));
    const wsum = open.reduce((a, b) => a + b, 0);
    if (wsum === 0) break;
    const round = left;
    let gave = 0;
    slots.forEach((s, i) => {
      if (!open[i]) return;
      const give = Math.min(Math.floor((round * open[i]!) / wsum), cap(s) - h[i]!, left);
      h[i]! += give;
      left -= give;
      gave += give;
    });
    if (gave === 0) {
      // Fewer rows than panes wanting them: one each, heaviest first.
      const i = open.indexOf(Math.max(...open));
      h[i]!++;
      left--;
    }
  }
  // Every pane is full: the rest goes to the heaviest one (a list that can always use rows).
  if (left > 0) {
    let best = 0;
    slots.forEach((s, i) => (s.weight > slots[best]!.weight ? (best = i) : 0));
    h[best]! += left;
  }
  return h;
}

export function layout(cols: number, rows: number, wants: Wants = {}): Layout {
  const height = Math.max(3, rows - 1);
  const body = Math.max(0, height - 2);
  const c = Math.max(20, cols);
  if (c >= 150) {
    const w = Math.floor((c - 2) / 3);
    const cols3: Slot[][] = [LEFT, RIGHT.slice(0, 3), RIGHT.slice(3)];
    const widths = [w, w, c - 2 - 2 * w];
    return { cols: c, height, body, columns: cols3.map((slots, k) => split(slots, body, wants).map((hh, i) => ({ id: slots[i]!.id, height: hh, width: widths[k]! }))) };
  }
  const lw = Math.floor((c - 1) * 0.47);
  const rw = c - 1 - lw;
  return {
    cols: c,
    height,
    body,
    columns: [split(LEFT, body, wants).map((hh, i) => ({ id: LEFT[i]!.id, height: hh, width: lw })), split(RIGHT, body, wants).map((hh, i) => ({ id: RIGHT[i]!.id, height: hh, width: rw }))],
  };
}
