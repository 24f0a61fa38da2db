// One replay of a trace with statistics, and the shapes of its results: `replayTrace` runs a ReplayLoop
// (replay-loop.ts) over every request and returns the summary (totals, latency percentiles per op, time by cause,
// caches, the slowest requests and why). Costed events are dropped in batches unless asked to keep them, and the
// statistics are streaming, so memory stays flat over millions of requests.
import type { GuestOp, GuestRequest } from "../workload/guest-request.js";
import type { EngineConfig } from "../image/engine-config.js";
import type { ReplayEngine, RequestOutcome } from "./replay-engine.js";
import type { CostModel, EventColumns } from "./cost-model.js";
import type { DeviceProfile } from "./device-profiles.js";
import { ReplayLoop } from "./replay-loop.js";

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
  /** Set when this request entered the slowest-requests list: its entry. */
  slow?: SlowRequest;
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

/** Replays `requests` over a shadow of `imagePath` and returns the statistics. The image file is never written. */
export function replayTrace(imagePath: string, requests: Iterable<GuestRequest>, opts: ReplayRunOptions): ReplaySummary {
  const loop = new ReplayLoop(imagePath, opts);
  try {
    for (const req of requests) loop.step(req);
    return loop.summary();
  } finally {
    loop.close();
  }
}
