// One configuration replayed a slice at a time, so a face can redraw between slices: the same per-request
// steps as engine/replay/replay-stats.ts (shadow engine, cost model, modelled clock, slowest requests and
// why), plus what a live screen needs: a latency series, live percentiles, the host-file map and a log.
import { EventKind } from "../../engine/events/event-kind.js";
import type { EngineConfig } from "../../engine/image/engine-config.js";
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { CostModel, CAUSE_COUNT, Tally, eventColumns, type EventColumns } from "../../engine/replay/cost-model.js";
import type { DeviceProfile } from "../../engine/replay/device-profiles.js";
import { formatBytes, formatUs, hex } from "../../engine/replay/human-units.js";
import { ReplayEngine, type RequestOutcome } from "../../engine/replay/replay-engine.js";
import { causeRecord, chainInfo, hostFileStates, insertSlow, type SlowRequest } from "../../engine/replay/replay-stats.js";
import { describeRequest } from "../../engine/replay/request-summary.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import type { EventLog } from "./event-log.js";
import { HostMapTracker } from "./host-map-tracker.js";
import { LatencyHistogram, LatencySeries } from "./latency-series.js";

export interface LiveReplayOptions {
  /** Shown in the log and legends ("baseline", "l2-cache-size=16M"). */
  label: string;
  imagePath: string;
  config: EngineConfig;
  profile: DeviceProfile;
  requests: Iterator<GuestRequest>;
  log: EventLog;
  /** Put before each log line (several runs share one log: "A ", "B "). */
  logPrefix?: string;
  topN?: number;
  seriesPoints?: number;
}

/** Same batch size as replay-stats: costed events are dropped once this many are held. */
const DROP_EVENTS_AT = 1 << 20;
/** Errors written to the log one by one; the rest are only counted. */
const LOGGED_ERRORS = 5;
const NOTABLE = [EventKind.L1Update, EventKind.RefblockAlloc, EventKind.ReftableGrow, EventKind.L1Grow];

export class LiveReplay {
  readonly label: string;
  readonly engine: ReplayEngine;
  readonly model: CostModel;
  readonly hostMap: HostMapTracker;
  readonly series: LatencySeries;
  readonly histogram = new LatencyHistogram();
  readonly causeTotals = new Float64Array(CAUSE_COUNT);
  readonly slowest: SlowRequest[] = [];
  readonly errorSamples: string[] = [];
  requests = 0;
  errors = 0;
  outOfRange = 0;
  totalUs = 0;
  /** Modelled clock: end of the last request (µs from the trace start). */
  clockUs = 0;
  done = false;
  readonly fileSizeStart: number;
  private readonly cols: EventColumns;
  private readonly source: Iterator<GuestRequest>;
  private readonly topN: number;
  private readonly virtualSize: number;
  private readonly prefix: string;
  private readonly notableSeen: number[];

  constructor(private readonly opts: LiveReplayOptions) {
    this.label = opts.label;
    this.source = opts.requests;
    this.topN = opts.topN ?? 10;
    this.prefix = opts.logPrefix ?? "";
    this.engine = new ReplayEngine(opts.imagePath, { config: { ...opts.config, metadataOnly: true }, keepData: false, record: true });
    try {
      const img = this.engine.image;
      this.cols = eventColumns(this.engine.recorder);
      const chain = chainInfo(img);
      this.model = new CostModel(opts.profile, { cacheMode: this.engine.config.cacheMode, rawBackingDepth: chain.rawDepth, rawBackingSize: chain.rawSize, clusterSize: this.engine.image.clusterSize, externalDataNodes: chain.external, hostFiles: opts.profile.host ? hostFileStates(img) : undefined });
      this.hostMap = new HostMapTracker(img);
      this.series = new LatencySeries(opts.seriesPoints ?? 120);
      this.virtualSize = img.virtualSize;
      this.fileSizeStart = this.engine.shadow.size();
      this.notableSeen = NOTABLE.map((k) => this.engine.recorder.counts[k]!);
    } catch (e) {
      this.engine.close();
      throw e;
    }
  }

  get image(): Qcow2Image {
    return this.engine.image;
  }

  /** Runs up to `max` requests, stopping early once `deadline` (performance.now()) has passed. Returns how many ran. */
  advance(max: number, deadline = Infinity): number {
    let n = 0;
    while (n < max && !this.done) {
      const it = this.source.next();
      if (it.done) {
        this.finish();
        break;
      }
      this.apply(it.value);
      n++;
      if ((n & 127) === 0 && performance.now() >= deadline) break;
    }
    return n;
  }

  /** Hit counters of the active layer's caches so far. */
  cacheCounts(): { l2Hits: number; l2Misses: number; refcountHits: number; refcountMisses: number } {
    const t = this.model.tally;
    return { l2Hits: t[Tally.L2Hit]!, l2Misses: t[Tally.L2Miss]!, refcountHits: t[Tally.RefcountHit]!, refcountMisses: t[Tally.RefcountMiss]! };
  }

  close(): void {
    this.engine.close();
  }

