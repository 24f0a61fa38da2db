// openWorkload: format detection, filters, the partition offset, the fit policies, and streaming behaviour
// (a pass can be repeated, stopped early, and closed).
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { detectFormat, openWorkload } from "../../engine/workload/index.js";
import { collect, itShared, RUN_SHARED, SAMPLE_BIN, SAMPLE_TXT, SAMPLES, tmpDir } from "./helpers.js";

const head = (p: string): Buffer => fs.readFileSync(p).subarray(0, 65536);

describe("format detection", () => {
  it("tells every sample's format from its first bytes", () => {
    const cases: [string, string][] = [
      ...(RUN_SHARED ? ([[SAMPLE_BIN, "blktrace"], [SAMPLE_TXT, "blkparse"]] as [string, string][]) : []),
      [path.join(SAMPLES, "synth.blkparse-t.txt"), "blkparse"],
      [path.join(SAMPLES, "synth.dump"), "blktrace"],
      [path.join(SAMPLES, "fio-randrw.v3.iolog"), "fio-iolog"],
      [path.join(SAMPLES, "fio-randrw.v2.iolog"), "fio-iolog"],
      [path.join(SAMPLES, "ops.qemu-io"), "qemu-io"],
      [path.join(SAMPLES, "tour.qemu-io"), "qemu-io"],
      [path.join(SAMPLES, "ops.blk.qemu-trace"), "qemu-trace"],
      [path.join(SAMPLES, "ops.bdrv.qemu-trace"), "qemu-trace"],
    ];
    for (const [p, f] of cases) expect(detectFormat(p, head(p)), p).toBe(f);
    expect(openWorkload(path.join(SAMPLES, "synth")).format).toBe("blktrace");
  });

  it("refuses what it cannot tell, and binary that is no blktrace", () => {
    expect(detectFormat("x", Buffer.from("hello world\n"))).toBeNull();
    expect(detectFormat("x", Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]))).toBeNull();
    expect(detectFormat("x", Buffer.from("f read 0 4096\n"))).toBeNull();
    const dir = tmpDir("detect");
    const p = path.join(dir, "notes.txt");
    fs.writeFileSync(p, "hello world\n");
    expect(() => openWorkload(p)).toThrow(`${p}:1: cannot tell the trace format from "hello world"; give --format`);
  });
});

