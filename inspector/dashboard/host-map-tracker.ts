// The host-file cluster map of a replay kept current from the engine's events (allocations, refcount updates,
// new L2 tables and refcount blocks, table growth), so each frame costs a fold, not a walk of every L2 table. It starts
// from (and can be resynced with) the session's full map, which also knows leaked and shared clusters.
import { u32 } from "../../engine/format/bytes.js";
import { entryOffset } from "../../engine/format/l2-entry.js";
import { decodeSnapshotTable } from "../../engine/format/snapshot-table.js";
import { CACHE_L2, EventKind } from "../../engine/events/event-kind.js";
import { EVENT_KIND_COUNT } from "../../engine/events/event-schema.js";
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import type { EventColumns } from "../../engine/replay/cost-model.js";
import { buildHostMap, foldMap, HostKind, HOST_KIND_CHARS, MAX_CLUSTERS } from "../session/cluster-map.js";

export interface FoldedMap {
  /** Kind of each cell (the most telling kind among its clusters). */
  kinds: Uint8Array;
  /** Host clusters per cell. */
  perCell: number;
  /** Clusters in the host file now. */
  clusters: number;
  clusterSize: number;
  /** Clusters per kind (HostKind order). */
  counts: Float64Array;
}

const TRACKED = new Uint8Array(EVENT_KIND_COUNT);
for (const k of [EventKind.ClusterAlloc, EventKind.CacheGetRead, EventKind.L1Update, EventKind.RefblockAlloc, EventKind.ReftableGrow, EventKind.L1Grow, EventKind.RefcountUpdate]) TRACKED[k] = 1;

export class HostMapTracker {
  private kinds = new Uint8Array(0);
  /** What a shared cluster holds (data, L2 table, compressed), so it shows as that again when unshared. */
  private under = new Map<number, HostKind>();
  /** Clusters of the host file the map covers (the file may have grown since the last event). */
  private length = 0;
  readonly counts = new Float64Array(HOST_KIND_CHARS.length);
  readonly clusterSize: number;

  constructor(private readonly img: Qcow2Image) {
    this.clusterSize = img.clusterSize;
    this.resync();
  }

  /** Rebuilds from the image's tables and refcounts (start, end of replay, pause). */
  resync(): void {
    const m = buildHostMap(this.img);
    this.kinds = new Uint8Array(Math.max(1024, m.kinds.length));
    this.kinds.set(m.kinds);
    this.length = m.kinds.length;
    this.counts.fill(0);
    this.under.clear();
    let tables: Set<number> | null = null;
    for (let c = 0; c < this.length; c++) {
      const k = this.kinds[c]!;
      this.counts[k]!++;
      if (k === HostKind.Shared) this.under.set(c, (tables ??= l2TableOffsets(this.img)).has(c * this.clusterSize) ? HostKind.L2 : HostKind.Data);
    }
  }

  /** Clusters the map covers now (it grows with the file as events or frames see it). */
  get clusters(): number {
    return this.length;
  }

  /** Kind of host cluster `c` as the tracker knows it (Free past the end). */
  kindAt(c: number): HostKind {
    return c < this.length ? (this.kinds[c]! as HostKind) : HostKind.Free;
  }

