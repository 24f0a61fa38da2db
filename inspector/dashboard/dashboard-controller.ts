// Runs the replays in slices on the event loop (setImmediate between slices, each bounded in requests and in
// time) and asks for a frame on a timer, never per request; play/pause, speed and restart. No terminal here:
// the face passes a draw callback. Several runs (baseline, what-if) advance in lockstep, request by request.
import type { ControlState, RunState } from "./dashboard-view.js";
import type { LiveReplay } from "./live-replay.js";

/** Requests per second at each speed step; Infinity runs as fast as the slices allow. */
export const SPEEDS: readonly number[] = [1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000, Infinity];

export interface ControllerOptions {
  /** Fresh runs from the start of the trace (called at start and on restart). */
  open: () => LiveReplay[];
  /** Draws a frame from the current runs. */
  draw: (runs: readonly LiveReplay[], control: ControlState, wallRates: readonly number[]) => void;
  /** Share of the trace read so far (0..1), or null when unknown. */
  progress?: () => number | null;
  onError: (e: unknown) => void;
  /** Initial speed, requests per second (Infinity: as fast as possible). */
  speed?: number;
  frameMs?: number;
  /** Time one slice may take before yielding to the event loop. */
  sliceMs?: number;
  /** Most requests per slice (per run). */
  sliceRequests?: number;
  /** Wall-rate samples kept for the sparkline. */
  rateHistory?: number;
}

export function speedLabel(rps: number): string {
  return rps === Infinity ? "max" : `${rps.toLocaleString("en-US")} req/s`;
}

/** The step nearest to a requested speed. */
export function speedIndex(rps: number): number {
  let best = 0;
  for (let i = 0; i < SPEEDS.length; i++) if (Math.abs(Math.log(SPEEDS[i]! / rps)) < Math.abs(Math.log(SPEEDS[best]! / rps))) best = i;
  return rps === Infinity ? SPEEDS.length - 1 : best;
}

export class DashboardController {
  runs: LiveReplay[] = [];
  state: RunState = "paused";
  speed: number;
  /** Frames drawn since start (tests and the redraw rate). */
  frames = 0;
  private slice: ReturnType<typeof setImmediate> | null = null;
  private wait: ReturnType<typeof setTimeout> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private credit = 0;
  private lastCredit = 0;
  private readonly frameMs: number;
  private readonly sliceMs: number;
  private readonly sliceRequests: number;
  private readonly rateHistory: number;
  private wallRates: number[] = [];
  private lastSample = { t: 0, requests: 0 };
  /** Times of the timer's frames while running, over the last second: the live redraw rate. */
  private frameTimes: number[] = [];
  private requestsPerSecond = 0;
  /** Wall time spent running since the last (re)start, closed at each pause: the average rate once stopped. */
  private activeMs = 0;
  private runningSince = 0;

  constructor(private readonly opts: ControllerOptions) {
    this.speed = SPEEDS[speedIndex(opts.speed ?? Infinity)]!;
    this.frameMs = opts.frameMs ?? 100;
    this.sliceMs = opts.sliceMs ?? 30;
    this.sliceRequests = opts.sliceRequests ?? 20_000;
    this.rateHistory = opts.rateHistory ?? 200;
  }

  start(): void {
    this.guard(() => {
      this.runs = this.opts.open();
      // Frames on a timer while the replay runs; a pause, a key or the end draws once (an idle screen costs nothing).
      this.timer = setInterval(() => {
        if (this.state !== "running") return;
        const now = performance.now();
        this.frameTimes.push(now);
        while (this.frameTimes.length > 1 && now - this.frameTimes[0]! > 1000) this.frameTimes.shift();
        this.frame();
      }, this.frameMs);
      this.play();
      this.frame();
    });
  }

  play(): void {
    if (this.stopped || this.state === "done") return;
    this.state = "running";
    this.runningSince = performance.now();
    this.lastCredit = performance.now();
    this.credit = 0;
    this.lastSample = { t: performance.now(), requests: this.done() };
    this.schedule(0);
  }

  pause(): void {
    if (this.state !== "running") return;
    this.state = "paused";
    this.activeMs += performance.now() - this.runningSince;
    this.cancel();
    this.frame();
  }

