// The replay's statistics are streaming (constant memory): percentiles from log-linear buckets and the slowest
// requests in a heap. They must give what the exact computation gives: nearest-rank percentiles of every
// latency, sorted (exact when a bucket holds one distinct value, at most 1/1024 above otherwise), and the N slowest
// with ties kept in request order, checked here against the exact figures on random data and on real replays.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { defaultConfig, parseConfigOptions } from "../../engine/image/engine-config.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { LatencyStats } from "../../engine/replay/latency-stats.js";
import { replayTrace, type SlowRequest } from "../../engine/replay/replay-stats.js";
import { SlowestHeap } from "../../engine/replay/slowest-heap.js";
import { openWorkload } from "../../engine/workload/index.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const TOUR = here("../../samples/images/tour.qcow2");
const TOUR_TRACE = here("../../samples/traces/tour.qemu-io");
const FIO_V3 = here("../../samples/traces/fio-randrw.v3.iolog");

/** Nearest rank, as the replay reports it (btt's percentile files are read this way). */
function exactQuantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Seeded generator (Park-Miller), so a failure replays. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

const QS = [0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1];

describe("LatencyStats", () => {
  it("gives the exact nearest-rank percentiles when values are few and distinct (as the cost model's are)", () => {
    const r = random(7);
    const levels = [0, 0.5, 21.953125, 41.953125, 42, 1466.95693969, 12014.4569, 3e7];
    const values = Array.from({ length: 20000 }, () => levels[Math.floor(r() * r() * levels.length)]!);
    const h = new LatencyStats();
    for (const v of values) h.add(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of QS) expect(h.quantile(q)).toBe(exactQuantile(sorted, q));
    expect([h.n, h.min, h.max]).toEqual([values.length, sorted[0], sorted.at(-1)]);
    expect(h.total).toBeCloseTo(values.reduce((a, b) => a + b, 0), 6);
  });

  it("stays within 1/1024 above the exact value on continuous data, and merges as if fed both streams", () => {
    const r = random(11);
    const a = Array.from({ length: 30000 }, () => Math.exp(r() * 20) / 100);
    const b = Array.from({ length: 5000 }, () => r() * 1e4);
    const ha = new LatencyStats();
    const hb = new LatencyStats();
    a.forEach((v) => ha.add(v));
    b.forEach((v) => hb.add(v));
    const all = new LatencyStats();
    all.merge(ha);
    all.merge(hb);
    const sorted = [...a, ...b].sort((x, y) => x - y);
    for (const q of [...QS, 0.123, 0.777]) {
      const exact = exactQuantile(sorted, q);
      const got = all.quantile(q);
      expect(got).toBeGreaterThanOrEqual(exact);
      expect(got - exact).toBeLessThanOrEqual(exact / 1024);
    }
    expect(all.n).toBe(sorted.length);
    expect(all.max).toBe(sorted.at(-1));
    // Constant memory: 16 KiB per power of two used, whatever the count.
    expect(all.bytes()).toBeLessThanOrEqual(40 * 16384);
  });

  it("is empty-safe", () => {
    const h = new LatencyStats();
    expect([h.quantile(0.5), h.n, h.total]).toEqual([0, 0, 0]);
  });
});

describe("SlowestHeap", () => {
  it("keeps what a stable sorted insertion keeps, ties in request order", () => {
    const r = random(3);
    for (const n of [1, 3, 10, 100]) {
      const heap = new SlowestHeap(n);
      const list: SlowRequest[] = [];
      for (let index = 0; index < 5000; index++) {
        const latencyUs = Math.floor(r() * 50); // many ties
        const s: SlowRequest = { index, source: "", op: "write", offset: 0, length: 0, latencyUs, causes: {}, why: [] };
        const admit = latencyUs > 0 && (list.length < n || latencyUs > list.at(-1)!.latencyUs);
        expect(heap.admits(latencyUs)).toBe(admit);
        if (admit) {
          heap.add(s);
          let i = list.length;
          while (i > 0 && list[i - 1]!.latencyUs < latencyUs) i--;
          list.splice(i, 0, s);
          if (list.length > n) list.length = n;
        }
      }
      expect(heap.sorted().map((s) => s.index)).toEqual(list.map((s) => s.index));
    }
  });
});

describe("a replay's percentiles and slowest requests", () => {
  for (const [name, image, trace, config] of [
    ["tour", TOUR, TOUR_TRACE, ""],
    ["fio randrw, a small L2 cache", TOUR, FIO_V3, "l2-cache-size=64K,l2-cache-entry-size=4K"],
  ] as const) {
    it(`equal the exact figures from every latency (${name})`, () => {
      const lat: { op: string; us: number; index: number }[] = [];
      const w = openWorkload(trace, { fit: { mode: "wrap", virtualSize: 64 * 2 ** 20 } });
      let s;
      try {
        s = replayTrace(image, w.requests(), { config: config ? parseConfigOptions(config) : defaultConfig(), profile: builtinProfile("nvme")!, topN: 7, onRequest: (c) => lat.push({ op: c.req.op, us: c.latencyUs, index: c.index }) });
      } finally {
        w.close();
      }
      expect(lat.length).toBeGreaterThan(50);
      for (const o of s.ops) {
        const sorted = lat.filter((l) => o.op === "all" || l.op === o.op).map((l) => l.us).sort((a, b) => a - b);
        expect([o.count, o.minUs, o.maxUs]).toEqual([sorted.length, sorted[0], sorted.at(-1)]);
        expect([o.p50Us, o.p90Us, o.p99Us, o.p999Us]).toEqual([0.5, 0.9, 0.99, 0.999].map((q) => exactQuantile(sorted, q)));
      }
      const slow = lat.filter((l) => l.us > 0).sort((a, b) => b.us - a.us || a.index - b.index).slice(0, 7);
      expect(s.slowest.map((q) => [q.index, q.latencyUs])).toEqual(slow.map((l) => [l.index, l.us]));
    });
  }
});
