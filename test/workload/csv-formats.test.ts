// The dataset CSV formats (MSR Cambridge, Alibaba 2020, Tencent CBS, Systor '17): a known request list is written
// in each format by the tiny serializers below, as the datasets' documentation describes them, and must parse back
// exactly - times included, though the raw timestamps are too large for a float.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { detectFormat, type FormatName, type GuestRequest } from "../../engine/workload/index.js";
import { collect, essence, tmpDir } from "./helpers.js";

type Want = Omit<GuestRequest, "source">;
const REQS: Want[] = [
  { time: 0, op: "read", offset: 0, length: 4096, fua: false, preflush: false },
  { time: 0.000017, op: "write", offset: 512 * 1000003, length: 65536, fua: false, preflush: false },
  { time: 1.5, op: "write", offset: 2 ** 40, length: 512, fua: false, preflush: false },
  { time: 3600.25, op: "read", offset: 123 * 512, length: 8 * 512, fua: false, preflush: false },
];

// Timestamps are exact integers from a base, built from digit strings so the test does not round either.
const FILETIME_BASE = 128166372003061629n; // 100 ns ticks, 2007
const EPOCH_US = 1577836800123456n; // 2020, microseconds
const EPOCH_S = 1538323200n;
const ticks = (t: number, perSecond: number): bigint => BigInt(Math.round(t * perSecond));

interface Format {
  name: FormatName;
  header?: string;
  line(r: Want, i: number): string;
  device(i: number): string;
  /** Tencent keeps whole seconds only. */
  times?: (t: number) => number;
}

const FORMATS: Format[] = [
  {
    name: "msr",
    line: (r, i) => `${FILETIME_BASE + ticks(r.time, 1e7)},hm,${i % 2},${r.op === "read" ? "Read" : "Write"},${r.offset},${r.length},${1000 + i}`,
    device: (i) => `hm_${i % 2}`,
  },
  {
    name: "alibaba",
    line: (r, i) => `${7 + i},${r.op === "read" ? "R" : "W"},${r.offset},${r.length},${EPOCH_US + ticks(r.time, 1e6)}`,
    device: (i) => String(7 + i),
  },
  {
    name: "tencent",
    line: (r, i) => `${EPOCH_S + ticks(Math.floor(r.time), 1)},${r.offset / 512},${r.length / 512},${r.op === "read" ? 0 : 1},${1234 + i}`,
    device: (i) => String(1234 + i),
    times: Math.floor,
  },
  {
    name: "systor",
    header: "Timestamp,Response,IOType,LUN,Offset,Size",
    line: (r, i) => {
      const us = 1487159854000000n + 122164n + ticks(r.time, 1e6);
      return `${us / 1000000n}.${String(us % 1000000n).padStart(6, "0")},0.000${i},${r.op === "read" ? "R" : "W"},${i},${r.offset},${r.length}`;
    },
    device: (i) => String(i),
  },
];

const dir = tmpDir("csv");

describe("dataset CSVs", () => {
  for (const f of FORMATS) {
    it(`${f.name}: round-trips a known request list, and is detected`, () => {
      const text = [...(f.header ? [f.header] : []), ...REQS.map((r, i) => f.line(r, i))].join("\n") + "\n";
      const p = path.join(dir, `${f.name}.csv`);
      fs.writeFileSync(p, text);
      expect(detectFormat(p, fs.readFileSync(p))).toBe(f.name);
      const { reqs } = collect(p);
      const want = REQS.map((r, i) => ({ ...r, time: f.times ? f.times(r.time) : r.time, device: f.device(i) }));
      expect(reqs.map(essence)).toEqual(want);
      expect(reqs[0]!.source).toBe(`${f.name}.csv:${f.header ? 2 : 1}`);
    });
  }

  it("errors name the line; lenient skips", () => {
    const p = path.join(dir, "bad-msr.csv");
    fs.writeFileSync(p, "128166372003061629,hm,1,Read,0,4096,10\n128166372003061630,hm,1,Erase,0,4096,10\n128166372003061631,hm,1,Write,x,4096,10\n");
    expect(() => collect(p, { format: "msr" })).toThrow(`${p}:2: Type "Erase" is neither Read nor Write`);
    const { reqs, stats } = collect(p, { format: "msr", lenient: true });
    expect(reqs.length).toBe(1);
    expect(stats.skipped).toBe(2);
    const q = path.join(dir, "short-tencent.csv");
    fs.writeFileSync(q, "1538323200,0,8,0,1\n1538323200,0,8\n");
    expect(() => collect(q, { format: "tencent" })).toThrow(`${q}:2: expected 5 comma-separated fields, got 3`);
    const r = path.join(dir, "bad-alibaba.csv");
    fs.writeFileSync(r, "1,R,0,4096,1577836800123456\n1,W,0,4096,soon\n");
    expect(() => collect(r, { format: "alibaba" })).toThrow(`${r}:2: timestamp "soon" is not a count of microseconds`);
  });
});