  toggle(): void {
    if (this.state === "running") this.pause();
    else if (this.state === "paused") this.play();
    else this.restart();
  }

  faster(): void {
    this.setSpeed(Math.min(SPEEDS.length - 1, speedIndex(this.speed) + 1));
  }

  slower(): void {
    this.setSpeed(Math.max(0, speedIndex(this.speed) - 1));
  }

  restart(): void {
    this.guard(() => {
      this.cancel();
      this.closeRuns();
      this.wallRates = [];
      this.frameTimes = [];
      this.activeMs = 0;
      this.requestsPerSecond = 0;
      this.runs = this.opts.open();
      this.state = "paused";
      this.play();
      this.frame();
    });
  }

  /** Stops everything and closes the runs (idempotent). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cancel();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.closeRuns();
  }

  /** Draws now (also called by the frame timer). */
  frame(): void {
    if (this.stopped || !this.runs.length) return;
    this.sampleRate(performance.now());
    this.frames++;
    this.guard(() => this.opts.draw(this.runs, this.control(), this.wallRates));
  }

  control(): ControlState {
    const n = this.frameTimes.length;
    const span = n >= 3 ? this.frameTimes[n - 1]! - this.frameTimes[0]! : 0;
    return {
      state: this.state,
      speed: speedLabel(this.speed),
      progress: this.opts.progress?.() ?? null,
      redrawsPerSecond: span > 0 ? ((n - 1) * 1000) / span : null,
      requestsPerSecond: this.requestsPerSecond,
    };
  }

  private setSpeed(i: number): void {
    this.speed = SPEEDS[i]!;
    this.credit = 0;
    this.lastCredit = performance.now();
    this.frame();
  }

  private done(): number {
    return this.runs.length ? this.runs[0]!.requests : 0;
  }

  private sampleRate(now: number): void {
    if (this.state !== "running") {
      if (this.activeMs > 0) this.requestsPerSecond = (this.done() * 1000) / this.activeMs;
      return;
    }
    const dt = now - this.lastSample.t;
    if (dt < this.frameMs / 2) return;
    const n = this.done();
    this.requestsPerSecond = ((n - this.lastSample.requests) * 1000) / dt;
    this.lastSample = { t: now, requests: n };
    this.wallRates.push(this.requestsPerSecond);
    if (this.wallRates.length > this.rateHistory) this.wallRates.shift();
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.slice || this.wait) return;
    if (delayMs > 0) this.wait = setTimeout(() => ((this.wait = null), this.step()), delayMs);
    else this.slice = setImmediate(() => ((this.slice = null), this.step()));
  }

  private cancel(): void {
    if (this.slice) clearImmediate(this.slice);
    if (this.wait) clearTimeout(this.wait);
    this.slice = null;
    this.wait = null;
  }

  /** One slice: as many requests as the speed allows, within the slice's time budget. */
  private step(): void {
    if (this.state !== "running" || this.stopped) return;
    this.guard(() => {
      const now = performance.now();
      let allowed = this.sliceRequests;
      if (this.speed !== Infinity) {
        // Credit accrues with wall time at the chosen speed; at most a quarter second of it is banked.
        this.credit = Math.min(this.credit + ((now - this.lastCredit) * this.speed) / 1000, Math.max(1, this.speed / 4));
        this.lastCredit = now;
        allowed = Math.min(allowed, Math.floor(this.credit));
        if (allowed < 1) {
          this.schedule(Math.min(this.frameMs, Math.ceil(((1 - this.credit) * 1000) / this.speed)));
          return;
        }
      }
      const ran = this.advance(allowed, now + this.sliceMs);
      this.credit = Math.max(0, this.credit - ran);
      if (this.runs.every((r) => r.done)) {
        this.state = "done";
        this.activeMs += performance.now() - this.runningSince;
        this.frame();
        return;
      }
      this.schedule(0);
    });
  }

  /** Advances the runs in lockstep: the first sets the pace, the others run as many requests. */
  private advance(max: number, deadline: number): number {
    const [first, ...rest] = this.runs;
    const ran = first!.advance(max, deadline);
    for (const r of rest) r.advance(ran || max);
    return ran;
  }

  private closeRuns(): void {
    for (const r of this.runs) r.close();
    this.runs = [];
  }

  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.stop();
      this.opts.onError(e);
    }
  }
}
