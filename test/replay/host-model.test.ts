// The host files under a calibrated profile: data extents, the page cache (re-reads hit memory under writeback,
// not under O_DIRECT), holes, allocation and dirty data paid at the next sync; and the profile file format.
import { describe, expect, it } from "vitest";
import { ExtentSet, HostFiles } from "../../engine/replay/host-io.js";
import { TEST_HOST } from "./host-fixture.js";
import { builtinProfile, parseProfile, PROFILE_FORMAT } from "../../engine/replay/device-profiles.js";
import { buildProfile, classMean, fitCost, inFirstL2, profileJson } from "../../engine/replay/calibrate.js";

function files(direct: boolean, data: [number, number][], size = 1 << 30): HostFiles {
  const set = new ExtentSet();
  for (const [s, e] of data) set.add(s, e);
  return new HostFiles(TEST_HOST, direct, new Map([[0, { size, data: set, fallocatedEnd: 0 }]]));
}

describe("ExtentSet", () => {
  it("merges touching and overlapping ranges and counts covered bytes", () => {
    const x = new ExtentSet();
    x.add(100, 200);
    x.add(300, 400);
    x.add(200, 250);
    x.add(390, 500);
    x.add(0, 10);
    expect(x.ranges()).toEqual([
      [0, 10],
      [100, 250],
      [300, 500],
    ]);
    expect(x.covered(0, 1000)).toBe(10 + 150 + 200);
    expect(x.covered(240, 310)).toBe(20);
    x.add(5, 400);
    expect(x.ranges()).toEqual([[0, 500]]);
  });
});

