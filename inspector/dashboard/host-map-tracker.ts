// The host-file cluster map of a replay kept current from the engine's allocation events (alloc, free, L2
// table, refcount block, table growth), so each frame costs a fold, not a walk of every L2 table. It starts
// from (and can be resynced with) the session's full map, which also knows leaked and shared clusters.
import { EventKind, EVENT_KIND_COUNT } from "../../engine/events/event-kind.js";
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
for (const k of [EventKind.ClusterAlloc, EventKind.ClusterFree, EventKind.L1Update, EventKind.RefblockAlloc, EventKind.ReftableGrow, EventKind.L1Grow, EventKind.RefcountUpdate]) TRACKED[k] = 1;

export class HostMapTracker {
  private kinds = new Uint8Array(0);
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
    for (let c = 0; c < this.length; c++) this.counts[this.kinds[c]!]!++;
  }

  /** Kind of host cluster `c` as the tracker knows it (Free past the end). */
  kindAt(c: number): HostKind {
    return c < this.length ? (this.kinds[c]! as HostKind) : HostKind.Free;
  }

  /** Folds the events [first, end) of one request of the active layer (node 0) into the map. */
  apply(ev: EventColumns, first: number, end: number): void {
    for (let i = first; i < end; i++) {
      const kind = ev.kindAt(i);
      if (!TRACKED[kind] || ev.nodeAt(i) !== 0) continue;
      switch (kind) {
        case EventKind.ClusterAlloc:
          // What the cluster will hold is told later (L1 update, refblock); until then it is guest data.
          this.mark(ev.aAt(i), ev.bAt(i), HostKind.Data, true);
          break;
        case EventKind.ClusterFree:
          this.mark(ev.aAt(i), ev.bAt(i), HostKind.Free, false);
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
          // Snapshots share clusters: a refcount reaching 2 shares, back to 1 unshares (it was data or an L2 table).
          const c = ev.aAt(i);
          const k = this.kindAt(c);
          if (ev.cAt(i) >= 2 && (k === HostKind.Data || k === HostKind.L2 || k === HostKind.Compressed)) this.set(c, HostKind.Shared);
          else if (ev.cAt(i) === 1 && k === HostKind.Shared) this.set(c, HostKind.Data);
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