  /**
   * Folds the events [first, end) of one request of the active layer (node 0) into the map; `compressed`: the
   * request was a compressed write, whose new clusters hold compressed data.
   */
  apply(ev: EventColumns, first: number, end: number, compressed = false): void {
    const allocated = compressed ? HostKind.Compressed : HostKind.Data;
    for (let i = first; i < end; i++) {
      const kind = ev.kindAt(i);
      if (!TRACKED[kind] || ev.nodeAt(i) !== 0) continue;
      switch (kind) {
        case EventKind.ClusterAlloc:
          // What the cluster will hold is told later (L1 update, refblock); until then it is guest data.
          this.mark(ev.aAt(i), ev.bAt(i), allocated, true);
          break;
        case EventKind.CacheGetRead:
          // A table taken into the cache without reading it is a new one (also the refcount blocks that a
          // refcount table growth lays out before the table, which have no event of their own).
          if (ev.bAt(i) === 0) this.mark(ev.aAt(i), 1, ev.cacheAt(i) === CACHE_L2 ? HostKind.L2 : HostKind.Refblock, false);
          break;
        case EventKind.L1Update:
          if (ev.bAt(i) > 0) this.mark(ev.bAt(i), 1, HostKind.L2, false);
          break;
        case EventKind.RefblockAlloc:
          this.mark(ev.aAt(i), 1, HostKind.Refblock, false);
          break;
        case EventKind.ReftableGrow:
          this.mark(ev.cAt(i), Math.ceil((ev.bAt(i) * 8) / this.clusterSize), HostKind.Reftable, false);
          break;
        case EventKind.L1Grow:
          this.mark(ev.cAt(i), Math.ceil((ev.bAt(i) * 8) / this.clusterSize), HostKind.L1, false);
          break;
        case EventKind.RefcountUpdate: {
          // Freeing is a refcount reaching 0 (a ClusterFree event is a decrement, which snapshots may survive);
          // a refcount reaching 2 shares the cluster, back to 1 unshares it.
          const c = ev.aAt(i);
          const k = this.kindAt(c);
          if (ev.cAt(i) === 0) this.set(c, HostKind.Free);
          else if (ev.cAt(i) >= 2 && (k === HostKind.Data || k === HostKind.L2 || k === HostKind.Compressed)) {
            this.under.set(c, k);
            this.set(c, HostKind.Shared);
          } else if (ev.cAt(i) === 1 && k === HostKind.Shared) {
            this.set(c, this.under.get(c) ?? HostKind.Data);
            this.under.delete(c);
          }
          break;
        }
        default:
          break;
      }
    }
  }

  /** The map folded into at most `cells` cells, covering the host file as it is now. */
  fold(cells: number): FoldedMap {
    const fileClusters = Math.ceil(this.img.file.size() / this.clusterSize);
    this.grow(Math.min(fileClusters, MAX_CLUSTERS));
    const f = foldMap({ clusterSize: this.clusterSize, clusters: fileClusters, kinds: this.kinds.subarray(0, this.length), counts: this.counts, allocated: 0, fragmented: 0, truncated: false }, cells);
    return { kinds: f.kinds, perCell: f.perCell, clusters: fileClusters, clusterSize: this.clusterSize, counts: this.counts };
  }

  private mark(offset: number, clusters: number, kind: HostKind, onlyFree: boolean): void {
    if (!(offset >= 0) || !(clusters > 0)) return;
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.min(MAX_CLUSTERS, first + clusters) - 1;
    for (let c = first; c <= last; c++) {
      const k = this.kindAt(c);
      if (onlyFree && k !== HostKind.Free) continue;
      this.set(c, kind);
    }
  }

  private set(c: number, kind: HostKind): void {
    if (c >= MAX_CLUSTERS) return;
    this.grow(c + 1);
    const old = this.kinds[c]!;
    if (old === kind) return;
    if (old === HostKind.Shared) this.under.delete(c);
    this.counts[old]!--;
    this.counts[kind]!++;
    this.kinds[c] = kind;
  }

  /** Extends the map to n clusters; new clusters are free until an event says otherwise. */
  private grow(n: number): void {
    if (n <= this.length) return;
    if (n > this.kinds.length) {
      const k = new Uint8Array(Math.max(n, this.kinds.length * 2));
      k.set(this.kinds.subarray(0, this.length));
      this.kinds = k;
    }
    this.counts[HostKind.Free]! += n - this.length;
    this.length = n;
  }
}

/** Host offsets of the L2 tables of the active L1 and of every snapshot's L1 (to tell shared tables from data). */
function l2TableOffsets(img: Qcow2Image): Set<number> {
  const out = new Set<number>();
  const add = (l1: Uint8Array, entries: number) => {
    for (let i = 0; i < entries; i++) {
      const off = entryOffset(u32(l1, i * 8), u32(l1, i * 8 + 4));
      if (off) out.add(off);
    }
  };
  add(img.l1, img.header.l1Size);
  if (!img.header.nbSnapshots) return out;
  try {
    for (const s of decodeSnapshotTable((b, o) => img.file.read(b, o), img.header, img.file.size(), img.filename)) {
      // Same bound as the session's map: larger snapshot tables are not read.
      if (s.l1Size * 8 > 32 * 1024 * 1024) continue;
      const l1 = new Uint8Array(s.l1Size * 8);
      img.file.read(l1, s.l1TableOffset);
      add(l1, s.l1Size);
    }
  } catch {
    // A broken snapshot table: its shared tables show as data, as the map cannot reach them either.
  }
  return out;
}