describe("host files", () => {
  it("under writeback a re-read of data evicted from the page cache goes to the device once, then hits memory", () => {
    const h = files(false, [[0, 1 << 20]]);
    // Warm at start: the file was just written or copied.
    expect(h.read(0, 8192, 4096)).toEqual({ us: 10, deviceBytes: 0 });
    // A cache of 64 pages: read 100 other pages, the first ones are evicted.
    for (let p = 10; p < 110; p++) h.read(0, p * 4096 + (1 << 24), 4096);
    expect(h.read(0, 8192, 4096).deviceBytes).toBe(4096);
    expect(h.read(0, 8192, 4096).deviceBytes).toBe(0);
  });

  it("with O_DIRECT every read of data reaches the device; holes cost the filesystem's answer only", () => {
    const h = files(true, [[0, 1 << 20]]);
    expect(h.read(0, 8192, 4096)).toEqual({ us: 0, deviceBytes: 4096 });
    expect(h.read(0, 8192, 4096)).toEqual({ us: 0, deviceBytes: 4096 });
    expect(h.read(0, 1 << 21, 4096)).toEqual({ us: 30, deviceBytes: 0 });
  });

  it("a buffered hole read fills a zero page once; then it reads like a cached page", () => {
    const h = files(false, []);
    expect(h.read(0, 1 << 21, 4096).us).toBe(20);
    expect(h.read(0, 1 << 21, 4096).us).toBe(10);
  });

  it("writes into holes or past the end allocate: the next sync pays a journal commit, dirty data per MiB", () => {
    const h = files(false, [[0, 1 << 20]], 1 << 20);
    expect(h.write(0, 0, 4096).us).toBe(5);
    expect(h.sync(0)).toBeCloseTo(100 + (1000 * 4096) / 2 ** 20);
    expect(h.write(0, 1 << 20, 65536).us).toBe(7);
    expect(h.sync(0)).toBeCloseTo(100 + (1000 * 65536) / 2 ** 20 + 500);
    // Written once, it is data: an overwrite allocates nothing.
    expect(h.write(0, 1 << 20, 4096).us).toBe(5);
    expect(h.sync(0)).toBeCloseTo(100 + (1000 * 4096) / 2 ** 20);
  });

  it("a sync pays each page-cache allocating write after the first (version 3's syncUsPerAllocWrite), not overwrites", () => {
    const h = new HostFiles({ ...TEST_HOST, syncUsPerAllocWrite: 20 }, false, new Map([[0, { size: 1 << 20, data: new ExtentSet(), fallocatedEnd: 0 }]]));
    // qcow2 appending clusters in writeback: write-zeroes over each new cluster, 4 KiB of data into it.
    for (let i = 0; i < 10; i++) {
      h.zeroRange(0, (1 << 20) + i * 65536, 65536);
      h.write(0, (1 << 20) + i * 65536, 4096);
    }
    h.write(0, 1 << 20, 4096);
    expect(h.sync(0)).toBeCloseTo(100 + (1000 * 11 * 4096) / 2 ** 20 + 500 + 9 * 20);
    // Counted from the last sync; one allocating write pays nothing extra; O_DIRECT pays nothing extra.
    h.write(0, 1 << 22, 4096);
    expect(h.sync(0)).toBeCloseTo(100 + (1000 * 4096) / 2 ** 20 + 500);
    const d = new HostFiles({ ...TEST_HOST, syncUsPerAllocWrite: 20 }, true, new Map([[0, { size: 1 << 20, data: new ExtentSet(), fallocatedEnd: 0 }]]));
    for (let i = 0; i < 10; i++) d.write(0, (1 << 20) + i * 65536, 4096);
    expect(d.sync(0)).toBe(600);
  });

  it("a write into a range write-zeroes just allocated costs the unwritten-extent write, then it is an overwrite", () => {
    const p = { ...TEST_HOST, bufferedUnwrittenWrite: { us: 9, usPerKiB: 0 }, directUnwrittenWrite: { us: 90, usPerKiB: 0 } };
    const h = new HostFiles(p, false, new Map([[0, { size: 1 << 20, data: new ExtentSet(), fallocatedEnd: 0 }]]));
    // qcow2 zeroes a new cluster at the end of the file (the file grows), then writes 4 KiB into it.
    expect(h.zeroRange(0, 1 << 20, 65536)).toBe(15);
    expect(h.write(0, (1 << 20) + 8192, 4096).us).toBe(9);
    expect(h.write(0, (1 << 20) + 8192, 4096).us).toBe(5);
    // Past what was zeroed: a write that allocates (and grows the file).
    expect(h.write(0, (1 << 20) + 65536, 4096).us).toBe(7);
    // Unzeroed reads of the zeroed range are holes (no device I/O).
    expect(h.read(0, (1 << 20) + 16384, 4096)).toEqual({ us: 20, deviceBytes: 0 });
    const d = new HostFiles(p, true, new Map([[0, { size: 1 << 20, data: new ExtentSet(), fallocatedEnd: 0 }]]));
    d.zeroRange(0, 1 << 20, 65536);
    expect(d.write(0, 1 << 20, 4096)).toEqual({ us: 90, deviceBytes: 0 });
    expect(d.write(0, 1 << 20, 4096)).toEqual({ us: 0, deviceBytes: 4096 });
    // Older profiles without the field: the allocating write's cost.
    const old = new HostFiles(TEST_HOST, false, new Map([[0, { size: 1 << 20, data: new ExtentSet(), fallocatedEnd: 0 }]]));
    old.zeroRange(0, 1 << 20, 65536);
    expect(old.write(0, 1 << 20, 4096).us).toBe(7);
  });

  it("O_DIRECT overwrites reach the device; allocating ones cost the allocation", () => {
    const h = files(true, [[0, 1 << 20]], 1 << 20);
    expect(h.write(0, 4096, 4096)).toEqual({ us: 0, deviceBytes: 4096 });
    expect(h.write(0, 2 << 20, 4096)).toEqual({ us: 200, deviceBytes: 0 });
    expect(h.sync(0)).toBe(600);
  });
});

