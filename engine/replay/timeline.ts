// The time-travelling timeline, after rr: forward by engine event, by request, to a request or a time, or to the
// next breakpoint/watchpoint; backwards by restoring the nearest checkpoint and re-executing deterministically, so
// a state reached backwards equals the one reached forwards. The engine cannot pause inside a request, so a
// position inside one is "after request r" plus the first e events of request r+1, shown by re-running it.
import type { EngineEvent, EventRecorder } from "../events/recorder.js";
import { formatTextEvent } from "../events/text-format.js";
import { copyCodec, releaseImage } from "../image/image-snapshot.js";
import type { Qcow2Image } from "../image/qcow2-image.js";
import { imageView } from "../image/image-view.js";
import type { GuestRequest } from "../workload/guest-request.js";
import { describeSpec, isRequestLevel, validateSpec } from "./breakpoints.js";
import { scanRequests, searchBack, type Hit } from "./timeline-scan.js";
import { captureEngine, CheckpointStore, restoreEngine, type CheckpointPolicy } from "./checkpoint.js";
import type { ReplayEngine } from "./replay-engine.js";
import { RequestColumns } from "./request-columns.js";
import type { Breakpoint, BreakpointSpec, CacheView, Position, StateView, StopReason, TimelineApi, WatchSpec } from "./timeline-api.js";

/** What a latency callback may look at: the request's events are [firstEvent, endEvent) of the recorder. */
export interface LatencyContext {
  recorder: EventRecorder;
  firstEvent: number;
  endEvent: number;
  request: GuestRequest;
}

export interface TimelineOptions {
  /** Modelled latency (µs) of request `index` (0-based), e.g. from the cost model; needed by latency breakpoints. */
  latencyOf?: (index: number, ctx: LatencyContext) => number;
  checkpoints?: Partial<CheckpointPolicy>;
  /** Bytes of per-event cache views one re-run of a request keeps (default 16 MiB). */
  probeBudgetBytes?: number;
}

type CacheViews = { l2: CacheView; refcount: CacheView };

/** One re-run of request `request` (0-based) from the state after the requests before it. */
interface Probe {
  request: number;
  events: EngineEvent[];
  /** views[k]: the caches right after event k; kept for a window of events when the request is long. */
  views: (CacheViews | undefined)[];
}

export { comparePositions } from "./timeline-scan.js";

function cacheViews(img: Qcow2Image): CacheViews {
  return { l2: img.l2Cache.view(), refcount: img.refcountCache.view() };
}

export class Timeline implements TimelineApi {
  readonly requests: RequestColumns;
  readonly checkpoints: CheckpointStore;
  private pos: Position = { request: 0, event: 0 };
  private bps = new Map<number, Breakpoint>();
  private nextId = 1;
  private probeCache: Probe | null = null;
  /**
   * The engine stopped inside a request (view() at event k > 0): its image as of event k, and how to put it back.
   * Left by settle() before anything else runs the engine.
   */
  private mid: { request: number; event: number; saved: ReturnType<typeof captureEngine<unknown>> } | null = null;
  private readonly probeBudget: number;

  constructor(
    readonly engine: ReplayEngine,
    source: Iterable<GuestRequest> | RequestColumns,
    private readonly opts: TimelineOptions = {},
  ) {
    if (engine.requests !== 0) throw new Error("a timeline starts from a fresh replay engine (no request applied yet)");
    this.requests = source instanceof RequestColumns ? source : RequestColumns.from(source);
    this.checkpoints = new CheckpointStore(engine, opts.checkpoints);
    this.checkpoints.capture();
    this.probeBudget = opts.probeBudgetBytes ?? 16 * 1024 * 1024;
  }

  get requestCount(): number {
    return this.requests.length;
  }

  position(): Position {
    return { ...this.pos };
  }

  request(i: number): GuestRequest {
    return this.requests.get(i);
  }

  // ---- moving -------------------------------------------------------------------------------------------

  step(): StopReason {
    const { request: r, event: e } = this.pos;
    if (r >= this.requestCount) return { kind: "end" };
    const p = this.probe(r, e + 1);
    if (e < p.events.length) {
      this.pos = { request: r, event: e + 1 };
      return { kind: "step", detail: formatTextEvent(p.events[e]!) };
    }
    this.goTo(r + 1);
    this.pos = { request: r + 1, event: 0 };
    return { kind: "step", detail: `request ${r + 1} done` };
  }

