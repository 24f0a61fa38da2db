// The replay loop, one request at a time: drives requests through a ReplayEngine (shadow layer), costs each from
// its events right after it ran, and keeps streaming statistics (totals, latency histograms per op, time by cause,
// the slowest requests and why) in constant memory. `replayTrace` runs it to the end; the dashboard runs it a slice
// at a time between frames; the what-if runs step several loops in lock-step from one parsed request stream.
import type { GuestOp, GuestRequest } from "../workload/guest-request.js";
import { EventKind } from "../events/event-kind.js";
import { ReplayEngine, type RequestOutcome } from "./replay-engine.js";
import { CostModel, CAUSE_COUNT, CAUSE_LABELS, CAUSE_NAMES, Tally, eventColumns, type EventColumns } from "./cost-model.js";
import { describeRequest } from "./request-summary.js";
import { LatencyStats } from "./latency-stats.js";
import { SlowestHeap } from "./slowest-heap.js";
import { CostingSink, RequestEvents } from "./request-events.js";
import { probeHostFile, type HostFileState } from "./host-io.js";
import type { Qcow2Image } from "../image/qcow2-image.js";
import type { BlockNode } from "../image/block-node.js";
import type { Storage } from "../storage/storage.js";
import type { CacheSummary, OpSummary, ReplayRunOptions, ReplaySummary, RequestContext, SlowRequest } from "./replay-stats.js";

/**
 * Events are dropped (at a request boundary) once this many are held: one chunk of the recorder, ~2.3 MiB, so that
 * several loops in lock-step stay small; a request is costed before its events go.
 */
const DROP_EVENTS_AT = 1 << 16;

const OP_INDEX: Record<GuestOp, number> = { read: 0, write: 1, "write-zeroes": 2, discard: 3, flush: 4 };
const OPS: GuestOp[] = ["read", "write", "write-zeroes", "discard", "flush"];

export class ReplayLoop {
  readonly engine: ReplayEngine;
  readonly model: CostModel;
  readonly columns: EventColumns;
  /** Requests run so far. */
  requests = 0;
  errors = 0;
  outOfRange = 0;
  totalUs = 0;
  /** Modelled clock: end of the last request (µs from the trace start). */
  clockUs = 0;
  readonly causeTotals = new Float64Array(CAUSE_COUNT);
  readonly errorSamples: string[] = [];
  readonly fileSizeStart: number;
  /** Latencies per op (the "all" row is their merge, at the end). */
  private readonly perOp = OPS.map(() => new LatencyStats());
  private readonly bytes = new Float64Array(OPS.length);
  private readonly errs = new Float64Array(OPS.length);
  private readonly slow: SlowestHeap;
  /** L2 tables touched by the guest: one byte per L1 entry. */
  private readonly tablesTouched: Uint8Array;
  private readonly l2Span: number;
  private readonly virtualSize: number;
  private minOffset = Infinity;
  private maxEnd = 0;
  private seqBase = 0;
  private readonly ctx: RequestContext;
  /** Set when no one reads the log (no callbacks, no kept events): each request's events only, in plain arrays. */
  private readonly lean: RequestEvents | null;
  /** Set instead when no request is explained either (topN 0: a verification run): events are costed as emitted. */
  private readonly costing: CostingSink | null;
  private readonly t0 = performance.now();

  constructor(
    readonly imagePath: string,
    private readonly opts: ReplayRunOptions,
  ) {
    // The log is only needed by whoever reads events past the request's costing: per-request hooks, per-event
    // costs, kept events. Otherwise the events go to a sink that holds one request's (the same values, costed the
    // same way), which spares encoding every event into the recorder.
    // Nor even those when no request is explained: each event is costed as it is emitted.
    const noLog = !(opts.onRequest || opts.onOpen || opts.perEventCosts || opts.keepEvents);
    const costing = noLog && (opts.topN ?? 10) <= 0 ? new CostingSink() : null;
    const lean = noLog && !costing ? new RequestEvents() : null;
    this.lean = lean;
    this.costing = costing;
    const sink = costing ?? lean;
    this.engine = new ReplayEngine(imagePath, { config: { ...opts.config, metadataOnly: !opts.keepData }, keepData: opts.keepData, record: true, trackRequestStarts: false, ...(sink ? { sink } : {}) });
    try {
      const img = this.engine.image;
      // Read by no one with a costing sink (no request is explained).
      this.columns = lean ?? eventColumns(this.engine.recorder);
      const chain = chainInfo(img);
      const hostFiles = opts.profile.host ? hostFileStates(img) : undefined;
      this.model = new CostModel(opts.profile, { cacheMode: this.engine.config.cacheMode, rawBackingDepth: chain.rawDepth, rawBackingSize: chain.rawSize, clusterSize: img.clusterSize, externalDataNodes: chain.external, hostFiles });
      if (opts.perEventCosts) this.model.trackEvents();
      if (costing) costing.model = this.model;
      if (lean) lean.model = this.model;
      this.slow = new SlowestHeap(opts.topN ?? 10);
      this.tablesTouched = new Uint8Array(img.header.l1Size);
      this.l2Span = img.geo.l2Entries * img.clusterSize;
      this.virtualSize = img.virtualSize;
      this.fileSizeStart = this.engine.shadow.size();
      this.ctx = { index: 0, req: undefined as unknown as GuestRequest, outcome: undefined as unknown as RequestOutcome, startUs: 0, latencyUs: 0, causes: this.model.causes, engine: this.engine, columns: this.columns, model: this.model, firstSeq: 0 };
      opts.onOpen?.(this.engine);
    } catch (e) {
      this.engine.close();
      throw e;
    }
  }