describe("calibration arithmetic and the profile file", () => {
  it("averages a class's commands (each already its fastest run) and fits us + usPerKiB from 4 KiB and 64 KiB", () => {
    expect(classMean([1, 2, 3, 6])).toBe(3);
    // Less its slowest twentieth: one command that a spell of load met in every run does not move the class.
    expect(classMean([...Array<number>(19).fill(10), 5000])).toBe(10);
    expect(classMean([])).toBe(0);
    expect(fitCost(20, 80)).toEqual({ us: 16, usPerKiB: 1 });
    expect(fitCost(20, 10)).toEqual({ us: 20, usPerKiB: 0 });
  });

  it("writes a version-3 profile that reads back the same, and names the field of a bad one", () => {
    const classes = new Map<string, number[]>();
    const put = (k: string, us: number) => classes.set(k, [us, us, us]);
    for (const [k, v] of Object.entries({ dRead4: 100, dRead64: 160, dWrite4: 80, dWrite64: 120, dSeqRead4: 60, dSeqWrite4: 50, dFua4: 600, dFuaAfterAlloc: 1100, cRead4: 10, cRead64: 22, hRead4: 20, hRead64: 30, dHole4: 25, dHole64: 25, bWrite4: 12, bWrite64: 30, bAlloc4: 15, bAlloc64: 40, bExtend64: 40, dAlloc4: 150, dAlloc64: 210, sync0: 412, sync1048576: 1412, sync4194304: 4412, sync16777216: 16412, bFuaAfterAlloc: 912, punch: 90, zero: 20, qRead4: 11, qWrite4: 14, qAlloc4: 50 }))
      put(k, v);
    const p = buildProfile(classes, { dir: ".", pageCacheBytes: 1 << 30, name: "test-host" }, 3);
    expect(p.host!.syncUs).toBe(400);
    expect(p.host!.syncUsPerMiB).toBe(1000);
    expect(p.host!.syncAllocUs).toBe(500);
    expect(p.flushUs).toBe(520);
    expect(p.host!.cachedRead).toEqual({ us: 9.2, usPerKiB: 0.2 });
    expect(p.readMiBps).toBeCloseTo(60 / 1024 / 60e-6, 3);
    const text = profileJson(p);
    const json = JSON.parse(text) as Record<string, unknown>;
    expect(json.format).toBe(PROFILE_FORMAT);
    expect(json.version).toBe(3);
    // Without the syncAllocN classes nothing is charged per allocating write; with them, the sync after 32
    // allocating writes less the one after one write, less the 31 extra dirty 4 KiB (1000 µs/MiB), over 31.
    expect(p.host!.syncUsPerAllocWrite).toBe(0);
    put("syncAllocN1", 700);
    put("syncAllocN32", 700 + 31 * (20 + (1000 * 4) / 1024));
    expect(buildProfile(classes, { dir: ".", pageCacheBytes: 1 << 30, name: "test-host" }, 3).host!.syncUsPerAllocWrite).toBeCloseTo(20, 2);
    classes.delete("syncAllocN1");
    classes.delete("syncAllocN32");
    const back = parseProfile(json, "p.json");
    expect(back.host).toEqual(p.host);
    expect(back.readLatencyUs).toBe(p.readLatencyUs);
    expect(back.source).toBe("p.json");
    expect(() => parseProfile({ ...json, version: 4 }, "p.json")).toThrow(/p\.json: profile field 'version' is 4; this qcowdbg reads versions 1, 2 and 3/);
    expect(() => parseProfile({ ...json, version: 1 }, "p.json")).toThrow(/'host' needs "version": 2 or 3/);
    // Version 3 requires the per-allocating-write sync term; a version 2 file has none (read as before: 0)
    // and may not carry it.
    const { syncUsPerAllocWrite: _s, ...v2host } = json.host as Record<string, unknown>;
    void _s;
    expect(() => parseProfile({ ...json, host: v2host }, "p.json")).toThrow(/'host\.syncUsPerAllocWrite' must be a number/);
    expect(parseProfile({ ...json, version: 2, host: v2host }, "p.json").host!.syncUsPerAllocWrite).toBeUndefined();
    expect(() => parseProfile({ ...json, version: 2 }, "p.json")).toThrow(/'host\.syncUsPerAllocWrite' needs "version": 3 \(this file says 2\)/);
    const badHost = { ...(json.host as object), syncUs: -1 };
    expect(() => parseProfile({ ...json, host: badHost }, "p.json")).toThrow(/'host\.syncUs' must be a number/);
    const { cachedRead: _drop, ...missing } = json.host as Record<string, unknown>;
    void _drop;
    expect(() => parseProfile({ ...json, host: missing }, "p.json")).toThrow(/'host\.cachedRead' must be an object/);
    expect(() => parseProfile({ ...json, format: "x" }, "p.json")).toThrow(/'format' must be "qcowdbg-device-profile"/);
    // The unwritten-extent costs are optional (profiles written before them load), but checked when present.
    const { bufferedUnwrittenWrite: _u, directUnwrittenWrite: _d, ...older } = json.host as Record<string, unknown>;
    void _u;
    void _d;
    expect(parseProfile({ ...json, host: older }, "p.json").host!.bufferedUnwrittenWrite).toBeUndefined();
    expect(() => parseProfile({ ...json, host: { ...older, directUnwrittenWrite: { us: 1, perKiB: 2 } } }, "p.json")).toThrow(/'host\.directUnwrittenWrite\.perKiB' is unknown/);

    // With the qcow2 writethrough class, the sync after allocation is what is left of it after the writeback
    // allocating write, two 64 KiB metadata write-backs (30 µs each here), two plain syncs and their dirty data.
    put("qWT4", 50 + 2 * 30 + 2 * 400 + (1000 * 132) / 1024 + 200);
    const q = buildProfile(classes, { dir: ".", pageCacheBytes: 1 << 30, name: "test-host" }, 3);
    expect(q.host!.syncAllocUs).toBeCloseTo(200, 2);
    expect(q.host!.bufferedUnwrittenWrite).toBeUndefined();
    // Without the extended-L2 class the allocation path is what qAlloc4 leaves over the raw write-zeroes.
    expect(q.host!.allocUs).toBe(50 - 14 - 20);
    expect(q.host!.zeroRangeUs).toBe(20);
    // With it, an allocating write that zeroes nothing measures the allocation path (over an overwrite and a hole
    // write's extra, 15 - 12), and the write-zeroes is what qcow2's 4 KiB allocating write leaves over that.
    put("qAllocExt4", 14 + 3 + 6);
    const e = buildProfile(classes, { dir: ".", pageCacheBytes: 1 << 30, name: "test-host" }, 3);
    expect(e.host!.allocUs).toBe(6);
    expect(e.host!.zeroRangeUs).toBe(50 - 14 - 6);
    // An allocation path below the host's noise (its allocating write no dearer than an overwrite and a hole
    // write's extra) is none, not the zeroing write's residual.
    put("qAllocExt4", 14 + 3 - 1);
    expect(buildProfile(classes, { dir: ".", pageCacheBytes: 1 << 30, name: "test-host" }, 3).host!.allocUs).toBe(0);
    // With calibrate-driver.ts's in-process classes: the allocation path is a new cluster's write less a new
    // subcluster's (same image, same process), and the driver is measured against the same process's raw file,
    // not against the page-cache script's (here 10 and 12, run at another moment).
    put("qAllocExt4", 20);
    put("qSubExt4", 16);
    put("rRead4", 9);
    put("rWrite4", 11);
    const d = buildProfile(classes, { dir: ".", pageCacheBytes: 1 << 30, name: "test-host" }, 3);
    expect(d.host!.allocUs).toBe(4);
    expect(d.host!.requestUs).toBe((11 - 9 + 14 - 11) / 2);
    // The allocating writes calibrate times stay inside the first L2 table of its 64 KiB-cluster images (an L2
    // table's allocation, three syncs, is charged from the trace's events, not per cluster), each in its own cluster.
    for (const [span, count] of [[8192, 8064], [4096, 3968]] as const) {
      const clusters = new Set<number>();
      for (let i = 0; i < count; i++) {
        const o = inFirstL2(i, span, 4096);
        expect(o % 65536).toBe(4096);
        clusters.add(Math.floor(o / 65536));
      }
      expect(clusters.size).toBe(count);
      expect(Math.min(...clusters)).toBe(128);
      expect(Math.max(...clusters)).toBe(span - 1);
    }
    // Version 1 files (no host section) still load, and built-ins say they are built in.
    expect(parseProfile({ name: "x", base: "nvme" }, "old.json").host).toBeUndefined();
    expect(builtinProfile("hdd")!.source).toBe("built-in");
  });
});