  next(): StopReason {
    const r = this.pos.request;
    if (r >= this.requestCount) return { kind: "end" };
    this.goTo(r + 1);
    this.pos = { request: r + 1, event: 0 };
    return { kind: "step", detail: `request ${r + 1} done` };
  }

  reverseStep(): StopReason {
    const { request: r, event: e } = this.pos;
    if (e > 0) {
      this.pos = { request: r, event: e - 1 };
      return { kind: "step", detail: e > 1 ? formatTextEvent(this.probe(r, e - 1).events[e - 2]!) : `start of request ${r + 1}` };
    }
    if (r === 0) return { kind: "start" };
    this.goTo(r - 1);
    const n = this.probe(r - 1).events.length;
    this.pos = { request: r - 1, event: n };
    return { kind: "step", detail: n > 0 ? formatTextEvent(this.probe(r - 1, n).events[n - 1]!) : `start of request ${r}` };
  }

  reverseNext(): StopReason {
    const { request: r, event: e } = this.pos;
    if (e > 0) {
      this.pos = { request: r, event: 0 };
      return { kind: "step", detail: `start of request ${r + 1}` };
    }
    if (r === 0) return { kind: "start" };
    this.goTo(r - 1);
    this.pos = { request: r - 1, event: 0 };
    return { kind: "step", detail: `start of request ${r}` };
  }

