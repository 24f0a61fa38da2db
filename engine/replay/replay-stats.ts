// One replay of a trace with statistics: drives the requests through a ReplayEngine (shadow layer), costs each
// request from its events right after it ran, and keeps totals, latency distributions per op, time by cause and
// the slowest requests with the reasons. Costed events are dropped in batches unless asked to keep them, so
// memory stays flat over millions of requests.
import type { GuestOp, GuestRequest } from "../workload/guest-request.js";
import type { EngineConfig } from "../image/engine-config.js";
import type { Qcow2Image } from "../image/qcow2-image.js";
import type { BlockNode } from "../image/block-node.js";
import { EventKind } from "../events/event-kind.js";
import { ReplayEngine, type RequestOutcome } from "./replay-engine.js";
import { probeHostFile, type HostFileState } from "./host-io.js";
import type { Storage } from "../storage/storage.js";
import { CostModel, CAUSE_COUNT, CAUSE_LABELS, CAUSE_NAMES, Tally, eventColumns, type EventColumns } from "./cost-model.js";
import type { DeviceProfile } from "./device-profiles.js";
import { describeRequest } from "./request-summary.js";

export interface RequestContext {
  /** 0-based index of the request in the replay. */
  index: number;
  req: GuestRequest;
  outcome: RequestOutcome;
  /** Modelled start (µs from the trace start: arrival, or later when the previous request was still running). */
  startUs: number;
  latencyUs: number;
  causes: Float64Array;
  engine: ReplayEngine;
  columns: EventColumns;
  model: CostModel;
  /** Global sequence number of the request's first event (events are renumbered when dropped per request). */
  firstSeq: number;
}

export interface ReplayRunOptions {
  /** Full engine configuration (metadataOnly is set from keepData). */
  config: EngineConfig;
  profile: DeviceProfile;
  keepData?: boolean;
  /** Slowest requests to explain (default 10). */
  topN?: number;
  /** Fill model.eventCost/eventCause for each request (Chrome trace). */
  perEventCosts?: boolean;
  /** Keep every event in the recorder (default false: events are dropped in batches once costed). */
  keepEvents?: boolean;
  onRequest?: (ctx: RequestContext) => void;
  /** Called every `progressEvery` requests (default 4096) with the count so far. */
  onProgress?: (done: number) => void;
  progressEvery?: number;
  /** Called with the open engine before the first request (tests, the TUI). */
  onOpen?: (engine: ReplayEngine) => void;
}

export interface OpSummary {
  op: GuestOp | "all";
  count: number;
  bytes: number;
  errors: number;
  totalUs: number;
  minUs: number;
  avgUs: number;
  maxUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
}

export interface CauseSummary {
  cause: string;
  label: string;
  us: number;
  share: number;
}

export interface SlowRequest {
  index: number;
  source: string;
  op: GuestOp;
  offset: number;
  length: number;
  latencyUs: number;
  causes: Record<string, number>;
  why: string[];
}

export interface CacheSummary {
  hits: number;
  misses: number;
  hitRate: number;
  /** Misses on a table that had been loaded before (capacity misses): 0 when the cache holds the working set. */
  repeatMisses: number;
  writebacks: number;
}

export interface ReplaySummary {
  image: {
    path: string;
    virtualSize: number;
    clusterSize: number;
    extendedL2: boolean;
    refcountBits: number;
    l2CacheBytes: number;
    l2CacheEntries: number;
    l2EntrySize: number;
    /** Guest bytes the L2 cache can map (QEMU's l2_cache_size * cluster_size / 8, /16 with extended L2). */
    l2Coverage: number;
    refcountCacheEntries: number;
    cacheMode: string;
    lazyRefcounts: boolean;
    fileSizeStart: number;
    fileSizeEnd: number;
    growth: number;
  };
  profile: string;
  requests: number;
  errors: number;
  /** Requests past the virtual size (not applied; --fit maps them onto the image). */
  outOfRange: number;
  errorSamples: string[];
  ops: OpSummary[];
  totalUs: number;
  timeByCause: CauseSummary[];
  caches: {
    l2: CacheSummary;
    refcount: CacheSummary;
    backing: { hits: number; misses: number };
    /** The image's own counters (the events must agree with them). */
    imageCounters: { l2Hits: number; l2Misses: number; refcountHits: number; refcountMisses: number };
  };
  metadata: { reads: number; writes: number; readBytes: number; writeBytes: number; perGuestIo: number };
  data: { hostReadBytes: number; hostWriteBytes: number; backingBytes: number; decompressedBytes: number };
  cow: { bytes: number; ops: number; skipped: number };
  /** syncs include those of closing the image at the end (atClose), as qemu-io's exit makes them. */
  flushes: { requests: number; syncs: number; atClose: number };
  allocations: { clusters: number; freed: number; l2Tables: number; refcountBlocks: number; l1Updates: number; refcountUpdates: number };
  touched: { minOffset: number; maxEnd: number; l2Tables: number; coveredBytes: number; l2CacheNeeded: number };
  slowest: SlowRequest[];
  wallSeconds: number;
  requestsPerSecond: number;
}

