// The cost model on hand-made event sequences: each host I/O costs what the profile says, sequential I/O is
// cheaper, the HDD seek grows with distance, causes follow the event (and the request's op), a merged COW write
// splits between data and COW, and the per-cause times add up to the request's latency.
import { describe, expect, it } from "vitest";
import { EventRecorder } from "../../engine/events/recorder.js";
import { EventKind, CACHE_L2, CACHE_NONE, CACHE_REFCOUNT } from "../../engine/events/event-kind.js";
import { CostModel, Cause, CAUSE_COUNT, Tally, eventColumns, type CostModelOptions } from "../../engine/replay/cost-model.js";
import { builtinProfile, type DeviceProfile } from "../../engine/replay/device-profiles.js";

const MIB = 1024 * 1024;
const nvme = builtinProfile("nvme")!;
const hdd = builtinProfile("hdd")!;

type Ev = [EventKind, number, number, number, number, number?];

/** Records [kind, node, cache, a, b, c] tuples and costs them as one request. */
function cost(profile: DeviceProfile, events: Ev[], guestWrite = false, opts: Partial<CostModelOptions> = {}, model?: CostModel) {
  const rec = new EventRecorder();
  for (const [k, node, cache, a, b, c] of events) rec.emit(k, node, cache, -1, a, b, c ?? 0);
  const m = model ?? new CostModel(profile, { cacheMode: "writeback", ...opts });
  const total = m.requestCost(eventColumns(rec), 0, rec.length, guestWrite);
  return { total, causes: Array.from(m.causes), model: m };
}

const readUs = (p: DeviceProfile, bytes: number, seq = false) => (seq ? p.seqReadLatencyUs : p.readLatencyUs) + bytes / ((p.readMiBps * MIB) / 1e6);
const writeUs = (p: DeviceProfile, bytes: number, seq = false) => (seq ? p.seqWriteLatencyUs : p.writeLatencyUs) + bytes / ((p.writeMiBps * MIB) / 1e6);

function sum(a: number[]): number {
  return a.reduce((x, y) => x + y, 0);
}

