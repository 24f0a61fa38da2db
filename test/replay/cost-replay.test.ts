// The cost model over real replays: the tour trace over the tour image, the shared blktrace capture (fitted
// onto a small image holding data where it reads), and real fio iologs. The numbers must hold together: causes
// add up to the total, hit rates equal the image's own cache counters, syncs equal the sync events, and the
// modelled read latency of the NVMe capture lands near what btt measured on the real device.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventKind } from "../../engine/events/event-kind.js";
import { defaultConfig } from "../../engine/image/engine-config.js";
import { openWorkload } from "../../engine/workload/index.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { replayTrace, type ReplayRunOptions, type ReplaySummary } from "../../engine/replay/replay-stats.js";
import { qemuImg, qemuIo, tmpDir } from "../format/qemu-images.js";
import { describeShared, SHARED_TRACES } from "../shared/real-traces.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const TOUR = here("../../samples/images/tour.qcow2");
const TOUR_TRACE = here("../../samples/traces/tour.qemu-io");
const SHARED = SHARED_TRACES + "/nvme-readahead/";
const FIO_V3 = here("../../samples/traces/fio-randrw.v3.iolog");
const FIO_V2 = here("../../samples/traces/fio-randrw.v2.iolog");
const FIO_TRIM = here("../../samples/traces/fio-trim.v3.iolog");
const nvme = builtinProfile("nvme")!;
const tmp = tmpDir("qcowdbg-cost-");
afterAll(() => tmp.cleanup());

function opts(extra: Partial<ReplayRunOptions> = {}): ReplayRunOptions {
  return { config: defaultConfig(), profile: nvme, ...extra };
}

function expectConsistent(s: ReplaySummary): void {
  const byCause = s.timeByCause.reduce((a, c) => a + c.us, 0);
  expect(byCause).toBeCloseTo(s.totalUs, 6);
  const perOp = s.ops.filter((o) => o.op !== "all").reduce((a, o) => a + o.totalUs, 0);
  expect(perOp).toBeCloseTo(s.totalUs, 6);
  expect(s.ops.at(-1)!.count).toBe(s.requests);
  const c = s.caches;
  expect([c.l2.hits, c.l2.misses, c.refcount.hits, c.refcount.misses]).toEqual([c.imageCounters.l2Hits, c.imageCounters.l2Misses, c.imageCounters.refcountHits, c.imageCounters.refcountMisses]);
  if (c.l2.hits + c.l2.misses > 0) expect(c.l2.hitRate).toBeCloseTo(c.imageCounters.l2Hits / (c.imageCounters.l2Hits + c.imageCounters.l2Misses), 12);
  for (const q of s.slowest) expect(Object.values(q.causes).reduce((a, b) => a + b, 0)).toBeCloseTo(q.latencyUs, 6);
}

describe("replay statistics on the tour trace", () => {
  let s: ReplaySummary;
  let syncEvents = 0;
  let flushRequests = 0;
  beforeAll(() => {
    const w = openWorkload(TOUR_TRACE);
    s = replayTrace(TOUR, w.requests(), opts({
      topN: 5,
      onRequest: (ctx) => {
        const rec = ctx.engine.recorder;
        for (let i = ctx.outcome.firstEvent; i < ctx.outcome.endEvent; i++) if (rec.kindAt(i) === EventKind.FlushToDisk) syncEvents++;
        if (ctx.req.op === "flush") flushRequests++;
      },
    }));
  });

  it("adds up, and agrees with the image's cache counters", () => {
    expect(s.requests).toBe(63);
    expectConsistent(s);
    expect(s.flushes.syncs).toBe(syncEvents);
    expect(s.flushes.requests).toBe(flushRequests);
    expect(s.errors).toBe(0);
  });

  it("counts what the trace did: ops, bytes, allocations, COW, growth", () => {
    const byOp = Object.fromEntries(s.ops.map((o) => [o.op, o.count]));
    expect(byOp).toEqual({ read: 37, write: 16, "write-zeroes": 3, discard: 3, flush: 4, all: 63 });
    expect(s.ops.find((o) => o.op === "write")!.bytes).toBe(64 * 1024 + 4096 + 512 + 192 * 1024 + 1024 + 4096 + 8192 + 4 * 1024 + (1 << 20) + 300 + 256 * 1024 + 4096 + 2048);
    expect(s.allocations.clusters).toBeGreaterThan(0);
    expect(s.cow.ops).toBeGreaterThan(0);
    expect(s.image.growth).toBe(s.image.fileSizeEnd - s.image.fileSizeStart);
    expect(s.image.growth).toBeGreaterThan(0);
    // The compressed cluster at 32M is decompressed twice: by the read, and by the COW of `write 32772k` (strace of
    // qemu-io on the same trace: two 512-byte reads of its compressed data; QEMU 7.2 keeps no decompressed cluster).
    expect(s.data.decompressedBytes).toBe(2 * 65536);
  });

  it("explains the slowest requests from their events", () => {
    expect(s.slowest).toHaveLength(5);
    for (let i = 1; i < s.slowest.length; i++) expect(s.slowest[i - 1]!.latencyUs).toBeGreaterThanOrEqual(s.slowest[i]!.latencyUs);
    const all = s.slowest.flatMap((q) => q.why).join("\n");
    expect(all).toMatch(/\d+ syncs?/);
    expect(all).toMatch(/write-back/);
    expect(s.slowest[0]!.latencyUs).toBe(s.ops.at(-1)!.maxUs);
  });

  it("gives the same numbers whether events are kept or dropped in batches", () => {
    const kept = replayTrace(TOUR, openWorkload(TOUR_TRACE).requests(), opts({ topN: 5, keepEvents: true }));
    expect(kept.totalUs).toBeCloseTo(s.totalUs, 9);
    expect(kept.slowest.map((q) => q.why)).toEqual(s.slowest.map((q) => q.why));
  });

  it("charges more on slower devices, and nothing for syncs in cache=unsafe", () => {
    const hdd = replayTrace(TOUR, openWorkload(TOUR_TRACE).requests(), opts({ profile: builtinProfile("hdd")! }));
    expect(hdd.totalUs).toBeGreaterThan(10 * s.totalUs);
    const unsafe = replayTrace(TOUR, openWorkload(TOUR_TRACE).requests(), opts({ config: defaultConfig({ cacheMode: "unsafe" }) }));
    expect(unsafe.timeByCause.find((c) => c.cause === "flush")!.us).toBe(0);
    // cache=unsafe never reaches the disk: qemu-io makes no fdatasync call (strace), so no sync is counted either.
    expect(unsafe.flushes.syncs).toBe(0);
    expect(unsafe.flushes.requests).toBe(s.flushes.requests);
  });
});

