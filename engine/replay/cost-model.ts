// Turns the engine events of one request into the host I/Os they stand for and a modelled latency, split by
// cause (data, L2 miss, write-back, refcounts, allocation, COW, flush, backing, decompression). Requests are
// modelled one at a time (queue depth 1). With a calibrated profile (a `host` section) the host files are
// modelled too (host-io.ts): page cache, holes, file growth, sync after dirty data; without one, every I/O
// reaches the device.
import { EventKind, CACHE_L2, CACHE_REFCOUNT } from "../events/event-kind.js";
import type { EventRecorder } from "../events/recorder.js";
import { usesODirect, type CacheMode } from "../image/engine-config.js";
import type { DeviceProfile } from "./device-profiles.js";
import { HostFiles, type HostFileState } from "./host-io.js";

export const enum Cause {
  Data,
  L2Miss,
  L2Writeback,
  Refcount,
  Allocation,
  CowRead,
  CowWrite,
  Flush,
  Backing,
  Decompress,
}
export const CAUSE_COUNT = Cause.Decompress + 1;
export const CAUSE_NAMES: readonly string[] = ["data", "l2-miss", "l2-writeback", "refcount", "allocation", "cow-read", "cow-write", "flush", "backing-read", "decompress"];
export const CAUSE_LABELS: readonly string[] = [
  "guest data",
  "L2 cache miss (slice load)",
  "L2 write-back",
  "refcount block load/write-back",
  "allocation (L1, refcount table, header)",
  "COW read",
  "COW write (or zero-fill of a skipped COW)",
  "flush / sync",
  "backing file read",
  "decompression",
];

/** Counters gathered in the same pass (node 0 = the active layer; backing nodes are counted apart). */
export const enum Tally {
  L2Hit,
  L2Miss,
  RefcountHit,
  RefcountMiss,
  BackingCacheHit,
  BackingCacheMiss,
  MetaReads,
  MetaWrites,
  MetaReadBytes,
  MetaWriteBytes,
  L2Writebacks,
  RefcountWritebacks,
  DataReadBytes,
  DataWriteBytes,
  CowBytes,
  CowOps,
  SkipCow,
  Syncs,
  ClustersAllocated,
  ClustersFreed,
  L2Allocations,
  RefblockAllocations,
  L1Updates,
  BackingBytes,
  Decompressed,
  RefcountUpdates,
  /** Misses on a table loaded before (evicted since): capacity misses, as opposed to first loads. */
  L2RepeatMiss,
  RefcountRepeatMiss,
}
export const TALLY_COUNT = Tally.RefcountRepeatMiss + 1;

/**
 * The kinds charge() acts on (the cases of its switch; a CacheGet counts through its CacheGetDone, or chargeHit for
 * the pair): an event of any other kind costs nothing and counts nothing there, so a sink that knows a request's
 * events in advance (request-events.ts, for the write fast path's shapes) charges only these.
 */
export const CHARGED_KINDS: readonly EventKind[] = [
  EventKind.CacheGetDone,
  EventKind.MetadataRead,
  EventKind.MetadataWrite,
  EventKind.L1Update,
  EventKind.DirtyBit,
  EventKind.ReftableGrow,
  EventKind.DataRead,
  EventKind.BackingRead,
  EventKind.DataWrite,
  EventKind.CowWrite,
  EventKind.CowRead,
  EventKind.SkipCow,
  EventKind.FlushToDisk,
  EventKind.Decompress,
  EventKind.ClusterAlloc,
  EventKind.ClusterFree,
  EventKind.L2Allocate,
  EventKind.RefblockAlloc,
  EventKind.RefcountUpdate,
];

/** Column access to recorded events, without an object per event. */
export interface EventColumns {
  kindAt(i: number): number;
  nodeAt(i: number): number;
  cacheAt(i: number): number;
  slotAt(i: number): number;
  aAt(i: number): number;
  bAt(i: number): number;
  cAt(i: number): number;
}

type Accessors = Partial<EventColumns>;

