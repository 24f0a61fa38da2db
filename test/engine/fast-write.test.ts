// The write fast path (engine/image/fast-write.ts) is the general path with its repeated work shared: seeded workloads
// of reads, writes, zero writes, discards and flushes, on images of several layouts (cluster sizes, extended L2, a
// backing file, lazy refcounts, 1- and 64-bit refcounts) under several configurations (small caches, writethrough,
// 2Q, overlap checks, no refcount-before-L2 ordering), run with the fast path on and off: every event (all fields),
// the counts, the caches, the runtime state and the image's bytes (its shadow layer) must come out the same.
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fastWriteStats, setFastWrite } from "../../engine/image/fast-write.js";
import type { EngineConfig } from "../../engine/image/engine-config.js";
import { ReplayEngine } from "../../engine/replay/replay-engine.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import { tmpDir } from "../format/qemu-images.js";
import { engineState, makeImage, propertyLayouts, type ImageSpec } from "../replay/timeline-fixtures.js";

const dir = tmpDir("qcowdbg-fastwrite-");
interface Img {
  name: string;
  path: string;
  cs: number;
  size: number;
  /** Subcluster size with extended L2 (the workload then writes mostly whole subclusters), else 0. */
  sub: number;
}
const images: Img[] = [];
const M = 1024 * 1024;

beforeAll(() => {
  // The property tests' layouts, with a 64 KiB-cluster image first and a 2 MiB-cluster one of odd size last.
  const specs: [string, ImageSpec][] = [
    ["plain64k.qcow2", { clusterSize: 65536, size: 32 * M, prefill: ["write -P 0x5a 0 200k", "write 5M 64k"] }],
    ...propertyLayouts((name) => dir.path(name)),
    ["odd2m.qcow2", { clusterSize: 2 * M, size: 9 * M + 4096 }],
    // Extended L2 as the replay's advice makes it (128 KiB clusters, 4 KiB subclusters), and with 2 KiB subclusters:
    // clusters with some subclusters allocated, some zero (in allocated and in unallocated clusters), and all zero.
    ["ext128k.qcow2", { clusterSize: 128 * 1024, size: 8 * M, extendedL2: true, prefill: ["write -P 0x41 0 4k", "write -P 0x42 16k 8k", "write -z 8k 4k", "write -z 128k 16k", "write -z 520k 8k", "write -P 0x43 1M 12k", "write -z 1M 4k", "write -z -u 2M 128k"] }],
    ["ext64k.qcow2", { clusterSize: 65536, size: 4 * M, extendedL2: true, prefill: ["write -P 0x44 0 2k", "write -P 0x45 6k 4k", "write -z 64k 6k", "write -z 2k 2k", "write -P 0x46 200k 2k"] }],
  ];
  for (const [name, s] of specs) {
    const sub = s.extendedL2 ? s.clusterSize / 32 : 0;
    images.push({ name, path: makeImage(dir.path(name), s), cs: s.clusterSize, size: s.size, sub });
  }
});
afterAll(() => dir.cleanup());
afterEach(() => setFastWrite(true));

const OPS: GuestRequest["op"][] = ["write", "write", "write", "write", "write", "write-zeroes", "discard", "flush", "read"];

function requestsArb(img: Img): fc.Arbitrary<GuestRequest[]> {
  const clusters = Math.ceil(img.size / img.cs);
  const one = fc.record({
    op: fc.constantFrom(...OPS),
    // Mostly a few hot clusters (rewrites, writes next to earlier ones), sometimes anywhere.
    cluster: fc.oneof(fc.nat(Math.min(7, clusters - 1)), fc.nat(clusters - 1)),
    inCluster: fc.nat(img.cs / 512 - 1),
    // Mostly inside one cluster (the fast path's case), sometimes across several.
    sectors: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: Math.max(1, img.cs / 512) }), fc.integer({ min: 1, max: Math.max(1, (3 * img.cs) / 512) })),
    mayUnmap: fc.boolean(),
    fua: fc.integer({ min: 0, max: 9 }),
    pattern: fc.integer({ min: 1, max: 255 }),
  });
  // Extended L2 with subclusters over 512 bytes: mostly writes of whole subclusters (one, or several, sometimes
  // past the cluster's end), the rest at any sector (partial subclusters, COW within them).
  const subclusters = fc.record({ sub: fc.nat(31), count: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 4 })), whole: fc.integer({ min: 0, max: 3 }) });
  return fc.array(fc.tuple(one, subclusters), { minLength: 10, maxLength: 120, size: "max" }).map((xs) =>
    xs.map(([x, sc], i): GuestRequest => {
      const whole = img.sub > 512 && sc.whole > 0;
      const start = Math.min(x.cluster * img.cs + (whole ? sc.sub * img.sub : x.inCluster * 512), img.size - 512);
      const offset = x.op === "flush" ? 0 : start;
      const length = x.op === "flush" ? 0 : Math.min(whole ? sc.count * img.sub : x.sectors * 512, img.size - offset);
      const r: GuestRequest = { time: i * 0.001, op: x.op, offset, length, fua: x.fua === 0, preflush: false, source: `prop:${i + 1}` };
      if (x.op === "write-zeroes") r.mayUnmap = x.mayUnmap;
      if (x.op === "write") r.pattern = x.pattern;
      return r;
    }),
  );
}