  private apply(req: GuestRequest): void {
    const engine = this.engine;
    const rec = engine.recorder;
    // Past the end is an I/O error in QEMU's block layer for every op; the engine only refuses writes.
    const past = req.op !== "flush" && req.offset + req.length > this.virtualSize;
    const out: RequestOutcome = past ? refuse(rec.length, req, this.virtualSize) : engine.apply(req);
    if (past) this.outOfRange++;
    const guestWrite = req.op !== "read" && req.op !== "flush";
    const us = this.model.requestCost(this.cols, out.firstEvent, out.endEvent, guestWrite);
    const index = this.requests++;
    const causes = this.model.causes;
    for (let k = 0; k < CAUSE_COUNT; k++) this.causeTotals[k]! += causes[k]!;
    this.totalUs += us;
    const arrival = req.time * 1e6;
    const start = Number.isFinite(arrival) && arrival > this.clockUs ? arrival : this.clockUs;
    this.clockUs = start + us;
    this.series.add(us, start);
    const slowestBefore = this.histogram.maxUs;
    this.histogram.add(us);
    if (out.error !== undefined) {
      this.errors++;
      if (this.errorSamples.length < 5) this.errorSamples.push(`${req.source}: ${out.error}`);
      if (this.errors <= LOGGED_ERRORS) this.say(`#${index + 1} ${req.source}: ${out.error}`);
      else if (this.errors === LOGGED_ERRORS + 1) this.say(`more errors: counted, not logged`);
    }
    if (this.topN > 0 && us > 0 && (this.slowest.length < this.topN || us > this.slowest[this.slowest.length - 1]!.latencyUs)) {
      const why = out.error !== undefined ? [`error: ${out.error}`] : describeRequest(this.cols, out.firstEvent, out.endEvent);
      insertSlow(this.slowest, this.topN, { index, source: req.source, op: req.op, offset: req.offset, length: req.length, latencyUs: us, causes: causeRecord(causes), why });
      if (us > slowestBefore && index > 0) this.say(`#${index + 1} new max ${formatUs(us)}: ${describe(req)}${why.length ? `, ${why[0]}` : ""}`);
    }
    this.hostMap.apply(this.cols, out.firstEvent, out.endEvent, req.compressed === true);
    this.logNotable(index, req, out);
    if (rec.length >= DROP_EVENTS_AT) rec.truncate(0);
  }

  /** Metadata allocations, found by the recorder's per-kind counts (no scan unless one happened). */
  private logNotable(index: number, req: GuestRequest, out: RequestOutcome): void {
    const counts = this.engine.recorder.counts;
    let any = false;
    for (let k = 0; k < NOTABLE.length; k++) {
      if (counts[NOTABLE[k]!]! !== this.notableSeen[k]) {
        any = true;
        this.notableSeen[k] = counts[NOTABLE[k]!]!;
      }
    }
    if (!any) return;
    const ev = this.cols;
    const head = `#${index + 1} ${describe(req)}:`;
    for (let i = out.firstEvent; i < out.endEvent; i++) {
      const where = ev.nodeAt(i) ? ` (backing[${ev.nodeAt(i)}])` : "";
      switch (ev.kindAt(i)) {
        case EventKind.L1Update:
          if (ev.bAt(i) > 0) this.say(`${head} new L2 table for L1[${ev.aAt(i)}] at ${hex(ev.bAt(i))}${where}`);
          break;
        case EventKind.RefblockAlloc:
          this.say(`${head} refcount block at ${hex(ev.aAt(i))}${where}`);
          break;
        case EventKind.ReftableGrow:
          this.say(`${head} refcount table grown ${ev.aAt(i)} -> ${ev.bAt(i)} entries at ${hex(ev.cAt(i))}${where}`);
          break;
        case EventKind.L1Grow:
          this.say(`${head} L1 table grown ${ev.aAt(i)} -> ${ev.bAt(i)} entries at ${hex(ev.cAt(i))}${where}`);
          break;
        default:
          break;
      }
    }
  }

  private finish(): void {
    this.done = true;
    // The incremental map cannot see leaks; the end of the replay shows the image as `check` would.
    this.hostMap.resync();
    const growth = this.engine.shadow.size() - this.fileSizeStart;
    this.say(`done: ${this.requests} requests, modelled ${formatUs(this.totalUs)}, ${this.errors} errors, host file ${growth >= 0 ? "+" : ""}${formatBytes(growth)}`);
  }

  private say(line: string): void {
    this.opts.log.add(this.prefix + line);
  }
}

function describe(req: GuestRequest): string {
  return req.op === "flush" ? "flush" : `${req.op} ${hex(req.offset)}+${formatBytes(req.length).replace(" ", "")}`;
}

/** An out-of-range request: not run, reported like the engine reports a write past the end. */
function refuse(at: number, req: GuestRequest, size: number): RequestOutcome {
  return { id: 0, firstEvent: at, endEvent: at, error: `request [${req.offset}, ${req.offset + req.length}) is outside the image (virtual size ${size})` };
}