describeShared("the shared NVMe blktrace capture", () => {
  const img = tmp.path("nvme.qcow2");
  let s: ReplaySummary;
  beforeAll(() => {
    // Scaled onto 64 MiB, the capture's reads land in the last 8 MiB: give them data to read.
    qemuImg("create", "-q", "-f", "qcow2", img, "64M");
    qemuIo(img, "write -P 7 56M 8M");
    const w = openWorkload(SHARED + "sample.blkparse.txt", { fit: { virtualSize: 64 << 20, mode: "scale" } });
    s = replayTrace(img, w.requests(), opts());
  });

  it("replays its 963 read-ahead reads, each one host read", () => {
    expectConsistent(s);
    const reads = s.ops.find((o) => o.op === "read")!;
    expect(reads.count).toBe(963);
    expect(reads.bytes).toBe(963 * 4096);
    expect(s.data.hostReadBytes).toBe(963 * 4096);
    expect(s.caches.l2.misses).toBe(1);
    expect(s.metadata.reads).toBe(1);
    expect(s.touched.minOffset).toBeGreaterThanOrEqual(56 << 20);
    // Every read pays at least a sequential read and its transfer.
    expect(reads.minUs).toBeGreaterThanOrEqual(nvme.seqReadLatencyUs + 4096 / ((nvme.readMiBps * 1048576) / 1e6) - 1e-9);
  });

  it("models a read latency near the D2C btt measured on the real device", () => {
    const btt = readFileSync(SHARED + "sample.btt.txt", "utf8");
    const m = /^D2C\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)/m.exec(btt)!;
    const d2cAvgUs = Number(m[2]) * 1e6;
    expect(Number(m[4])).toBe(963);
    const avg = s.ops.find((o) => o.op === "read")!.avgUs;
    expect(Math.abs(avg - d2cAvgUs) / d2cAvgUs).toBeLessThan(0.25);
  });
});

describe("fio iologs", () => {
  const img = tmp.path("fio.qcow2");
  beforeAll(() => qemuImg("create", "-q", "-f", "qcow2", img, "64M"));

  it.each([
    ["v3", FIO_V3],
    ["v2", FIO_V2],
  ])("replays the %s randrw log with the counts fio reported", (_v, log) => {
    const counts = JSON.parse(readFileSync(log.replace(/\.iolog$/, ".counts.json"), "utf8"));
    const s = replayTrace(img, openWorkload(log).requests(), opts());
    expectConsistent(s);
    const n = (op: string) => s.ops.find((o) => o.op === op)?.count ?? 0;
    expect([n("read"), n("write"), n("flush")]).toEqual([counts.read, counts.write, counts.sync]);
    expect(s.errors).toBe(0);
    // Writes allocate 4 KiB into 64 KiB clusters of an empty image: COW is skipped (zeroes written), never copied.
    expect(s.cow.skipped).toBeGreaterThan(0);
    expect(s.cow.bytes).toBe(0);
    expect(s.flushes.syncs).toBeGreaterThanOrEqual(counts.sync);
  });

  it("replays the trim log as discards", () => {
    const counts = JSON.parse(readFileSync(FIO_TRIM.replace(/\.iolog$/, ".counts.json"), "utf8"));
    const s = replayTrace(img, openWorkload(FIO_TRIM).requests(), opts());
    expectConsistent(s);
    expect(s.ops.find((o) => o.op === "discard")!.count).toBe(counts.trim);
  });
});
