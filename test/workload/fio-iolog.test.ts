// fio iologs written by the real fio 3.33 (samples/make-traces.sh): what we parse must match fio's own counts
// for the run that wrote the log (v3), and for fio's replay of the log converted to version 2.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { GuestRequest } from "../../engine/workload/index.js";
import { collect, essence, SAMPLES, tmpDir } from "./helpers.js";

interface Counts {
  read: number;
  write: number;
  trim: number;
  sync: number;
}

function counts(reqs: GuestRequest[]): Counts {
  const n = (op: GuestRequest["op"]): number => reqs.filter((r) => r.op === op).length;
  return { read: n("read"), write: n("write"), trim: n("discard"), sync: n("flush") };
}

function fioCounts(name: string): Counts {
  const { read, write, trim, sync } = JSON.parse(fs.readFileSync(path.join(SAMPLES, name), "utf8")) as Counts;
  return { read, write, trim, sync };
}

const dir = tmpDir("fio");
let seq = 0;
function file(text: string): string {
  const p = path.join(dir, `l${seq++}.iolog`);
  fs.writeFileSync(p, text);
  return p;
}

describe("fio iologs", () => {
  it("v3: the requests fio issued, with its timestamps", () => {
    const { reqs } = collect(path.join(SAMPLES, "fio-randrw.v3.iolog"));
    expect(counts(reqs)).toEqual(fioCounts("fio-randrw.v3.counts.json"));
    expect(reqs.every((r) => r.device === "data.bin")).toBe(true);
    expect(reqs.filter((r) => r.op !== "flush").every((r) => r.length === 4096 && r.offset % 4096 === 0 && r.offset < 16 << 20)).toBe(true);
    for (let i = 1; i < reqs.length; i++) expect(reqs[i]!.time).toBeGreaterThanOrEqual(reqs[i - 1]!.time);
  });

  it("v2: what fio replays from it, and the same requests and times as the v3 log it was made from", () => {
    const v2 = collect(path.join(SAMPLES, "fio-randrw.v2.iolog")).reqs;
    expect(counts(v2)).toEqual(fioCounts("fio-randrw.v2.counts.json"));
    const v3 = collect(path.join(SAMPLES, "fio-randrw.v3.iolog")).reqs;
    expect(v2.map(essence)).toEqual(v3.map(essence));
  });

  it("trims on a block device", () => {
    const { reqs } = collect(path.join(SAMPLES, "fio-trim.v3.iolog"));
    expect(counts(reqs)).toEqual(fioCounts("fio-trim.v3.counts.json"));
    expect(reqs.every((r) => r.op === "discard" && r.length === 65536 && r.device === "/dev/loop0")).toBe(true);
  });

  it("a log fio appended to: times go on after the repeated header", () => {
    const p = file("fio version 3 iolog\n10 f add\n20 f read 0 4096\nfio version 3 iolog\n5 f read 4096 4096\n");
    expect(collect(p).reqs.map((r) => [r.time, r.offset])).toEqual([[20e-6, 0], [25e-6, 4096]]);
  });

  it("errors name the line; lenient skips", () => {
    const cases: [string, string][] = [
      ["f read 0 4096\n", ':1: expected "fio version 2 iolog" or "fio version 3 iolog", got "f read 0 4096"'],
      ["fio version 2 iolog\nf add\nf frob 0 1\n", ':3: unknown iolog action "frob"'],
      ["fio version 2 iolog\nf read 0\n", ":2: read needs OFFSET and LENGTH in bytes"],
      ["fio version 3 iolog\nx f read 0 4096\n", ':2: v3 lines start with a timestamp in microseconds, got "x"'],
      ["fio version 3 iolog\n5 f wait 100 0\n", ':2: "wait" is not allowed in a version 3 iolog (timestamps replace it)'],
    ];
    for (const [text, msg] of cases) {
      const p = file(text);
      expect(() => collect(p, { format: "fio-iolog" })).toThrow(`${p}${msg}`);
    }
    const p = file("fio version 2 iolog\nf add\nf open\nf wait 1500 0\nf write 0 512\nf frob\nf read 512\nf datasync 0 0\nf trim 0 0\n");
    const { reqs, stats } = collect(p, { lenient: true });
    expect(reqs.map((r) => [r.op, r.time])).toEqual([["write", 0.0015], ["flush", 0.0015]]);
    expect(stats.skipped).toBe(2);
  });
});