/**
 * The recorder's columns. Uses its column accessors when it has them; otherwise reads each event once through
 * get() and serves the fields from that (one object per event: slower, same answers).
 */
export function eventColumns(rec: EventRecorder): EventColumns {
  const r = rec as unknown as Accessors;
  if (typeof r.nodeAt === "function" && typeof r.cacheAt === "function" && typeof r.aAt === "function" && typeof r.bAt === "function" && typeof r.cAt === "function" && typeof r.slotAt === "function")
    return rec as unknown as EventColumns;
  let at = -1;
  let e = rec.get(0);
  const load = (i: number) => {
    if (i !== at) {
      e = rec.get(i);
      at = i;
    }
    return e;
  };
  return {
    kindAt: (i) => rec.kindAt(i),
    nodeAt: (i) => load(i).node,
    cacheAt: (i) => load(i).cache,
    slotAt: (i) => load(i).slot,
    aAt: (i) => load(i).a,
    bAt: (i) => load(i).b,
    cAt: (i) => load(i).c,
  };
}

export interface CostModelOptions {
  cacheMode: CacheMode;
  /** Depth of a raw backing node in the chain (its reads carry no events of their own), or -1. */
  rawBackingDepth?: number;
  /** Its size: what lies past it reads as zeros without I/O. */
  rawBackingSize?: number;
  /** The active layer's cluster size: where a skipped COW's write-zeroes lands (the cluster just allocated). */
  clusterSize?: number;
  /** Nodes whose data lives in an external data file (data I/O is on another file than metadata). */
  externalDataNodes?: readonly number[];
  /** The host files' state at the start, by file index (node * 2, + 1 for an external data file). */
  hostFiles?: Map<number, HostFileState>;
}

const MIB = 1024 * 1024;
const UNKNOWN = -1;

export class CostModel {
  /** µs per cause of the request last costed. */
  readonly causes = new Float64Array(CAUSE_COUNT);
  /** Running counters over every request costed. */
  readonly tally = new Float64Array(TALLY_COUNT);
  /** When set (Chrome trace), the cost and cause of each event of the last request (index i - first). */
  eventCost: Float64Array | null = null;
  eventCause: Int8Array | null = null;
  private lastFile = -1;
  private lastEnd = UNKNOWN;
  private readonly readBpUs: number;
  private readonly writeBpUs: number;
  private readonly decompBpUs: number;
  private readonly rawDepth: number;
  private readonly external: Set<number>;
  private pendingCowBytes = 0;
  /** Host offset of the last cluster allocation (ClusterAlloc), for the write-zeroes of a skipped COW. */
  private lastAllocHost = UNKNOWN;
  private pendingCowCost = 0;
  /** The request being costed: whether the guest writes, and events charged so far. */
  private guestWrite = false;
  private charged = 0;
  private readonly l2Seen = new Set<number>();
  private readonly refcountSeen = new Set<number>();
  /** Host files (page cache, holes, growth): only with a calibrated profile. */
  private readonly host: HostFiles | null;

  constructor(
    readonly profile: DeviceProfile,
    readonly opts: CostModelOptions,
  ) {
    this.readBpUs = (profile.readMiBps * MIB) / 1e6;
    this.writeBpUs = (profile.writeMiBps * MIB) / 1e6;
    this.decompBpUs = (profile.decompressMiBps * MIB) / 1e6;
    this.rawDepth = opts.rawBackingDepth ?? -1;
    this.external = new Set(opts.externalDataNodes ?? []);
    const direct = usesODirect(opts.cacheMode);
    this.host = profile.host ? new HostFiles(profile.host, direct, opts.hostFiles ?? new Map()) : null;
  }

  /** Forgets the head position (a new replay). */
  reset(): void {
    this.lastFile = -1;
    this.lastEnd = UNKNOWN;
    this.tally.fill(0);
    this.l2Seen.clear();
    this.refcountSeen.clear();
  }

