// The L2 and refcount cache panes: every slot with the table it holds, its place in LRU order (1 = next
// victim), pins and dirtiness, compared against the state before the last command to mark what changed.
import type { CacheView } from "../../engine/image/metadata-cache.js";
import { hitRate } from "../../engine/replay/human-units.js";
import type { CacheReadView } from "../../engine/image/image-view.js";
import type { PaneView, Row, RowTarget } from "./view-models.js";

/** Hits, misses and write-backs up to the position (from the event sums). */
export interface CacheStats {
  hits: number;
  misses: number;
  writebacks: number;
}

export function slotChanged(a: CacheView, b: CacheView, i: number): boolean {
  return a.offsets[i] !== b.offsets[i] || a.lru[i] !== b.lru[i] || a.refs[i] !== b.refs[i] || a.dirty[i] !== b.dirty[i];
}

/** LRU rank of every occupied slot: 1 = least recently used (QEMU evicts the unpinned slot with the smallest). */
export function lruRanks(s: CacheView): Int32Array {
  const n = s.offsets.length;
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (s.offsets[i]) order.push(i);
  order.sort((x, y) => s.lru[x]! - s.lru[y]! || x - y);
  const rank = new Int32Array(n);
  order.forEach((slot, r) => (rank[slot] = r + 1));
  return rank;
}

/** The slot QEMU would pick next on a miss (ignoring the hashed start, which only breaks ties). */
export function nextVictim(s: CacheView): number {
  let v = -1;
  for (let i = 0; i < s.offsets.length; i++) if (s.refs[i] === 0 && (v < 0 || s.lru[i]! < s.lru[v]!)) v = i;
  return v;
}

// One wording with the counters pane, the report and the dashboard: an untouched cache says "no lookups".
const rate = hitRate;

export function cacheView(title: string, c: CacheReadView, clusterSize: number, now: CacheView, before: CacheView | null, focusSlot: number, stats: CacheStats, statsBefore: CacheStats | null): PaneView {
  const ranks = lruRanks(now);
  const victim = nextVictim(now);
  const used = ranks.reduce((m, r) => Math.max(m, r), 0);
  const dirty = now.dirty.reduce((s, d) => s + d, 0);
  const rows: Row[] = [];
  for (let i = 0; i < c.size; i++) {
    const off = now.offsets[i]!;
    const changed = before !== null && before.offsets.length === now.offsets.length && slotChanged(before, now, i);
    const pin = now.refs[i] ? ` pin${now.refs[i]}` : "";
    const text = off
      ? `${String(i).padStart(3)} 0x${off.toString(16).padStart(8, "0")} lru ${String(ranks[i]).padStart(2)}${pin}${now.dirty[i] ? " dirty" : ""}${i === victim ? " <victim" : ""}`
      : `${String(i).padStart(3)} (empty)${i === victim ? " <victim" : ""}`;
    const target: RowTarget | undefined = off ? { kind: "host-cluster", cluster: Math.floor(off / clusterSize) } : undefined;
    rows.push({ key: `slot${i}`, text, changed, tone: i === focusSlot ? "current" : off ? (now.dirty[i] ? "warn" : "normal") : "dim", target });
  }
  const statsChanged = statsBefore !== null && (statsBefore.hits !== stats.hits || statsBefore.misses !== stats.misses || statsBefore.writebacks !== stats.writebacks);
  rows.unshift({
    key: "stats",
    text: `${used}/${c.size} used, ${dirty} dirty, hit ${rate(stats.hits, stats.misses)} (${stats.hits}/${stats.hits + stats.misses}), wb ${stats.writebacks}`,
    changed: statsChanged,
    tone: "dim",
  });
  return {
    title: `${title} cache (${c.size} x ${c.tableSize >= 1024 ? `${c.tableSize / 1024}K` : `${c.tableSize}B`})`,
    summary: `${used}/${c.size} slots, ${dirty} dirty, hit ${rate(stats.hits, stats.misses)}`,
    rows,
    focus: focusSlot >= 0 ? focusSlot + 1 : undefined,
  };
}