describe("filters and mapping", () => {
  itShared("time window (start inclusive, end exclusive), op and device filters; counted as filtered", () => {
    const all = collect(SAMPLE_TXT).reqs;
    const t0 = all[100]!.time, t1 = all[200]!.time;
    const win = collect(SAMPLE_TXT, { start: t0, end: t1 });
    expect(win.reqs).toEqual(all.slice(100, 200));
    expect(win.stats.filtered).toBe(all.length - 100);
    expect(collect(SAMPLE_TXT, { ops: ["write"] }).reqs.length).toBe(0);
    expect(collect(SAMPLE_TXT, { device: "259,0" }).reqs.length).toBe(963);
    const none = collect(SAMPLE_TXT, { device: "259,3" });
    expect(none.reqs.length).toBe(0);
    expect(none.notices.some((n) => n.includes("no request for device 259,3; devices seen: 259,0"))).toBe(true);
    expect(collect(SAMPLE_TXT, { device: "259,3", undoRemap: true }).reqs.length).toBe(963);
    const synth = collect(path.join(SAMPLES, "synth"), { ops: ["flush", "discard"] }).reqs;
    expect(synth.map((r) => r.op)).toEqual(["flush", "discard"]);
  });

  itShared("partition offset: subtracted; requests before it dropped with a notice", () => {
    const all = collect(SAMPLE_TXT).reqs;
    const cut = 2336700000 * 512;
    const { reqs, notices, stats } = collect(SAMPLE_TXT, { partitionOffset: cut });
    const kept = all.filter((r) => r.offset >= cut);
    expect(reqs.map((r) => r.offset)).toEqual(kept.map((r) => r.offset - cut));
    expect(stats.filtered).toBe(all.length - kept.length);
    expect(notices.some((n) => n.includes("before the partition offset"))).toBe(true);
  });

  const SIZE = 64 << 20;
  itShared("fit wrap: offsets modulo the size, 4 KiB alignment kept, all inside", () => {
    const all = collect(SAMPLE_TXT).reqs;
    const { reqs } = collect(SAMPLE_TXT, { fit: { virtualSize: SIZE, mode: "wrap" } });
    expect(reqs.length).toBe(all.length);
    reqs.forEach((r, i) => {
      expect(r.offset).toBe(all[i]!.offset % SIZE);
      expect(r.offset % 4096).toBe(0);
    });
  });

  itShared("fit scale: relative positions kept, device size from a first pass or given", () => {
    const all = collect(SAMPLE_TXT).reqs;
    const max = Math.max(...all.map((r) => r.offset + r.length));
    const found = collect(SAMPLE_TXT, { fit: { virtualSize: SIZE, mode: "scale" } });
    expect(found.notices.some((n) => n.includes(`largest end offset, ${max} bytes`))).toBe(true);
    found.reqs.forEach((r, i) => {
      expect(r.offset % 4096).toBe(0);
      expect(r.offset + r.length).toBeLessThanOrEqual(SIZE);
      expect(Math.abs(r.offset - (all[i]!.offset / max) * SIZE)).toBeLessThan(4096 + 1);
    });
    // order of offsets is kept
    const byOrig = [...all.keys()].sort((a, b) => all[a]!.offset - all[b]!.offset);
    for (let k = 1; k < byOrig.length; k++) expect(found.reqs[byOrig[k]!]!.offset).toBeGreaterThanOrEqual(found.reqs[byOrig[k - 1]!]!.offset);
    const given = collect(SAMPLE_TXT, { fit: { virtualSize: SIZE, mode: "scale", deviceSize: 2 ** 41 } }).reqs;
    expect(given[0]!.offset).toBe(Math.floor(((all[0]!.offset / 2 ** 41) * SIZE) / 4096) * 4096);
  });

  it("fit drop: what does not fit is removed; a request crossing the end is moved back (wrap) or dropped", () => {
    const p = path.join(tmpDir("fit"), "t.qemu-io");
    fs.writeFileSync(p, "write 0 4k\nwrite 60M 8M\nwrite 200M 4k\nflush\nwrite 62M 4M\n");
    const drop = collect(p, { fit: { virtualSize: SIZE, mode: "drop" } });
    expect(drop.reqs.map((r) => [r.op, r.offset])).toEqual([["write", 0], ["flush", 0]]);
    expect(drop.stats.filtered).toBe(3);
    expect(drop.stats.requests).toBe(2);
    const wrap = collect(p, { fit: { virtualSize: SIZE, mode: "wrap" } }).reqs;
    expect(wrap.map((r) => [r.offset, r.length])).toEqual([[0, 4096], [SIZE - (8 << 20), 8 << 20], [(200 << 20) % SIZE, 4096], [0, 0], [SIZE - (4 << 20), 4 << 20]]);
  });
});

describe("streaming", () => {
  itShared("each requests() call is a fresh pass; stats follow the pass", () => {
    const w = openWorkload(SAMPLE_BIN);
    const a = [...w.requests()];
    const b = [...w.requests()];
    expect(b).toEqual(a);
    expect(w.stats).toMatchObject({ lines: 6743, requests: 963, skipped: 0 });
  });

  it("close() ends a pass left open and releases its files", () => {
    const fds = (): number => fs.readdirSync("/proc/self/fd").length;
    const before = fds();
    const w = openWorkload(path.join(SAMPLES, "synth"));
    const it1 = w.requests();
    expect(it1.next().done).toBe(false);
    expect(fds()).toBe(before + 2);
    w.close();
    expect(fds()).toBe(before);
    expect(it1.next().done).toBe(true);
  });

  it("reads a large trace in chunks: lines split across chunk boundaries are whole", () => {
    const dir = tmpDir("chunks");
    const p = path.join(dir, "big.txt");
    const line = (i: number): string => `  8,0    1 ${String(i).padStart(8)}     ${Math.floor(i / 1000)}.${String((i % 1000) * 1000).padStart(9, "0")}   ${(i % 90000) + 10}  Q  WS ${i * 8} + 8 [writer-${"é".repeat(i % 7)}]`;
    const n = 40000; // ~3.5 MiB: several 1 MiB chunks
    fs.writeFileSync(p, Array.from({ length: n }, (_, i) => line(i)).join("\n") + "\n");
    const { reqs, stats } = collect(p);
    expect(stats.lines).toBe(n);
    expect(reqs.length).toBe(n);
    expect(reqs.every((r, i) => r.offset === i * 8 * 512 && r.length === 4096)).toBe(true);
  });
});