interface Setup {
  keepData: boolean;
  config: Partial<EngineConfig>;
}

const setupArb: fc.Arbitrary<Setup> = fc.record({
  keepData: fc.boolean(),
  smallCaches: fc.boolean(),
  cacheMode: fc.constantFrom<EngineConfig["cacheMode"]>("writeback", "writeback", "writethrough", "unsafe", "none"),
  cachePolicy: fc.constantFrom<EngineConfig["cachePolicy"]>("lru", "lru", "fifo", "2q"),
  overlapCheck: fc.constantFrom<EngineConfig["overlapCheck"]>(undefined, "all", "none"),
  refcountBeforeL2: fc.constantFrom<boolean | undefined>(undefined, false),
}).map((s) => {
  const config: Partial<EngineConfig> = { cacheMode: s.cacheMode, cachePolicy: s.cachePolicy };
  if (s.smallCaches) {
    config.l2CacheSize = 2 * 4096;
    config.refcountCacheSize = 2 * 4096;
  }
  if (s.overlapCheck !== undefined) config.overlapCheck = s.overlapCheck;
  if (s.refcountBeforeL2 !== undefined) config.refcountBeforeL2 = s.refcountBeforeL2;
  return { keepData: s.keepData, config };
});

/** The engine's whole state after the requests, then again after a final flush (which writes the caches back). */
function run(img: Img, setup: Setup, reqs: GuestRequest[], fast: boolean): { state: unknown; flushed: unknown; errors: (string | undefined)[] } {
  setFastWrite(fast);
  const e = new ReplayEngine(img.path, { keepData: setup.keepData, config: setup.config });
  try {
    const errors = reqs.map((r) => e.apply(r).error);
    // Beyond the timeline's state: the lookup result the last block status query left on the image, and the runtime.
    const state = { engine: engineState(e), lookup: { ...e.image.lookupResult }, rt: runtime(e) };
    e.apply({ time: 1, op: "flush", offset: 0, length: 0, fua: false, preflush: false, source: "final" });
    return { state, flushed: { engine: engineState(e), rt: runtime(e) }, errors };
  } finally {
    e.close();
  }
}

/** The image's runtime scalars (free cluster index, skipped data writes, sync generations...), tables aside. */
function runtime(e: ReplayEngine): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e.image.rt)) if (v === null || typeof v !== "object") out[k] = v;
  return out;
}

