// Why one request was slow, in words: its events folded into short phrases ("L2 miss on slice 0x30000
// evicting dirty slice 0x20000 (write-back)", "refcount block load", "COW 60 KiB from backing", "2 syncs").
import { EventKind, CACHE_L2 } from "../events/event-kind.js";
import type { EventColumns } from "./cost-model.js";
import { formatBytes, hex } from "./human-units.js";

const MAX_LISTED = 3;

class Phrases {
  private order: string[] = [];
  private counts = new Map<string, number>();
  private examples = new Map<string, string[]>();

  /** Adds one occurrence of `key`; `example` (an offset) is listed for the first few. */
  add(key: string, example?: string): void {
    const n = this.counts.get(key);
    if (n === undefined) {
      this.order.push(key);
      this.counts.set(key, 1);
      this.examples.set(key, example ? [example] : []);
      return;
    }
    this.counts.set(key, n + 1);
    const ex = this.examples.get(key)!;
    if (example && ex.length <= MAX_LISTED) ex.push(example);
  }

  lines(): string[] {
    return this.order.map((k) => {
      const n = this.counts.get(k)!;
      const ex = this.examples.get(k)!;
      if (!ex.length) return n > 1 ? `${k} x${n}` : k;
      const listed = ex.slice(0, MAX_LISTED).join(", ");
      return n > MAX_LISTED ? `${k} ${listed}, ... (${n} in all)` : `${k} ${listed}`;
    });
  }
}

/** Phrases describing the events [first, end) of one request, most telling first (in event order). */
export function describeRequest(ev: EventColumns, first: number, end: number): string[] {
  const p = new Phrases();
  let syncs = 0;
  let l2wb = 0;
  let rcwb = 0;
  let cowFrom = "";
  for (let i = first; i < end; i++) {
    const kind = ev.kindAt(i);
    const node = ev.nodeAt(i);
    const where = node ? `backing[${node}] ` : "";
    switch (kind) {
      case EventKind.CacheGetReplaceEntry: {
        // A miss: look ahead for the write-back of a dirty victim before the load.
        const l2 = ev.cacheAt(i) === CACHE_L2;
        const victim = ev.aAt(i);
        let dirty = false;
        let read = false;
        for (let j = i + 1; j < end; j++) {
          const k = ev.kindAt(j);
          if (k === EventKind.CacheEntryFlush && ev.aAt(j) === victim && victim !== 0) dirty = true;
          if (k === EventKind.CacheGetRead) {
            read = ev.bAt(j) !== 0;
            break;
          }
        }
        const what = l2 ? "L2 slice" : "refcount block";
        const head = read ? (l2 ? "L2 miss" : "refcount block load") : `new ${what} (nothing to read)`;
        // With a dirty victim the example shows both tables: "0x20000 -> 0x30000" (written back -> loaded).
        if (dirty) p.add(`${where}${head} evicting a dirty ${l2 ? "slice" : "block"} (write-back):`, `${hex(victim)} -> ${hex(ev.bAt(i))}`);
        else p.add(`${where}${head}${read ? ", loading" : " at"}`, hex(ev.bAt(i)));
        break;
      }
      case EventKind.MetadataWrite:
        if (ev.cacheAt(i) === CACHE_L2) l2wb++;
        else if (ev.cacheAt(i) === 0) rcwb++;
        else p.add(`${where}refcount table write (${formatBytes(ev.bAt(i))}) at`, hex(ev.aAt(i)));
        break;
      case EventKind.L2Allocate:
        p.add(`${where}L2 table allocation for L1 index`, String(ev.aAt(i)));
        break;
      case EventKind.ClusterAlloc:
        p.add(`${where}cluster allocation (${ev.bAt(i)} cluster${ev.bAt(i) === 1 ? "" : "s"}) at`, hex(ev.aAt(i)));
        break;
      case EventKind.ClusterFree:
        p.add(`${where}freed ${ev.bAt(i)} cluster${ev.bAt(i) === 1 ? "" : "s"} at`, hex(ev.aAt(i)));
        break;
      case EventKind.RefblockAlloc:
        p.add(`${where}refcount block allocation at`, hex(ev.aAt(i)));
        break;
      case EventKind.ReftableGrow:
        p.add(`${where}refcount table grown from ${ev.aAt(i)} to ${ev.bAt(i)} entries`);
        break;
      case EventKind.DataRead:
        if (node !== 0) cowFrom = cowFrom || "from backing";
        else cowFrom = cowFrom || "from this image";
        break;
      case EventKind.BackingRead:
        cowFrom = "from backing";
        p.add(`${where}backing read (${formatBytes(ev.bAt(i))}) at guest`, hex(ev.aAt(i)));
        break;
      case EventKind.Decompress:
        cowFrom = cowFrom || "from a compressed cluster";
        p.add(`${where}decompressed a cluster (${formatBytes(ev.bAt(i))} compressed) at`, hex(ev.aAt(i)));
        break;
      case EventKind.CowRead:
        p.add(`COW ${formatBytes(ev.bAt(i))}${cowFrom ? ` ${cowFrom}` : ""} at guest`, hex(ev.aAt(i)));
        cowFrom = "";
        break;
      case EventKind.SkipCow:
        p.add(`COW skipped (zeroes written) for ${ev.bAt(i)} cluster${ev.bAt(i) === 1 ? "" : "s"} at guest`, hex(ev.aAt(i)));
        cowFrom = "";
        break;
      case EventKind.WritevData:
        cowFrom = "";
        break;
      case EventKind.FlushToDisk:
        syncs++;
        break;
      case EventKind.DirtyBit:
        p.add(ev.aAt(i) ? "image marked dirty (lazy refcounts: header write + sync)" : "dirty bit cleared");
        break;
      case EventKind.L1Grow:
        p.add(`L1 table grown from ${ev.aAt(i)} to ${ev.bAt(i)} entries`);
        break;
      default:
        break;
    }
  }
  const out = p.lines();
  if (l2wb) out.push(`${l2wb} L2 slice write-back${l2wb === 1 ? "" : "s"}`);
  if (rcwb) out.push(`${rcwb} refcount block write-back${rcwb === 1 ? "" : "s"}`);
  if (syncs) out.push(`${syncs} sync${syncs === 1 ? "" : "s"}`);
  return out;
}
