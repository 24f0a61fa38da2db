// One configuration replayed a slice at a time, so a face can redraw between slices: the engine's ReplayLoop
// (engine/replay/replay-loop.ts, the same per-request steps `qcowdbg replay` runs) advanced N requests per frame,
// plus what a live screen needs from each request: a latency series, live percentiles, the host-file map and a log.
import { EventKind } from "../../engine/events/event-kind.js";
import type { EngineConfig } from "../../engine/image/engine-config.js";
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { Tally, type CostModel } from "../../engine/replay/cost-model.js";
import type { DeviceProfile } from "../../engine/replay/device-profiles.js";
import { formatBytes, formatUs, hex } from "../../engine/replay/human-units.js";
import type { ReplayEngine, RequestOutcome } from "../../engine/replay/replay-engine.js";
import { LatencyStats } from "../../engine/replay/latency-stats.js";
import { ReplayLoop } from "../../engine/replay/replay-loop.js";
import type { RequestContext, SlowRequest } from "../../engine/replay/replay-stats.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import type { EventLog } from "./event-log.js";
import { HostMapTracker } from "./host-map-tracker.js";
import { LatencySeries } from "./latency-series.js";

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

/** Errors written to the log one by one; the rest are only counted. */
const LOGGED_ERRORS = 5;
const NOTABLE = [EventKind.L1Update, EventKind.RefblockAlloc, EventKind.ReftableGrow, EventKind.L1Grow];

export class LiveReplay {
  readonly label: string;
  readonly loop: ReplayLoop;
  readonly hostMap: HostMapTracker;
  readonly series: LatencySeries;
  /** All requests' latencies, in the same streaming buckets as `qcowdbg replay`'s report, so the live p50/p99 are the
   *  report's figures, not a coarser estimate of them. */
  readonly histogram = new LatencyStats();
  done = false;
  private readonly source: Iterator<GuestRequest>;
  private readonly prefix: string;
  private readonly notableSeen: number[];

  constructor(private readonly opts: LiveReplayOptions) {
    this.label = opts.label;
    this.source = opts.requests;
    this.prefix = opts.logPrefix ?? "";
    // Metadata only: the dashboard shows latencies and the host map, never guest data.
    this.loop = new ReplayLoop(opts.imagePath, { config: opts.config, profile: opts.profile, keepData: false, topN: opts.topN ?? 10, onRequest: (ctx) => this.onRequest(ctx) });
    try {
      this.hostMap = new HostMapTracker(this.loop.engine.image);
      this.series = new LatencySeries(opts.seriesPoints ?? 120);
      this.notableSeen = NOTABLE.map((k) => this.loop.engine.recorder.counts[k]!);
    } catch (e) {
      this.loop.close();
      throw e;
    }
  }

  get image(): Qcow2Image {
    return this.loop.engine.image;
  }
  get engine(): ReplayEngine {
    return this.loop.engine;
  }
  get model(): CostModel {
    return this.loop.model;
  }
  get requests(): number {
    return this.loop.requests;
  }
  get errors(): number {
    return this.loop.errors;
  }
  get outOfRange(): number {
    return this.loop.outOfRange;
  }
  get totalUs(): number {
    return this.loop.totalUs;
  }
  get causeTotals(): Float64Array {
    return this.loop.causeTotals;
  }
  get slowest(): SlowRequest[] {
    return this.loop.slowest;
  }
  get errorSamples(): string[] {
    return this.loop.errorSamples;
  }
  get fileSizeStart(): number {
    return this.loop.fileSizeStart;
  }

  /** Runs up to `max` requests, stopping early once `deadline` (performance.now()) has passed. Returns how many ran. */
  advance(max: number, deadline = Infinity): number {
    if (this.done) return 0;
    const r = this.loop.advance(this.source, max, deadline);
    if (r.ended) this.finish();
    return r.ran;
  }

  /** Hit counters of the active layer's caches so far. */
  cacheCounts(): { l2Hits: number; l2Misses: number; refcountHits: number; refcountMisses: number } {
    const t = this.loop.model.tally;
    return { l2Hits: t[Tally.L2Hit]!, l2Misses: t[Tally.L2Miss]!, refcountHits: t[Tally.RefcountHit]!, refcountMisses: t[Tally.RefcountMiss]! };
  }

  close(): void {
    this.loop.close();
  }

  /** The live screen's share of each request, while its events are still recorded. */
  private onRequest(ctx: RequestContext): void {
    const { index, req, outcome: out, latencyUs: us } = ctx;
    this.series.add(us, ctx.startUs);
    const slowestBefore = this.histogram.max;
    this.histogram.add(us);
    if (out.error !== undefined) {
      const errors = this.loop.errors;
      if (errors <= LOGGED_ERRORS) this.say(`#${index + 1} ${req.source}: ${out.error}`);
      else if (errors === LOGGED_ERRORS + 1) this.say(`more errors: counted, not logged`);
    }
    const why = ctx.slow?.why;
    if (why && us > slowestBefore && index > 0) this.say(`#${index + 1} new max ${formatUs(us)}: ${describe(req)}${why.length ? `, ${why[0]}` : ""}`);
    this.hostMap.apply(ctx.columns, out.firstEvent, out.endEvent, req.compressed === true);
    this.logNotable(index, req, out);
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
    const ev = this.loop.columns;
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