/** Events are dropped in batches (at a request boundary) once this many are held: ~35 MiB of columns. */
const DROP_EVENTS_AT = 1 << 20;

const OP_INDEX: Record<GuestOp, number> = { read: 0, write: 1, "write-zeroes": 2, discard: 3, flush: 4 };
const OPS: GuestOp[] = ["read", "write", "write-zeroes", "discard", "flush"];

class Latencies {
  values = new Float64Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.values.length) {
      const g = new Float64Array(this.n * 2);
      g.set(this.values);
      this.values = g;
    }
    this.values[this.n++] = v;
  }
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  // Nearest rank, as btt's percentile files are read.
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

function summarizeOp(op: GuestOp | "all", lat: Float64Array, bytes: number, errors: number): OpSummary {
  const sorted = lat.slice().sort();
  let total = 0;
  for (let i = 0; i < sorted.length; i++) total += sorted[i]!;
  const n = sorted.length;
  return {
    op,
    count: n,
    bytes,
    errors,
    totalUs: total,
    minUs: n ? sorted[0]! : 0,
    avgUs: n ? total / n : 0,
    maxUs: n ? sorted[n - 1]! : 0,
    p50Us: quantile(sorted, 0.5),
    p90Us: quantile(sorted, 0.9),
    p99Us: quantile(sorted, 0.99),
    p999Us: quantile(sorted, 0.999),
  };
}

/** Which node is a raw backing file and which use an external data file (the cost model charges them apart). */
export function chainInfo(img: Qcow2Image): { rawDepth: number; rawSize: number; external: number[] } {
  let rawDepth = -1;
  let rawSize = 0;
  const external: number[] = [];
  let node: BlockNode | null = img;
  let depth = 0;
  while (node) {
    if (node.format === "raw") {
      rawDepth = depth;
      rawSize = node.virtualSize;
    }
    else if ((node as Qcow2Image).hasDataFile) external.push(depth);
    node = node.backing;
    depth++;
  }
  return { rawDepth, rawSize, external };
}

/** The host files of the chain as they are before the replay (for a calibrated profile's host model). */
export function hostFileStates(img: Qcow2Image): Map<number, HostFileState> {
  const out = new Map<number, HostFileState>();
  let node: BlockNode | null = img;
  for (let depth = 0; node; depth++, node = node.backing) {
    const file = (node as Partial<{ file: Storage }>).file;
    if (file) out.set(depth * 2, probeHostFile(file));
  }
  return out;
}

/** Replays `requests` over a shadow of `imagePath` and returns the statistics. The image file is never written. */
export function replayTrace(imagePath: string, requests: Iterable<GuestRequest>, opts: ReplayRunOptions): ReplaySummary {
  const t0 = performance.now();
  const engine = new ReplayEngine(imagePath, { config: { ...opts.config, metadataOnly: !opts.keepData }, keepData: opts.keepData, record: true });
  try {
    opts.onOpen?.(engine);
    return run(engine, imagePath, requests, opts, t0);
  } finally {
    engine.close();
  }
}