  /** Asks for per-event costs (sized for `n` events; grows as needed). */
  trackEvents(n = 256): void {
    this.eventCost = new Float64Array(n);
    this.eventCause = new Int8Array(n);
  }

  /**
   * Modelled latency (µs) of the request whose events are [first, end); `guestWrite` says whether the guest asked
   * to change data (its reads are then COW reads). Fills `causes`; adds to `tally`.
   */
  requestCost(ev: EventColumns, first: number, end: number, guestWrite: boolean): number {
    if (this.eventCost !== null && this.eventCost.length < end - first) {
      let n = this.eventCost.length;
      while (n < end - first) n *= 2;
      this.trackEvents(n);
    }
    this.begin(guestWrite);
    for (let i = first; i < end; i++) this.charge(ev.kindAt(i), ev.nodeAt(i), ev.cacheAt(i), ev.aAt(i), ev.bAt(i), ev.cAt(i));
    return this.finish();
  }

  /**
   * Starts costing a request whose events come one by one through charge() (as they are emitted: a replay that
   * keeps none, see request-events.ts CostingSink), then finish(). requestCost() is the same three steps over
   * recorded events, so both give the same figures.
   */
  begin(guestWrite: boolean): void {
    // A loop, not fill(): ten stores cost less than the builtin's call, once per request.
    const c = this.causes;
    for (let k = 0; k < CAUSE_COUNT; k++) c[k] = 0;
    this.guestWrite = guestWrite;
    this.charged = 0;
    this.pendingCowBytes = 0;
    this.pendingCowCost = 0;
    // The qcow2 driver's own time per request (a calibrated profile measures it; QEMU's CPU, not the device).
    if (this.host) c[Cause.Data]! += this.host.host.requestUs;
  }

  /** The request's latency (µs): the sum of its causes. */
  finish(): number {
    const c = this.causes;
    let total = 0;
    for (let k = 0; k < CAUSE_COUNT; k++) total += c[k]!;
    return total;
  }

  /**
   * charge() of a cache hit's two events, CacheGet (node, cache, a = offset, b = readFromDisk) and CacheGetDone
   * (b = 0: a hit): neither costs time, the second counts a hit. The sinks call it for EventSink.cacheHit (two of
   * the commonest events, one call instead of two through the switch); with per-event costs, each goes through
   * charge() as before.
   */
  chargeHit(node: number, cacheId: number, offset: number, readFromDisk: number): void {
    if (this.eventCost !== null) {
      this.charge(EventKind.CacheGet, node, cacheId, offset, readFromDisk, 0);
      this.charge(EventKind.CacheGetDone, node, cacheId, offset, 0, 0);
      return;
    }
    const t = this.tally;
    if (node !== 0) t[Tally.BackingCacheHit]!++;
    else t[cacheId === CACHE_L2 ? Tally.L2Hit : Tally.RefcountHit]!++;
  }

