// Running sums over the event log up to the current position, kept incrementally: forward steps add the new
// events, backward steps restore the nearest checkpoint and roll forward. Time travel re-executes
// deterministically (the recorder rewinds without dropping events), so sums keyed by event index stay valid.
// Also finds where each request's events start, for the panes that show a finished request.
import { EventKind, CACHE_L2, CACHE_REFCOUNT } from "../../engine/events/event-kind.js";
import type { EventRecorder } from "../../engine/events/recorder.js";

export const enum Sum {
  L2Hit,
  L2Miss,
  RcHit,
  RcMiss,
  L2Writeback,
  RcWriteback,
  MetaReads,
  MetaWrites,
  MetaBytes,
  CowBytes,
  CowOps,
  Syncs,
  FlushToOs,
  ClustersAllocated,
  ClustersFreed,
  L2Allocs,
  DataReadBytes,
  DataWriteBytes,
}
export const SUM_COUNT = Sum.DataWriteBytes + 1;

const CHECKPOINT_EVERY = 1 << 16;

/** Adds one event to the sums. */
export function addEvent(s: Float64Array, kind: EventKind, node: number, cache: number, b: number): void {
  switch (kind) {
    case EventKind.CacheGetDone:
      if (node === 0) s[cache === CACHE_L2 ? (b !== 0 ? Sum.L2Miss : Sum.L2Hit) : b !== 0 ? Sum.RcMiss : Sum.RcHit]!++;
      break;
    case EventKind.MetadataRead:
      s[Sum.MetaReads]!++;
      s[Sum.MetaBytes]! += b;
      break;
    case EventKind.MetadataWrite:
      s[Sum.MetaWrites]!++;
      s[Sum.MetaBytes]! += b;
      if (cache === CACHE_L2) s[Sum.L2Writeback]!++;
      else if (cache === CACHE_REFCOUNT) s[Sum.RcWriteback]!++;
      break;
    case EventKind.L1Update:
    case EventKind.DirtyBit:
      s[Sum.MetaWrites]!++;
      s[Sum.MetaBytes]! += 8;
      break;
    case EventKind.CowRead:
      s[Sum.CowBytes]! += b;
      s[Sum.CowOps]!++;
      break;
    case EventKind.FlushToDisk:
      s[Sum.Syncs]!++;
      break;
    case EventKind.FlushToOs:
      s[Sum.FlushToOs]!++;
      break;
    case EventKind.ClusterAlloc:
      s[Sum.ClustersAllocated]! += b;
      break;
    case EventKind.ClusterFree:
      s[Sum.ClustersFreed]! += b;
      break;
    case EventKind.L2Allocate:
      s[Sum.L2Allocs]!++;
      break;
    case EventKind.DataRead:
      s[Sum.DataReadBytes]! += b;
      break;
    case EventKind.DataWrite:
      s[Sum.DataWriteBytes]! += b;
      break;
  }
}

export class EventSums {
  private at = 0;
  private sums = new Float64Array(SUM_COUNT);
  /** sums at event k * CHECKPOINT_EVERY. */
  private checkpoints: Float64Array[] = [new Float64Array(SUM_COUNT)];

  /** Sums over events [0, end) of `rec`. */
  update(rec: EventRecorder, end: number): Float64Array {
    if (end < this.at) {
      const k = Math.min(Math.floor(end / CHECKPOINT_EVERY), this.checkpoints.length - 1);
      this.sums = this.checkpoints[k]!.slice();
      this.at = k * CHECKPOINT_EVERY;
    }
    const s = this.sums;
    for (let i = this.at; i < end; i++) {
      if (i % CHECKPOINT_EVERY === 0 && i / CHECKPOINT_EVERY === this.checkpoints.length) this.checkpoints.push(s.slice());
      addEvent(s, rec.kindAt(i), rec.nodeAt(i), rec.cacheAt(i), rec.bAt(i));
    }
    this.at = end;
    return s;
  }
}

/**
 * The sums when the event log is off (very long traces): the per-kind counts and the caches' counters, which
 * time travel restores with the rest of the engine. Byte totals need each event's payload: NaN (unknown).
 */
export function sumsFromCounts(counts: Float64Array, l2: CacheCounters, rc: CacheCounters): Float64Array {
  const s = new Float64Array(SUM_COUNT);
  s[Sum.L2Hit] = l2.hits;
  s[Sum.L2Miss] = l2.misses;
  s[Sum.RcHit] = rc.hits;
  s[Sum.RcMiss] = rc.misses;
  s[Sum.L2Writeback] = l2.writebacks;
  s[Sum.RcWriteback] = rc.writebacks;
  s[Sum.MetaReads] = counts[EventKind.MetadataRead]!;
  s[Sum.MetaWrites] = counts[EventKind.MetadataWrite]! + counts[EventKind.L1Update]! + counts[EventKind.DirtyBit]!;
  s[Sum.CowOps] = counts[EventKind.CowRead]!;
  s[Sum.Syncs] = counts[EventKind.FlushToDisk]!;
  s[Sum.FlushToOs] = counts[EventKind.FlushToOs]!;
  s[Sum.L2Allocs] = counts[EventKind.L2Allocate]!;
  for (const k of [Sum.MetaBytes, Sum.CowBytes, Sum.ClustersAllocated, Sum.ClustersFreed, Sum.DataReadBytes, Sum.DataWriteBytes]) s[k] = NaN;
  return s;
}

export interface CacheCounters {
  hits: number;
  misses: number;
  writebacks: number;
}

/** Where each request id's events start in the log (ids are 1-based, as the replay engine numbers them). */
export class RequestStarts {
  private scanned = 0;
  private starts = new Float64Array(1024).fill(-1);
  private lastId = 0;

  private scan(rec: EventRecorder, end: number): void {
    for (let i = this.scanned; i < end; i++) {
      const id = rec.requestAt(i);
      if (id === this.lastId) continue;
      this.lastId = id;
      if (id >= this.starts.length) {
        let n = this.starts.length;
        while (n <= id) n *= 2;
        const grown = new Float64Array(n).fill(-1);
        grown.set(this.starts);
        this.starts = grown;
      }
      if (this.starts[id]! < 0) this.starts[id] = i;
    }
    this.scanned = Math.max(this.scanned, end);
  }

  /** Events [first, end) of request `id` within the log's first `logEnd` events, or null when it has none. */
  range(rec: EventRecorder, id: number, logEnd: number): { first: number; end: number } | null {
    if (logEnd > this.scanned) this.scan(rec, logEnd);
    if (id <= 0 || id >= this.starts.length || this.starts[id]! < 0 || this.starts[id]! >= logEnd) return null;
    const first = this.starts[id]!;
    let end = first;
    while (end < logEnd && rec.requestAt(end) === id) end++;
    return { first, end };
  }
}
