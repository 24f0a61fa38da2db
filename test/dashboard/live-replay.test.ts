// A replay run a slice at a time gives the same numbers as `qcowdbg replay` (replayTrace) whatever the slice
// sizes, and the host-file map it keeps from allocation events equals the session's full walk of the image.
import { afterAll, describe, expect, it } from "vitest";
import { defaultConfig, parseConfigOptions } from "../../engine/image/engine-config.js";
import { replayTrace, type ReplaySummary } from "../../engine/replay/replay-stats.js";
import { openWorkload } from "../../engine/workload/index.js";
import { CAUSE_COUNT, CAUSE_NAMES } from "../../engine/replay/cost-model.js";
import { buildHostMap, HostKind } from "../../inspector/session/cluster-map.js";
import type { LiveReplay } from "../../inspector/dashboard/live-replay.js";
import { tmpDir } from "../format/qemu-images.js";
import { fillTrace, NVME, openRun, SAMPLES, TOUR, TOUR_TRACE, writeTrace } from "./fixtures.js";

const tmp = tmpDir("qcowdbg-dashboard-");
afterAll(() => tmp.cleanup());

function reference(image: string, trace: string, config = ""): ReplaySummary {
  const w = openWorkload(trace);
  try {
    return replayTrace(image, w.requests(), { config: config ? parseConfigOptions(config) : defaultConfig(), profile: NVME, topN: 10 });
  } finally {
    w.close();
  }
}

function runInSlices(image: string, trace: string, slices: number[], config = ""): { run: LiveReplay; close(): void } {
  const o = openRun(image, trace, config);
  for (let i = 0; !o.run.done; i++) o.run.advance(slices[i % slices.length]!);
  return o;
}

function expectSame(run: LiveReplay, ref: ReplaySummary): void {
  expect(run.requests).toBe(ref.requests);
  expect(run.errors).toBe(ref.errors);
  expect(run.outOfRange).toBe(ref.outOfRange);
  expect(run.totalUs).toBeCloseTo(ref.totalUs, 3);
  for (let k = 0; k < CAUSE_COUNT; k++) expect(run.causeTotals[k]).toBeCloseTo(ref.timeByCause.find((c) => c.cause === CAUSE_NAMES[k])!.us, 3);
  const c = run.cacheCounts();
  expect([c.l2Hits, c.l2Misses, c.refcountHits, c.refcountMisses]).toEqual([ref.caches.l2.hits, ref.caches.l2.misses, ref.caches.refcount.hits, ref.caches.refcount.misses]);
  expect(run.slowest.map((s) => [s.index, s.latencyUs, s.why])).toEqual(ref.slowest.map((s) => [s.index, s.latencyUs, s.why]));
  const all = ref.ops.at(-1)!;
  expect(run.histogram.max).toBe(all.maxUs);
  // The live percentiles are the report's own, not an estimate of them.
  expect([0.5, 0.9, 0.99, 0.999].map((q) => run.histogram.quantile(q))).toEqual([all.p50Us, all.p90Us, all.p99Us, all.p999Us]);
  expect(run.engine.shadow.size() - run.fileSizeStart).toBe(ref.image.growth);
}

/** The tracker's map against a full walk of the image as it is now. */
function expectMapMatches(run: LiveReplay): void {
  const truth = buildHostMap(run.image);
  const got = run.hostMap;
  got.fold(1); // brings the tracker up to the file's current size
  expect(got.clusters).toBe(truth.kinds.length);
  const diff: string[] = [];
  for (let c = 0; c < truth.kinds.length; c++) if (got.kindAt(c) !== truth.kinds[c]) diff.push(`cluster ${c}: ${got.kindAt(c)} != ${truth.kinds[c]}`);
  expect(diff.slice(0, 10)).toEqual([]);
  expect([...got.counts]).toEqual([...truth.counts]);
}