  /** The slowest requests so far, slowest first. */
  get slowest(): SlowRequest[] {
    return this.slow.sorted();
  }

  /** Runs one request and returns its context (valid until the next step). */
  step(req: GuestRequest): RequestContext {
    const engine = this.engine;
    const model = this.model;
    const cols = this.columns;
    const index = this.requests++;
    // Past the end is an I/O error in QEMU's block layer for every op; the engine only refuses writes.
    const past = req.op !== "flush" && req.offset + req.length > this.virtualSize;
    const opi = OP_INDEX[req.op];
    const guestWrite = req.op !== "read" && req.op !== "flush";
    let out: RequestOutcome;
    let us: number;
    // With either one-request sink, each event is charged as it is emitted (the lean one keeps them for
    // describeRequest); with the recorder, the request's events are read back.
    const sink = this.costing ?? this.lean;
    if (sink) {
      sink.clear();
      model.begin(guestWrite);
      sink.charging = true;
      try {
        out = past ? refuse(0, req, this.virtualSize) : engine.apply(req);
      } finally {
        sink.charging = false;
      }
      us = model.finish();
    } else {
      out = past ? refuse(engine.sink.length, req, this.virtualSize) : engine.apply(req);
      us = model.requestCost(cols, out.firstEvent, out.endEvent, guestWrite);
    }
    if (past) this.outOfRange++;
    if (out.error !== undefined) {
      this.errors++;
      this.errs[opi]!++;
      if (this.errorSamples.length < 5) this.errorSamples.push(`${req.source}: ${out.error}`);
    } else if (req.op !== "flush" && req.length > 0) {
      this.bytes[opi]! += req.length;
      if (req.offset < this.minOffset) this.minOffset = req.offset;
      if (req.offset + req.length > this.maxEnd) this.maxEnd = req.offset + req.length;
      const tables = this.tablesTouched;
      const lastTable = Math.min(tables.length - 1, Math.floor((req.offset + req.length - 1) / this.l2Span));
      for (let t = Math.floor(req.offset / this.l2Span); t <= lastTable; t++) tables[t] = 1;
    }
    this.perOp[opi]!.add(us);
    this.totalUs += us;
    const causes = model.causes;
    for (let k = 0; k < CAUSE_COUNT; k++) this.causeTotals[k]! += causes[k]!;
    const arrival = req.time * 1e6;
    const start = Number.isFinite(arrival) && arrival > this.clockUs ? arrival : this.clockUs;
    this.clockUs = start + us;
    let entered: SlowRequest | undefined;
    if (this.slow.admits(us)) {
      const why = out.error !== undefined ? [`error: ${out.error}`] : describeRequest(cols, out.firstEvent, out.endEvent);
      entered = { index, source: req.source, op: req.op, offset: req.offset, length: req.length, latencyUs: us, causes: causeRecord(causes), why };
      this.slow.add(entered);
    }
    const ctx = this.ctx;
    ctx.index = index;
    ctx.req = req;
    ctx.outcome = out;
    ctx.startUs = start;
    ctx.latencyUs = us;
    ctx.firstSeq = this.seqBase + out.firstEvent;
    ctx.slow = entered;
    this.opts.onRequest?.(ctx);
    const rec = engine.recorder;
    if (rec.length >= DROP_EVENTS_AT && !this.opts.keepEvents) {
      this.seqBase += rec.length;
      // rewind, not truncate: the chunk is written over again instead of freed and allocated anew (a re-written
      // event's stale side values are ignored by a flag, see EventRecorder.emit).
      rec.rewind(0);
    }
    if (this.opts.onProgress && this.requests % (this.opts.progressEvery ?? 4096) === 0) this.opts.onProgress(this.requests);
    return ctx;
  }

  /** Runs up to `max` requests from `source`, stopping early once `deadline` (performance.now()) has passed. Returns how many ran and whether the source ended. */
  advance(source: Iterator<GuestRequest>, max = Infinity, deadline = Infinity): { ran: number; ended: boolean } {
    let ran = 0;
    while (ran < max) {
      const it = source.next();
      if (it.done) return { ran, ended: true };
      this.step(it.value);
      ran++;
      if ((ran & 127) === 0 && performance.now() >= deadline) break;
    }
    return { ran, ended: false };
  }

  /** Closes the image (its write-backs and syncs count, as qemu-io's exit makes them) and returns the statistics. Call once, at the end. */
  summary(): ReplaySummary {
    this.opts.onProgress?.(this.requests);
    return this.build(true);
  }

  /**
   * The statistics so far, the image left open and the replay able to go on (the recommendations' speculative
   * what-ifs are chosen from them): no syncs of closing the image, which summary() counts.
   */
  partial(): ReplaySummary {
    return this.build(false);
  }