describe("the write fast path", () => {
  it("leaves the events, counts, caches, runtime state and image bytes of the general path", () => {
    const before = fastWriteStats.taken;
    const shapesBefore = [...fastWriteStats.byShape];
    for (let k = 0; k < images.length; k++) {
      const img = images[k]!;
      fc.assert(
        fc.property(setupArb, requestsArb(img), (setup, reqs) => {
          const slow = run(img, setup, reqs, false);
          const fast = run(img, setup, reqs, true);
          expect(fast.errors).toEqual(slow.errors);
          expect(fast.state).toEqual(slow.state);
          expect(fast.flushed).toEqual(slow.flushed);
        }),
        { seed: 4242 + k, numRuns: 25 },
      );
    }
    // The workloads do reach the fast path (a test of two general paths would prove nothing).
    expect(fastWriteStats.taken - before).toBeGreaterThan(1000);
    // Every shape, the relinking of subclusters (extended L2 only) among them.
    fastWriteStats.byShape.forEach((n, id) => expect(n - shapesBefore[id]!, `shape ${id}`).toBeGreaterThan(20));
  });

  it("leaves a corrupt extended L2 entry (a subcluster both allocated and zero) to the general path's error", () => {
    // ext128k's first cluster has subcluster 0 allocated: its zero bit set too makes the entry invalid.
    const src = images.find((i) => i.name === "ext128k.qcow2")!;
    const bytes = readFileSync(src.path);
    const l1 = Number(bytes.readBigUInt64BE(40));
    const l2 = Number(bytes.readBigUInt64BE(l1) & 0x00fffffffffffe00n);
    expect(bytes.readUInt32BE(l2 + 12) & 1).toBe(1);
    bytes.writeUInt32BE((bytes.readUInt32BE(l2 + 8) | 1) >>> 0, l2 + 8);
    const img = { ...src, name: "ext-invalid.qcow2", path: dir.path("ext-invalid.qcow2") };
    writeFileSync(img.path, bytes);
    const setup: Setup = { keepData: false, config: {} };
    const read = { time: 0, op: "read", offset: 131072, length: 512, fua: false, preflush: false, source: "t" } as const;
    // A rewrite of subcluster 0, of subcluster 0 and 1 (1 not allocated), and of subcluster 2 alone (also refused:
    // the entry is invalid whichever subcluster is written).
    for (const [offset, length] of [[0, 4096], [0, 8192], [8192, 4096]] as const) {
      const reqs: GuestRequest[] = [read, { ...read, op: "write", offset, length }];
      const slow = run(img, setup, reqs, false);
      const fast = run(img, setup, reqs, true);
      expect(slow.errors[1]).toMatch(/invalid cluster entry/i);
      expect(fast.errors).toEqual(slow.errors);
      expect(fast.state).toEqual(slow.state);
    }
  });

  it("takes whole subclusters on extended L2 and leaves partial ones (COW within a subcluster) to the general path", () => {
    const img = images.find((i) => i.name === "ext128k.qcow2")!;
    const e = new ReplayEngine(img.path, {});
    try {
      const w = (offset: number, length: number): GuestRequest => ({ time: 0, op: "write", offset, length, fua: false, preflush: false, source: "t" });
      const shapes = () => [...fastWriteStats.byShape];
      e.apply({ time: 0, op: "read", offset: 0, length: 512, fua: false, preflush: false, source: "t" }); // loads the slice
      e.apply(w(3 * M, 4096)); // the first allocation loads the refcount block: the general path
      let n = shapes();
      e.apply(w(4096, 8192)); // subclusters 1 (not allocated) and 2 (zero) of an allocated cluster: linked again
      expect(fastWriteStats.byShape[5]).toBe(n[5]! + 1);
      e.apply(w(4096, 4096)); // now allocated: rewritten in place
      expect(fastWriteStats.byShape[0]).toBe(n[0]! + 1);
      e.apply(w(5 * M + 8192, 4096)); // an unallocated cluster: allocated with subcluster 2's bit
      expect(fastWriteStats.byShape[1]).toBe(n[1]! + 1);
      n = shapes();
      e.apply(w(24 * 1024 + 512, 1024)); // part of a subcluster not allocated (COW within it): the general path
      e.apply(w(6 * M + 512, 4096)); // part of two subclusters of an unallocated cluster: the general path
      expect(shapes()).toEqual(n);
    } finally {
      e.close();
    }
  });

  it("is taken for rewrites and fresh allocations on a plain image, and declined where the general path differs", () => {
    const img = images[0]!;
    const e = new ReplayEngine(img.path, {});
    try {
      const w = (offset: number, length: number): GuestRequest => ({ time: 0, op: "write", offset, length, fua: false, preflush: false, source: "t" });
      const taken = () => fastWriteStats.taken;
      e.apply({ time: 0, op: "read", offset: 0, length: 512, fua: false, preflush: false, source: "t" }); // loads the slice
      let n = taken();
      e.apply(w(0, 4096)); // an allocated cluster (the prefill): rewritten in place
      expect(taken()).toBe(n + 1);
      e.apply(w(20 * M, 4096)); // the first allocation loads the refcount block: the general path
      n = taken();
      e.apply(w(20 * M + 65536, 512)); // the same slice, a fresh cluster: allocated on the fast path
      expect(taken()).toBe(n + 1);
      n = taken();
      e.apply(w(20 * M + 65536 - 512, 1024)); // two clusters: the general path
      expect(taken()).toBe(n);
      const off = e.recorder.onEvent(() => {});
      e.apply(w(0, 4096)); // a listener watches: the general path
      off();
      expect(taken()).toBe(n);
    } finally {
      e.close();
    }
  });
});