  runTo(n: number): StopReason {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.requestCount) throw new RangeError(`run-to: request ${n} is outside 0..${this.requestCount}`);
    this.goTo(n);
    this.pos = { request: n, event: 0 };
    return { kind: "target", detail: `after request ${n}` };
  }

  runToTime(t: number): StopReason {
    if (Number.isNaN(t)) throw new RangeError("run-to-time: time is not a number");
    const i = this.requests.firstAtOrAfter(t);
    const r = this.runTo(i);
    return i < this.requestCount ? { kind: "target", detail: `request ${i + 1} at ${this.requests.timeAt(i)} s is next` } : { ...r, detail: `no request at or after ${t} s` };
  }

  continue(): StopReason {
    const from = this.position();
    if (from.request >= this.requestCount) return { kind: "end" };
    this.goTo(from.request);
    const hit = this.guarded(() => this.scan(from.request, from, null, this.requestCount, "first"));
    if (hit) return this.stopAt(hit);
    this.goTo(this.requestCount);
    this.pos = { request: this.requestCount, event: 0 };
    return { kind: "end" };
  }

  segmentStart(request: number): number {
    return this.checkpoints.nearest(Math.max(0, request)).request;
  }

  /**
   * True when every enabled breakpoint is decided by the request alone (offsets, predicates): then a backward
   * search reads the trace, not the replay, and only the jump to the hit re-executes anything.
   */
  requestLevelOnly(): boolean {
    for (const b of this.bps.values()) if (b.enabled && (b.watch || !isRequestLevel(b.spec as BreakpointSpec))) return false;
    return true;
  }

  reverseContinue(): StopReason {
    const at = this.position();
    if (this.requestLevelOnly()) {
      const hit = this.guarded(() => searchBack([...this.bps.values()], this.requests, at));
      if (hit) return this.stopAt(hit);
      this.goTo(0);
      this.pos = { request: 0, event: 0 };
      return { kind: "start" };
    }
    let segEnd = at.event > 0 ? at.request + 1 : at.request;
    while (segEnd > 0) {
      const cp = this.checkpoints.nearest(segEnd - 1);
      this.goTo(cp.request);
      const hit = this.guarded(() => this.scan(cp.request, null, at, segEnd, "last"));
      if (hit) return this.stopAt(hit);
      segEnd = cp.request;
    }
    this.goTo(0);
    this.pos = { request: 0, event: 0 };
    return { kind: "start" };
  }

  // ---- breakpoints --------------------------------------------------------------------------------------

  addBreakpoint(spec: BreakpointSpec): Breakpoint {
    validateSpec(spec, false);
    if (spec.kind === "latency" && !this.opts.latencyOf) throw new Error("breakpoint: latency needs a cost model (no latencyOf given to the timeline)");
    return this.add(spec, false);
  }

  addWatch(spec: WatchSpec): Breakpoint {
    validateSpec(spec, true);
    return this.add(spec, true);
  }

  /** Sets (or replaces) the latency model latency breakpoints use. */
  setLatencyOf(fn: TimelineOptions["latencyOf"]): void {
    this.opts.latencyOf = fn;
  }

  private add(spec: BreakpointSpec | WatchSpec, watch: boolean): Breakpoint {
    const bp: Breakpoint = { id: this.nextId++, spec, watch, enabled: true, hits: 0 };
    this.bps.set(bp.id, bp);
    return bp;
  }

  deleteBreakpoint(id: number): boolean {
    return this.bps.delete(id);
  }

  breakpoints(): Breakpoint[] {
    return [...this.bps.values()];
  }

  describe(bp: Breakpoint): string {
    return describeSpec(bp.spec, bp.watch);
  }

  // ---- views --------------------------------------------------------------------------------------------

  view(): StateView {
    const { request: r, event: e } = this.pos;
    const img = this.engine.image;
    const current = r < this.requestCount ? this.requests.get(r) : undefined;
    if (e === 0) {
      this.settle();
      return { position: this.position(), image: imageView(img), current, events: [], caches: cacheViews(img) };
    }
    const p = this.probe(r, e);
    // The image (L1, L2 tables, refcounts, file) as of the event we stand at, not as of the request's start.
    this.stopInside(r, e);
    return { position: this.position(), image: imageView(img), current, events: p.events.slice(0, e), caches: p.views[e - 1] ?? cacheViews(img) };
  }

  /** Every event of request `index` (0-based), as a forward run emits them (re-runs it if needed). */
  eventsOf(index: number): EngineEvent[] {
    if (!(index >= 0 && index < this.requestCount)) throw new RangeError(`request ${index} is outside 0..${this.requestCount - 1}`);
    const keep = this.engine.requests;
    const p = this.probe(index);
    this.goTo(keep);
    return p.events.slice();
  }

  /** Checkpoint figures for status lines and the benchmark. */
  stats(): { checkpoints: number; checkpointBytes: number; interval: number; maxEvents: number; thinnings: number } {
    const c = this.checkpoints;
    return { checkpoints: c.list.length, checkpointBytes: c.memoryBytes(), interval: c.policy.interval, maxEvents: c.policy.maxEvents, thinnings: c.thinnings };
  }

  dispose(): void {
    this.mid = null;
    this.checkpoints.dispose();
    this.probeCache = null;
  }

  // ---- machinery ----------------------------------------------------------------------------------------

  /** Runs request r again up to its event e and leaves the engine there (undone by settle()). */
  private stopInside(r: number, e: number): void {
    if (this.mid && this.mid.request === r && this.mid.event === e) return;
    this.goTo(r);
    const eng = this.engine;
    const rec = eng.recorder;
    const saved = captureEngine(eng, copyCodec);
    const wasRecording = rec.enabled;
    rec.enabled = true;
    let n = 0;
    const stop = new Error("stopped inside the request");
    const off = rec.onEvent(() => {
      if (++n >= e) throw stop;
    });
    try {
      // apply() takes the throw as the request's error: the engine stays where event e left it.
      eng.apply(this.requests.get(r));
    } finally {
      off();
      rec.enabled = wasRecording;
      // The log stays at the boundary: the panes add the request's events so far themselves.
      rec.rewind(saved.recorderLength);
      rec.counts.set(saved.counts);
      rec.request = saved.request;
    }
    this.mid = { request: r, event: e, saved };
  }

  /** Puts the engine back at the request boundary it stood at before stopInside(). */
  private settle(): void {
    const m = this.mid;
    if (!m) return;
    this.mid = null;
    restoreEngine(this.engine, m.saved, copyCodec);
    releaseImage(this.engine.image, m.saved.image);
  }

  /**
   * Brings the engine to "after request r": forward from here, or from the nearest checkpoint when that is
   * closer. Only the timeline runs the engine: views get a read-only image (StateView.image), so the engine is
   * always where the timeline left it.
   */
  private goTo(r: number): void {
    this.settle();
    const cur = this.engine.requests;
    if (r !== cur) {
      const cp = this.checkpoints.nearest(r);
      if (r < cur || cp.request > cur) this.checkpoints.restore(cp);
      while (this.engine.requests < r - 1) this.applyNext();
      if (this.engine.requests < r) this.applyLast();
    }
  }

  /**
   * Applies the request a move ends after, keeping its events as the probe of that request when the log is off:
   * the panes show the last request's events, and re-running it from a checkpoint for them cost n and N
   * 60-100 ms on a million-request trace.
   */
  private applyLast(): void {
    const i = this.engine.requests;
    const rec = this.engine.recorder;
    if (rec.enabled || this.probeCache?.request === i) return this.applyNext();
    const events: EngineEvent[] = [];
    const start = rec.length;
    rec.enabled = true;
    const off = rec.onEvent((e) => void events.push(e));
    try {
      this.engine.apply(this.requests.get(i));
    } finally {
      off();
      rec.enabled = false;
      rec.rewind(start);
    }
    this.probeCache = { request: i, events, views: [] };
    this.checkpointIfDue();
  }

  private applyNext(): void {
    this.engine.apply(this.requests.get(this.engine.requests));
    this.checkpointIfDue();
  }

  private checkpointIfDue(): void {
    if (this.checkpoints.due()) this.checkpoints.capture();
  }

  /**
   * Re-runs request r (0-based) from the state after the r before it, capturing its events and the caches after
   * each of them (a window around event `want` when that would exceed the budget), then puts the engine back.
   */
  private probe(r: number, want = 0): Probe {
    const c = this.probeCache;
    if (c && c.request === r && (want === 0 || want > c.events.length || c.views[want - 1] !== undefined)) return c;
    this.settle();
    const keep = this.engine.requests;
    this.goTo(r);
    const eng = this.engine;
    const rec = eng.recorder;
    const img = eng.image;
    const perView = (img.l2Cache.size + img.refcountCache.size) * 21 + 256;
    const window = Math.max(1, Math.floor(this.probeBudget / perView));
    const from = Math.max(0, want - 1 - Math.floor(window / 2));
    const events: EngineEvent[] = [];
    const views: (CacheViews | undefined)[] = [];
    const saved = captureEngine(eng, copyCodec);
    const wasRecording = rec.enabled;
    rec.enabled = true;
    const off = rec.onEvent((e) => {
      const k = events.length;
      events.push(e);
      if (k >= from && k < from + window) views[k] = cacheViews(img);
    });
    try {
      eng.apply(this.requests.get(r));
    } finally {
      off();
      rec.enabled = wasRecording;
      restoreEngine(eng, saved, copyCodec);
      releaseImage(img, saved.image);
    }
    this.goTo(keep);
    const p: Probe = { request: r, events, views };
    this.probeCache = p;
    return p;
  }

  /** Runs a scan; if a callback (latency model, predicate) throws, the engine goes back to the position first. */
  private guarded<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      this.goTo(this.pos.request);
      throw e;
    }
  }

  private stopAt(hit: Hit): StopReason {
    this.goTo(hit.request);
    this.pos = { request: hit.request, event: hit.event };
    for (const id of hit.ids) {
      const bp = this.bps.get(id);
      if (bp) bp.hits++;
    }
    const where = hit.event > 0 ? `request ${hit.request + 1}, event ${hit.event}` : `before request ${hit.request + 1}`;
    return { kind: hit.watch ? "watchpoint" : "breakpoint", breakpoint: hit.ids[0], detail: `${where}: ${hit.detail}` };
  }

  /** Runs a scan from the state after fromReq (the engine must be there); see scanRequests. */
  private scan(fromReq: number, after: Position | null, before: Position | null, endReq: number, mode: "first" | "last"): Hit | null {
    const ctx = { engine: this.engine, requests: this.requests, breakpoints: [...this.bps.values()], latencyOf: this.opts.latencyOf, afterRequest: () => this.checkpointIfDue() };
    return scanRequests(ctx, fromReq, after, before, endReq, mode);
  }
}