describe("cost model", () => {
  it("charges a random read latency plus transfer, and a sequential follower the sequential latency", () => {
    const r = cost(nvme, [
      [EventKind.DataRead, 0, CACHE_NONE, 1 << 20, 4096],
      [EventKind.DataRead, 0, CACHE_NONE, (1 << 20) + 4096, 65536],
    ]);
    expect(r.total).toBeCloseTo(readUs(nvme, 4096) + readUs(nvme, 65536, true), 9);
    expect(r.causes[Cause.Data]).toBeCloseTo(r.total, 9);
  });

  it("attributes metadata I/O by cache and direction", () => {
    const r = cost(nvme, [
      [EventKind.MetadataRead, 0, CACHE_L2, 0x30000, 65536],
      [EventKind.MetadataWrite, 0, CACHE_L2, 0x20000, 65536],
      [EventKind.MetadataRead, 0, CACHE_REFCOUNT, 0x10000, 65536],
      [EventKind.MetadataWrite, 0, CACHE_REFCOUNT, 0x10000, 65536],
      [EventKind.MetadataWrite, 0, CACHE_NONE, 0x50000, 8],
      [EventKind.L1Update, 0, CACHE_NONE, 3, 0x70000],
      [EventKind.FlushToDisk, 0, CACHE_NONE, 0, 0],
    ]);
    expect(r.causes[Cause.L2Miss]).toBeCloseTo(readUs(nvme, 65536), 9);
    expect(r.causes[Cause.L2Writeback]).toBeCloseTo(writeUs(nvme, 65536), 9);
    expect(r.causes[Cause.Refcount]).toBeCloseTo(readUs(nvme, 65536) + writeUs(nvme, 65536), 9);
    expect(r.causes[Cause.Allocation]).toBeCloseTo(2 * writeUs(nvme, 8), 9);
    expect(r.causes[Cause.Flush]).toBe(nvme.flushUs);
    expect(sum(r.causes)).toBeCloseTo(r.total, 9);
    expect(r.model.tally[Tally.MetaReads]).toBe(2);
    expect(r.model.tally[Tally.MetaWrites]).toBe(4);
    expect(r.model.tally[Tally.Syncs]).toBe(1);
  });

  it("makes a sync free in cache=unsafe (QEMU never syncs there) but still counts it", () => {
    const r = cost(nvme, [[EventKind.FlushToDisk, 0, CACHE_NONE, 0, 0]], false, { cacheMode: "unsafe" });
    expect(r.total).toBe(0);
    expect(r.model.tally[Tally.Syncs]).toBe(1);
  });

  it("charges reads inside a guest write as COW reads, and splits a merged COW write between data and COW", () => {
    // A 4 KiB write into a new 64 KiB cluster: read 60 KiB around it, write head + data + tail as one 64 KiB write.
    const r = cost(
      nvme,
      [
        [EventKind.DataRead, 0, CACHE_NONE, 0x100000, 61440],
        [EventKind.CowWrite, 0, CACHE_NONE, 0x200000, 65536],
        [EventKind.CowRead, 0, CACHE_NONE, 0x0, 61440],
      ],
      true,
    );
    const w = writeUs(nvme, 65536);
    expect(r.causes[Cause.CowRead]).toBeCloseTo(readUs(nvme, 61440), 9);
    expect(r.causes[Cause.Data]).toBeCloseTo((w * 4096) / 65536, 9);
    expect(r.causes[Cause.CowWrite]).toBeCloseTo((w * 61440) / 65536, 9);
    expect(sum(r.causes)).toBeCloseTo(r.total, 9);
    expect(r.model.tally[Tally.CowBytes]).toBe(61440);
  });

  it("charges a raw backing file's reads at the BackingRead event, a qcow2 backing's at its own DataRead", () => {
    const raw = cost(nvme, [[EventKind.BackingRead, 0, CACHE_NONE, 0, 4096]], false, { rawBackingDepth: 1 });
    expect(raw.causes[Cause.Backing]).toBeCloseTo(readUs(nvme, 4096), 9);
    // Past the end of a shorter raw file the read is zeros: only the part inside costs.
    const short = cost(nvme, [[EventKind.BackingRead, 0, CACHE_NONE, 61440, 8192], [EventKind.BackingRead, 0, CACHE_NONE, 1 << 20, 4096]], false, { rawBackingDepth: 1, rawBackingSize: 65536 });
    expect(short.total).toBeCloseTo(readUs(nvme, 4096), 9);
    const q = cost(nvme, [
      [EventKind.BackingRead, 0, CACHE_NONE, 0, 4096],
      [EventKind.DataRead, 1, CACHE_NONE, 0x50000, 4096],
    ]);
    expect(q.causes[Cause.Backing]).toBeCloseTo(readUs(nvme, 4096), 9);
    expect(q.total).toBeCloseTo(readUs(nvme, 4096), 9);
  });

  it("costs decompression by output size", () => {
    const r = cost(nvme, [[EventKind.Decompress, 0, CACHE_NONE, 0x12345, 3000, 65536]]);
    expect(r.causes[Cause.Decompress]).toBeCloseTo(nvme.decompressUs + 65536 / ((nvme.decompressMiBps * MIB) / 1e6), 9);
  });

  it("seeks on a disk: longer distances cost more, sequential I/O none, another file an average seek", () => {
    const seek = (dist: number) => {
      const s = hdd.seek!;
      return (s.minMs + (s.maxMs - s.minMs) * Math.sqrt(Math.min(1, dist / s.strokeBytes))) * 1000 + 30e6 / s.rpm;
    };
    const m = new CostModel(hdd, { cacheMode: "writeback" });
    const near = cost(hdd, [[EventKind.DataRead, 0, CACHE_NONE, 0, 4096], [EventKind.DataRead, 0, CACHE_NONE, 1 << 20, 4096]], false, {}, m);
    const first = readUs(hdd, 4096) + seek(hdd.seek!.strokeBytes / 3);
    expect(near.total).toBeCloseTo(first + readUs(hdd, 4096) + seek((1 << 20) - 4096), 6);
    m.reset();
    const far = cost(hdd, [[EventKind.DataRead, 0, CACHE_NONE, 0, 4096], [EventKind.DataRead, 0, CACHE_NONE, 2 ** 40, 4096]], false, {}, m);
    expect(far.total).toBeGreaterThan(near.total);
    m.reset();
    const seq = cost(hdd, [[EventKind.DataRead, 0, CACHE_NONE, 0, 4096], [EventKind.DataRead, 0, CACHE_NONE, 4096, 4096]], false, {}, m);
    expect(seq.total).toBeCloseTo(first + readUs(hdd, 4096, true), 6);
  });

  it("counts cache hits, misses and repeat misses of the active layer apart from backing nodes", () => {
    const done = (node: number, cache: number, off: number, miss: number): Ev => [EventKind.CacheGetDone, node, cache, off, miss];
    const r = cost(nvme, [done(0, CACHE_L2, 0x10000, 1), done(0, CACHE_L2, 0x10000, 0), done(0, CACHE_L2, 0x20000, 1), done(0, CACHE_L2, 0x10000, 1), done(0, CACHE_REFCOUNT, 0x30000, 1), done(1, CACHE_L2, 0x10000, 1)]);
    const t = r.model.tally;
    expect([t[Tally.L2Hit], t[Tally.L2Miss], t[Tally.L2RepeatMiss], t[Tally.RefcountMiss], t[Tally.BackingCacheMiss]]).toEqual([1, 3, 1, 1, 1]);
  });

  it("gives the same answers through get() when the recorder has no column accessors", () => {
    const rec = new EventRecorder();
    rec.emit(EventKind.MetadataRead, 0, CACHE_L2, 2, 0x30000, 65536, 0);
    rec.emit(EventKind.DataWrite, 0, CACHE_NONE, -1, 0x40000, 4096, 0);
    rec.emit(EventKind.FlushToDisk, 0, CACHE_NONE, -1, 0, 0, 0);
    const bare = { kindAt: (i: number) => rec.kindAt(i), get: (i: number) => rec.get(i) } as unknown as EventRecorder;
    const a = new CostModel(nvme, { cacheMode: "writeback" });
    const b = new CostModel(nvme, { cacheMode: "writeback" });
    expect(a.requestCost(eventColumns(rec), 0, 3, false)).toBe(b.requestCost(eventColumns(bare), 0, 3, false));
    expect(Array.from(a.causes)).toEqual(Array.from(b.causes));
  });

  it("fills per-event costs that add up to the request (Chrome trace slices)", () => {
    const m = new CostModel(nvme, { cacheMode: "writeback" });
    m.trackEvents(1);
    const events: Ev[] = [
      [EventKind.CacheGet, 0, CACHE_L2, 0x30000, 1],
      [EventKind.MetadataRead, 0, CACHE_L2, 0x30000, 65536],
      [EventKind.DataWrite, 0, CACHE_NONE, 0x40000, 4096],
      [EventKind.FlushToDisk, 0, CACHE_NONE, 0, 0],
    ];
    const r = cost(nvme, events, true, {}, m);
    const per = Array.from(m.eventCost!.subarray(0, events.length));
    expect(per[0]).toBe(0);
    expect(m.eventCause![0]).toBe(-1);
    expect([m.eventCause![1], m.eventCause![2], m.eventCause![3]]).toEqual([Cause.L2Miss, Cause.Data, Cause.Flush]);
    expect(sum(per)).toBeCloseTo(r.total, 9);
    expect(r.causes.length).toBe(CAUSE_COUNT);
  });
});