describe("LiveReplay", () => {
  it("matches replayTrace on the tour trace, in slices of any size", () => {
    const ref = reference(TOUR, TOUR_TRACE);
    expect(ref.requests).toBe(63);
    for (const slices of [[1], [7, 2, 50], [1000]]) {
      const o = runInSlices(TOUR, TOUR_TRACE, slices);
      try {
        expectSame(o.run, ref);
      } finally {
        o.close();
      }
    }
  });

  it("matches replayTrace under another configuration and over a backing chain with a raw base", () => {
    const trace = writeTrace(tmp.dir, "chain.qemu-io", ["read 0 64k", "write -P 1 4k 4k", "read 1M 128k", "write -P 2 2M 6k", "flush", "read 30M 64k", "write -P 3 40M 4k"]);
    const ref = reference(`${SAMPLES}chain-top.qcow2`, trace, "l2-cache-size=4k,cache=writethrough");
    expect(ref.outOfRange).toBe(1);
    expect(ref.caches.backing.hits + ref.caches.backing.misses).toBeGreaterThan(0);
    const o = runInSlices(`${SAMPLES}chain-top.qcow2`, trace, [3], "l2-cache-size=4k,cache=writethrough");
    try {
      expectSame(o.run, ref);
      expect(o.run.errorSamples[0]).toMatch(/outside the image/);
    } finally {
      o.close();
    }
  });

  it("keeps the host map current through L2, refcount block and refcount table growth", () => {
    // 512-byte clusters: every 32 KiB of guest data needs an L2 table, every 128 KiB of file a refcount block.
    const trace = writeTrace(tmp.dir, "fill512.qemu-io", [...fillTrace(12 * 1024 * 1024, 48 * 1024), "discard 1M 512k", "write -z -u 2M 64k"]);
    const o = openRun(`${SAMPLES}cluster-512.qcow2`, trace);
    try {
      const run = o.run;
      const kinds = new Set<number>();
      let grew = false;
      while (!run.done) {
        run.advance(37);
        if (run.done) break;
        expectMapMatches(run);
        for (let k = 0; k < run.hostMap.counts.length; k++) if (run.hostMap.counts[k]! > 0) kinds.add(k);
        grew ||= o.log.tail(1000).some((l) => l.includes("refcount table grown"));
      }
      expect(grew).toBe(true);
      for (const k of [HostKind.Header, HostKind.L1, HostKind.Reftable, HostKind.Refblock, HostKind.L2, HostKind.Data, HostKind.Free]) expect(kinds.has(k)).toBe(true);
      expect(o.log.tail(1000).some((l) => /new L2 table for L1\[\d+\] at 0x/.test(l))).toBe(true);
      expect(o.log.tail(1000).some((l) => /refcount block at 0x/.test(l))).toBe(true);
      expectMapMatches(run);
    } finally {
      o.close();
    }
  });

  it("shares and unshares clusters with snapshots, data and L2 tables alike", () => {
    const trace = writeTrace(tmp.dir, "snap.qemu-io", ["write -P 7 0 64k", "write -P 8 1M 4k", "write -P 9 8M 8k", "discard 12M 64k", "flush"]);
    const o = openRun(`${SAMPLES}snapshots.qcow2`, trace);
    try {
      expect(o.run.hostMap.counts[HostKind.Shared]).toBeGreaterThan(0);
      while (!o.run.done) {
        o.run.advance(1);
        if (!o.run.done) expectMapMatches(o.run);
      }
    } finally {
      o.close();
    }
  });

  it("shows leaked clusters it starts with, and logs errors, new maxima and the end", () => {
    const trace = writeTrace(tmp.dir, "leak.qemu-io", ["write -P 1 0 4k", "read 20M 4k", "read 21M 4k", "write -P 2 64k 64k"]);
    const o = openRun(`${SAMPLES}leaked.qcow2`, trace);
    try {
      expect(o.run.hostMap.counts[HostKind.Leaked]).toBeGreaterThan(0);
      o.run.advance(100);
      expect(o.run.done).toBe(true);
      expect(o.run.errors).toBe(2);
      const log = o.log.tail(100);
      expect(log.filter((l) => l.includes("outside the image"))).toHaveLength(2);
      expect(log.some((l) => /^#\d+ new max /.test(l))).toBe(true);
      expect(log.at(-1)).toMatch(/^done: 4 requests, modelled .*, 2 errors, host file \+/);
      expectMapMatches(o.run);
    } finally {
      o.close();
    }
  });
});