  /** Costs one event of the request begun (the recorder's fields: a, b, c = the event's payload). */
  charge(kind: number, node: number, cacheId: number, a: number, b: number, cv: number): void {
    const c = this.causes;
    const t = this.tally;
    const guestWrite = this.guestWrite;
    let cost = 0;
    let cause = -1;
    switch (kind) {
      case EventKind.CacheGetDone: {
        const miss = b !== 0;
        if (node !== 0) t[miss ? Tally.BackingCacheMiss : Tally.BackingCacheHit]!++;
        else {
          const l2 = cacheId === CACHE_L2;
          if (!miss) t[l2 ? Tally.L2Hit : Tally.RefcountHit]!++;
          else {
            t[l2 ? Tally.L2Miss : Tally.RefcountMiss]!++;
            const seen = l2 ? this.l2Seen : this.refcountSeen;
            const off = a;
            if (seen.has(off)) t[l2 ? Tally.L2RepeatMiss : Tally.RefcountRepeatMiss]!++;
            else seen.add(off);
          }
        }
        break;
      }
      case EventKind.MetadataRead: {
        const bytes = b;
        cost = this.io(false, node * 2, a, bytes);
        cause = cacheId === CACHE_L2 ? Cause.L2Miss : cacheId === CACHE_REFCOUNT ? Cause.Refcount : Cause.Allocation;
        t[Tally.MetaReads]!++;
        t[Tally.MetaReadBytes]! += bytes;
        break;
      }
      case EventKind.MetadataWrite: {
        const bytes = b;
        cost = this.io(true, node * 2, a, bytes);
        const cache = cacheId;
        if (cache === CACHE_L2) {
          cause = Cause.L2Writeback;
          t[Tally.L2Writebacks]!++;
        } else if (cache === CACHE_REFCOUNT) {
          cause = Cause.Refcount;
          t[Tally.RefcountWritebacks]!++;
        } else cause = Cause.Allocation;
        t[Tally.MetaWrites]!++;
        t[Tally.MetaWriteBytes]! += bytes;
        break;
      }
      case EventKind.L1Update:
        // An 8-byte write into the L1 table (the event carries the index, not the offset).
        cost = this.io(true, node * 2, UNKNOWN, 8);
        cause = Cause.Allocation;
        t[Tally.MetaWrites]!++;
        t[Tally.MetaWriteBytes]! += 8;
        t[Tally.L1Updates]!++;
        break;
      case EventKind.DirtyBit:
        cost = this.io(true, node * 2, 72, 8);
        cause = Cause.Allocation;
        t[Tally.MetaWrites]!++;
        t[Tally.MetaWriteBytes]! += 8;
        break;
      case EventKind.ReftableGrow:
        // The header update that switches to the new table (the table itself is a MetadataWrite).
        cost = this.io(true, node * 2, 48, 12);
        cause = Cause.Allocation;
        t[Tally.MetaWrites]!++;
        t[Tally.MetaWriteBytes]! += 12;
        break;
      case EventKind.DataRead: {
        const bytes = b;
        cost = this.io(false, this.dataFile(node), a, bytes);
        cause = guestWrite ? Cause.CowRead : node === 0 ? Cause.Data : Cause.Backing;
        t[Tally.DataReadBytes]! += bytes;
        if (node !== 0) t[Tally.BackingBytes]! += bytes;
        break;
      }
      case EventKind.BackingRead: {
        // A qcow2 backing node reports its own reads; a raw one does not, so the read is charged here.
        if (node + 1 === this.rawDepth) {
          const at = a;
          const bytes = Math.max(0, Math.min(b, (this.opts.rawBackingSize ?? Infinity) - at));
          if (bytes === 0) break;
          cost = this.io(false, (node + 1) * 2, at, bytes);
          cause = guestWrite ? Cause.CowRead : Cause.Backing;
          t[Tally.BackingBytes]! += bytes;
        }
        break;
      }
      case EventKind.DataWrite: {
        const bytes = b;
        cost = this.io(true, this.dataFile(node), a, bytes);
        cause = Cause.Data;
        t[Tally.DataWriteBytes]! += bytes;
        break;
      }
      case EventKind.CowWrite: {
        const bytes = b;
        cost = this.io(true, this.dataFile(node), a, bytes);
        cause = Cause.CowWrite;
        this.pendingCowBytes += bytes;
        this.pendingCowCost += cost;
        t[Tally.DataWriteBytes]! += bytes;
        break;
      }
      case EventKind.CowRead: {
        // Summary of one COW: b = head + tail bytes. A merged write also carried the guest's data: that share
        // of its cost is the data's, not COW's.
        const cowBytes = b;
        if (this.pendingCowBytes > cowBytes) {
          const share = (this.pendingCowCost * (this.pendingCowBytes - cowBytes)) / this.pendingCowBytes;
          c[Cause.CowWrite]! -= share;
          c[Cause.Data]! += share;
        }
        this.pendingCowBytes = 0;
        this.pendingCowCost = 0;
        t[Tally.CowBytes]! += cowBytes;
        t[Tally.CowOps]!++;
        break;
      }
      case EventKind.SkipCow: {
        // bdrv_co_pwrite_zeroes over the new clusters (fallocate ZERO_RANGE on a host file): it allocates them
        // unwritten, so the data write that follows is a write into an unwritten extent, not into a hole.
        const cs = this.opts.clusterSize;
        const file = this.dataFile(node);
        const at = cs && this.lastAllocHost !== UNKNOWN ? this.lastAllocHost : UNKNOWN;
        cost = this.host ? this.host.zeroRange(file, at, at === UNKNOWN ? 0 : b * cs!) : this.io(true, file, UNKNOWN, 0);
        cause = Cause.CowWrite;
        t[Tally.SkipCow]!++;
        break;
      }
      case EventKind.FlushToDisk:
        if (this.opts.cacheMode !== "unsafe") {
          cost = this.host ? this.host.sync(node * 2) + (this.external.has(node) ? this.host.sync(node * 2 + 1) : 0) : this.profile.flushUs;
        }
        cause = Cause.Flush;
        t[Tally.Syncs]!++;
        break;
      case EventKind.Decompress: {
        const out = cv;
        cost = this.profile.decompressUs + out / this.decompBpUs;
        cause = Cause.Decompress;
        t[Tally.Decompressed]! += out;
        break;
      }
      case EventKind.ClusterAlloc:
        if (node === 0) this.lastAllocHost = a;
        if (this.host) {
          cost = this.host.host.allocUs;
          cause = Cause.Allocation;
        }
        t[Tally.ClustersAllocated]! += b;
        break;
      case EventKind.ClusterFree:
        t[Tally.ClustersFreed]! += b;
        break;
      case EventKind.L2Allocate:
        t[Tally.L2Allocations]!++;
        break;
      case EventKind.RefblockAlloc:
        t[Tally.RefblockAllocations]!++;
        break;
      case EventKind.RefcountUpdate:
        t[Tally.RefcountUpdates]!++;
        break;
      default:
        break;
    }
    if (cause >= 0) c[cause]! += cost;
    if (this.eventCost !== null) {
      const i = this.charged++;
      if (i < this.eventCost.length) {
        this.eventCost[i] = cost;
        this.eventCause![i] = cause;
      }
    }
  }

