// Latency over the course of a replay in a fixed number of points: requests are grouped in windows, and when the
// points fill up, neighbours merge and the window doubles, so the whole run stays in view at constant memory.
// Two runs fed the same requests keep identical windows (the what-if lines line up). Live percentiles come from
// the replay report's own streaming LatencyStats (engine/replay/latency-stats.ts).

export interface SeriesWindow {
  count: number;
  sumUs: number;
  maxUs: number;
  /** Modelled start of the window's first request and end of its last (µs from the trace start). */
  startUs: number;
  endUs: number;
  /** Requests done at the end of the window. */
  endRequest: number;
}

export interface SeriesView {
  /** Requests per full window. */
  window: number;
  /** Full windows, then the one being filled (if any). */
  windows: SeriesWindow[];
}

export class LatencySeries {
  private full: SeriesWindow[] = [];
  private cur: SeriesWindow | null = null;
  private requests = 0;
  window = 1;

  /** `capacity`: full windows kept before merging (even, >= 2). */
  constructor(readonly capacity = 120) {
    if (capacity < 2 || capacity % 2) throw new RangeError(`series capacity must be even and >= 2, not ${capacity}`);
  }

  add(latencyUs: number, startUs: number): void {
    this.requests++;
    const endUs = startUs + latencyUs;
    const c = (this.cur ??= { count: 0, sumUs: 0, maxUs: 0, startUs, endUs, endRequest: 0 });
    c.count++;
    c.sumUs += latencyUs;
    if (latencyUs > c.maxUs) c.maxUs = latencyUs;
    if (endUs > c.endUs) c.endUs = endUs;
    c.endRequest = this.requests;
    if (c.count < this.window) return;
    this.full.push(c);
    this.cur = null;
    if (this.full.length >= this.capacity) this.halve();
  }

  view(): SeriesView {
    return { window: this.window, windows: this.cur ? [...this.full, { ...this.cur }] : [...this.full] };
  }

  private halve(): void {
    const merged: SeriesWindow[] = [];
    for (let i = 0; i + 1 < this.full.length; i += 2) {
      const a = this.full[i]!;
      const b = this.full[i + 1]!;
      merged.push({ count: a.count + b.count, sumUs: a.sumUs + b.sumUs, maxUs: Math.max(a.maxUs, b.maxUs), startUs: a.startUs, endUs: Math.max(a.endUs, b.endUs), endRequest: b.endRequest });
    }
    this.full = merged;
    this.window *= 2;
  }
}

/** Average latency of a window, µs. */
export function windowAvgUs(w: SeriesWindow): number {
  return w.count ? w.sumUs / w.count : 0;
}

/** Requests per modelled second over a window (0 when it took no modelled time). */
export function windowIops(w: SeriesWindow): number {
  const span = w.endUs - w.startUs;
  return span > 0 ? (w.count * 1e6) / span : 0;
}