function run(engine: ReplayEngine, imagePath: string, requests: Iterable<GuestRequest>, opts: ReplayRunOptions, t0: number): ReplaySummary {
  const img = engine.image;
  const rec = engine.recorder;
  const cols = eventColumns(rec);
  const chain = chainInfo(img);
  const hostFiles = opts.profile.host ? hostFileStates(img) : undefined;
  const model = new CostModel(opts.profile, { cacheMode: engine.config.cacheMode, rawBackingDepth: chain.rawDepth, rawBackingSize: chain.rawSize, clusterSize: img.clusterSize, externalDataNodes: chain.external, hostFiles });
  if (opts.perEventCosts) model.trackEvents();
  const topN = opts.topN ?? 10;
  const every = opts.progressEvery ?? 4096;
  const lat = OPS.map(() => new Latencies());
  const bytes = new Float64Array(OPS.length);
  const errs = new Float64Array(OPS.length);
  const causeTotals = new Float64Array(CAUSE_COUNT);
  const errorSamples: string[] = [];
  const slowest: SlowRequest[] = [];
  // L2 tables touched by the guest: one bit per L1 entry.
  const tablesTouched = new Uint8Array(img.header.l1Size);
  const l2Span = img.geo.l2Entries * img.clusterSize;
  let minOffset = Infinity;
  let maxEnd = 0;
  const fileSizeStart = engine.shadow.size();
  let clock = 0;
  let seqBase = 0;
  let index = 0;
  const ctx: RequestContext = { index: 0, req: undefined as unknown as GuestRequest, outcome: undefined as unknown as RequestOutcome, startUs: 0, latencyUs: 0, causes: model.causes, engine, columns: cols, model, firstSeq: 0 };

  const size = img.virtualSize;
  let outOfRange = 0;
  for (const req of requests) {
    // Past the end is an I/O error in QEMU's block layer for every op; the engine only refuses writes.
    const past = req.op !== "flush" && req.offset + req.length > size;
    const out = past ? refuse(engine, req, size) : engine.apply(req);
    if (past) outOfRange++;
    const opi = OP_INDEX[req.op];
    const guestWrite = req.op !== "read" && req.op !== "flush";
    const us = model.requestCost(cols, out.firstEvent, out.endEvent, guestWrite);
    if (out.error !== undefined) {
      errs[opi]!++;
      if (errorSamples.length < 5) errorSamples.push(`${req.source}: ${out.error}`);
    } else if (req.op !== "flush" && req.length > 0) {
      bytes[opi]! += req.length;
      if (req.offset < minOffset) minOffset = req.offset;
      if (req.offset + req.length > maxEnd) maxEnd = req.offset + req.length;
      const lastTable = Math.min(tablesTouched.length - 1, Math.floor((req.offset + req.length - 1) / l2Span));
      for (let t = Math.floor(req.offset / l2Span); t <= lastTable; t++) tablesTouched[t] = 1;
    }
    lat[opi]!.push(us);
    for (let k = 0; k < CAUSE_COUNT; k++) causeTotals[k]! += model.causes[k]!;
    const arrival = req.time * 1e6;
    const start = Number.isFinite(arrival) && arrival > clock ? arrival : clock;
    clock = start + us;
    if (topN > 0 && us > 0 && (slowest.length < topN || us > slowest[slowest.length - 1]!.latencyUs)) {
      insertSlow(slowest, topN, {
        index,
        source: req.source,
        op: req.op,
        offset: req.offset,
        length: req.length,
        latencyUs: us,
        causes: causeRecord(model.causes),
        why: out.error !== undefined ? [`error: ${out.error}`] : describeRequest(cols, out.firstEvent, out.endEvent),
      });
    }
    if (opts.onRequest) {
      ctx.index = index;
      ctx.req = req;
      ctx.outcome = out;
      ctx.startUs = start;
      ctx.latencyUs = us;
      ctx.firstSeq = seqBase + out.firstEvent;
      opts.onRequest(ctx);
    }
    if (!opts.keepEvents && rec.length >= DROP_EVENTS_AT) {
      seqBase += rec.length;
      rec.truncate(0);
    }
    index++;
    if (opts.onProgress && index % every === 0) opts.onProgress(index);
  }
  opts.onProgress?.(index);

  const t = model.tally;
  const all = new Latencies();
  for (const l of lat) for (let i = 0; i < l.n; i++) all.push(l.values[i]!);
  const ops = OPS.map((op, i) => summarizeOp(op, lat[i]!.values.subarray(0, lat[i]!.n), bytes[i]!, errs[i]!)).filter((o) => o.count > 0);
  const totalBytes = bytes.reduce((a, b) => a + b, 0);
  const totalErrors = errs.reduce((a, b) => a + b, 0);
  const allOp = summarizeOp("all", all.values.subarray(0, all.n), totalBytes, totalErrors);
  const totalUs = allOp.totalUs;
  let touchedTables = 0;
  for (let i = 0; i < tablesTouched.length; i++) touchedTables += tablesTouched[i]!;
  const guestIos = index - lat[OP_INDEX.flush]!.n;
  const l2Bytes = img.l2Cache.size * img.l2Cache.tableSize;
  const wall = (performance.now() - t0) / 1000;
  const fileSizeEnd = engine.shadow.size();
  const l2EntryBytes = img.geo.l2EntryBytes;
  // Closing the image (as qemu-io does at exit) writes the caches back and syncs: QEMU's fdatasync count has them.
  const syncsBefore = rec.counts[EventKind.FlushToDisk]!;
  img.close();
  const closeSyncs = rec.counts[EventKind.FlushToDisk]! - syncsBefore;
  return {
    image: {
      path: imagePath,
      virtualSize: img.virtualSize,
      clusterSize: img.clusterSize,
      extendedL2: img.geo.extendedL2,
      refcountBits: 2 ** img.header.refcountOrder,
      l2CacheBytes: l2Bytes,
      l2CacheEntries: img.l2Cache.size,
      l2EntrySize: img.l2Cache.tableSize,
      l2Coverage: (l2Bytes / l2EntryBytes) * img.clusterSize,
      refcountCacheEntries: img.refcountCache.size,
      cacheMode: engine.config.cacheMode,
      lazyRefcounts: img.lazyRefcounts,
      fileSizeStart,
      fileSizeEnd,
      growth: fileSizeEnd - fileSizeStart,
    },
    profile: opts.profile.name,
    requests: index,
    errors: totalErrors,
    outOfRange,
    errorSamples,
    ops: [...ops, allOp],
    totalUs,
    timeByCause: CAUSE_NAMES.map((cause, k) => ({ cause, label: CAUSE_LABELS[k]!, us: causeTotals[k]!, share: totalUs > 0 ? causeTotals[k]! / totalUs : 0 })),
    caches: {
      l2: cacheSummary(t[Tally.L2Hit]!, t[Tally.L2Miss]!, t[Tally.L2RepeatMiss]!, t[Tally.L2Writebacks]!),
      refcount: cacheSummary(t[Tally.RefcountHit]!, t[Tally.RefcountMiss]!, t[Tally.RefcountRepeatMiss]!, t[Tally.RefcountWritebacks]!),
      backing: { hits: t[Tally.BackingCacheHit]!, misses: t[Tally.BackingCacheMiss]! },
      imageCounters: { l2Hits: img.l2Cache.hits, l2Misses: img.l2Cache.misses, refcountHits: img.refcountCache.hits, refcountMisses: img.refcountCache.misses },
    },
    metadata: {
      reads: t[Tally.MetaReads]!,
      writes: t[Tally.MetaWrites]!,
      readBytes: t[Tally.MetaReadBytes]!,
      writeBytes: t[Tally.MetaWriteBytes]!,
      perGuestIo: guestIos > 0 ? (t[Tally.MetaReads]! + t[Tally.MetaWrites]!) / guestIos : 0,
    },
    data: { hostReadBytes: t[Tally.DataReadBytes]!, hostWriteBytes: t[Tally.DataWriteBytes]!, backingBytes: t[Tally.BackingBytes]!, decompressedBytes: t[Tally.Decompressed]! },
    cow: { bytes: t[Tally.CowBytes]!, ops: t[Tally.CowOps]!, skipped: t[Tally.SkipCow]! },
    flushes: { requests: lat[OP_INDEX.flush]!.n, syncs: t[Tally.Syncs]! + closeSyncs, atClose: closeSyncs },
    allocations: {
      clusters: t[Tally.ClustersAllocated]!,
      freed: t[Tally.ClustersFreed]!,
      l2Tables: t[Tally.L2Allocations]!,
      refcountBlocks: t[Tally.RefblockAllocations]!,
      l1Updates: t[Tally.L1Updates]!,
      refcountUpdates: t[Tally.RefcountUpdates]!,
    },
    touched: {
      minOffset: minOffset === Infinity ? 0 : minOffset,
      maxEnd,
      l2Tables: touchedTables,
      coveredBytes: Math.min(img.virtualSize, touchedTables * l2Span),
      l2CacheNeeded: touchedTables * img.geo.l2Entries * l2EntryBytes,
    },
    slowest,
    wallSeconds: wall,
    requestsPerSecond: wall > 0 ? index / wall : 0,
  };
}

/** An out-of-range request: not run, reported like the engine reports a write past the end. */
function refuse(engine: ReplayEngine, req: GuestRequest, size: number): RequestOutcome {
  const at = engine.recorder.length;
  return { id: 0, firstEvent: at, endEvent: at, error: `request [${req.offset}, ${req.offset + req.length}) is outside the image (virtual size ${size})` };
}

function cacheSummary(hits: number, misses: number, repeat: number, writebacks: number): CacheSummary {
  return { hits, misses, hitRate: hits + misses > 0 ? hits / (hits + misses) : 1, repeatMisses: repeat, writebacks };
}

export function causeRecord(c: Float64Array): Record<string, number> {
  const r: Record<string, number> = {};
  for (let k = 0; k < CAUSE_COUNT; k++) if (c[k]) r[CAUSE_NAMES[k]!] = c[k]!;
  return r;
}

/** Keeps the n slowest requests, slowest first. */
export function insertSlow(list: SlowRequest[], n: number, s: SlowRequest): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.latencyUs < s.latencyUs) i--;
  list.splice(i, 0, s);
  if (list.length > n) list.length = n;
}