  private build(close: boolean): ReplaySummary {
    const engine = this.engine;
    const img = engine.image;
    const counts = (this.costing ?? this.lean ?? engine.recorder).counts;
    const t = this.model.tally;
    const ops = OPS.map((op, i) => summarizeOp(op, this.perOp[i]!, this.bytes[i]!, this.errs[i]!)).filter((o) => o.count > 0);
    const totalBytes = this.bytes.reduce((a, b) => a + b, 0);
    const totalErrors = this.errs.reduce((a, b) => a + b, 0);
    const all = new LatencyStats();
    for (const l of this.perOp) all.merge(l);
    const allOp = summarizeOp("all", all, totalBytes, totalErrors);
    const totalUs = allOp.totalUs;
    let touchedTables = 0;
    for (let i = 0; i < this.tablesTouched.length; i++) touchedTables += this.tablesTouched[i]!;
    const flushes = this.perOp[OP_INDEX.flush]!.n;
    const guestIos = this.requests - flushes;
    const l2Bytes = img.l2Cache.size * img.l2Cache.tableSize;
    const wall = (performance.now() - this.t0) / 1000;
    const fileSizeEnd = engine.shadow.size();
    const l2EntryBytes = img.geo.l2EntryBytes;
    const causeTotals = this.causeTotals;
    // Closing the image (as qemu-io does at exit) writes the caches back and syncs: QEMU's fdatasync count has them.
    const syncsBefore = counts[EventKind.FlushToDisk]!;
    this.lean?.clear();
    if (close) img.close();
    const closeSyncs = counts[EventKind.FlushToDisk]! - syncsBefore;
    return {
      image: {
        path: this.imagePath,
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
        fileSizeStart: this.fileSizeStart,
        fileSizeEnd,
        growth: fileSizeEnd - this.fileSizeStart,
      },
      profile: this.opts.profile.name,
      requests: this.requests,
      errors: totalErrors,
      outOfRange: this.outOfRange,
      errorSamples: this.errorSamples,
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
      flushes: { requests: flushes, syncs: t[Tally.Syncs]! + closeSyncs, atClose: closeSyncs },
      allocations: {
        clusters: t[Tally.ClustersAllocated]!,
        freed: t[Tally.ClustersFreed]!,
        l2Tables: t[Tally.L2Allocations]!,
        refcountBlocks: t[Tally.RefblockAllocations]!,
        l1Updates: t[Tally.L1Updates]!,
        refcountUpdates: t[Tally.RefcountUpdates]!,
      },
      touched: {
        minOffset: this.minOffset === Infinity ? 0 : this.minOffset,
        maxEnd: this.maxEnd,
        l2Tables: touchedTables,
        coveredBytes: Math.min(img.virtualSize, touchedTables * this.l2Span),
        l2CacheNeeded: touchedTables * img.geo.l2Entries * l2EntryBytes,
      },
      slowest: this.slow.sorted(),
      wallSeconds: wall,
      requestsPerSecond: wall > 0 ? this.requests / wall : 0,
    };
  }

  close(): void {
    this.engine.close();
  }
}

function summarizeOp(op: GuestOp | "all", lat: LatencyStats, bytes: number, errors: number): OpSummary {
  const n = lat.n;
  return {
    op,
    count: n,
    bytes,
    errors,
    totalUs: lat.total,
    minUs: n ? lat.min : 0,
    avgUs: n ? lat.total / n : 0,
    maxUs: n ? lat.max : 0,
    p50Us: lat.quantile(0.5),
    p90Us: lat.quantile(0.9),
    p99Us: lat.quantile(0.99),
    p999Us: lat.quantile(0.999),
  };
}

/** An out-of-range request: not run, reported like the engine reports a write past the end. */
function refuse(at: number, req: GuestRequest, size: number): RequestOutcome {
  return { id: 0, firstEvent: at, endEvent: at, error: `request [${req.offset}, ${req.offset + req.length}) is outside the image (virtual size ${size})` };
}

function cacheSummary(hits: number, misses: number, repeat: number, writebacks: number): CacheSummary {
  return { hits, misses, hitRate: hits + misses > 0 ? hits / (hits + misses) : 1, repeatMisses: repeat, writebacks };
}

/** Which node is a raw backing file and which use an external data file (the cost model charges them apart). */
function chainInfo(img: Qcow2Image): { rawDepth: number; rawSize: number; external: number[] } {
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
function hostFileStates(img: Qcow2Image): Map<number, HostFileState> {
  const out = new Map<number, HostFileState>();
  let node: BlockNode | null = img;
  for (let depth = 0; node; depth++, node = node.backing) {
    const file = (node as Partial<{ file: Storage }>).file;
    if (file) out.set(depth * 2, probeHostFile(file));
  }
  return out;
}

function causeRecord(c: Float64Array): Record<string, number> {
  const r: Record<string, number> = {};
  for (let k = 0; k < CAUSE_COUNT; k++) if (c[k]) r[CAUSE_NAMES[k]!] = c[k]!;
  return r;
}