  private dataFile(node: number): number {
    return node * 2 + (this.external.has(node) ? 1 : 0);
  }

  /** One I/O on `file` (node * 2, + 1 for an external data file); offset UNKNOWN = not sequential. */
  private io(write: boolean, file: number, offset: number, bytes: number): number {
    if (!this.host) return this.deviceIo(write, file, offset, bytes);
    const h = write ? this.host.write(file, offset, bytes) : this.host.read(file, offset, bytes);
    return h.us + (h.deviceBytes > 0 ? this.deviceIo(write, file, offset, h.deviceBytes) : 0);
  }

  /** An I/O that reaches the device. */
  private deviceIo(write: boolean, file: number, offset: number, bytes: number): number {
    const p = this.profile;
    const sequential = offset !== UNKNOWN && file === this.lastFile && offset === this.lastEnd;
    let us: number;
    if (sequential) us = write ? p.seqWriteLatencyUs : p.seqReadLatencyUs;
    else {
      us = write ? p.writeLatencyUs : p.readLatencyUs;
      const s = p.seek;
      if (s) {
        // Another file, or an unknown place: an average random seek (a third of the stroke).
        const dist = file === this.lastFile && offset !== UNKNOWN && this.lastEnd !== UNKNOWN ? Math.abs(offset - this.lastEnd) : s.strokeBytes / 3;
        us += (s.minMs + (s.maxMs - s.minMs) * Math.sqrt(Math.min(1, dist / s.strokeBytes))) * 1000;
        if (s.rpm > 0) us += 30e6 / s.rpm;
      }
    }
    us += bytes / (write ? this.writeBpUs : this.readBpUs);
    this.lastFile = file;
    this.lastEnd = offset === UNKNOWN ? UNKNOWN : offset + bytes;
    return us;
  }
}
