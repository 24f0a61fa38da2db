// A per-CPU capture written record by record by samples/make-traces.sh and printed by the real blkparse: remap,
// split, back merge, flush, preflush+FUA, discard, passthrough and notify records. Binary (per-CPU files, merged
// dump) and text (default and -t) must give the requests listed here, which follow from how it was written.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { GuestRequest } from "../../engine/workload/index.js";
import { collect, essence, SAMPLES } from "./helpers.js";

const STEM = path.join(SAMPLES, "synth");
const TEXT = path.join(SAMPLES, "synth.blkparse.txt");
const TEXT_T = path.join(SAMPLES, "synth.blkparse-t.txt");
const DUMP = path.join(SAMPLES, "synth.dump");

type Want = Omit<GuestRequest, "source">;
const req = (time: number, op: GuestRequest["op"], sector: number, bytes: number, extra: Partial<Want> = {}): Want => ({
  time, op, offset: sector * 512, length: bytes, fua: false, preflush: false, device: "8,0", ...extra,
});

// Times are microseconds after the first data record (the remap at 1 µs).
const QUEUED: Want[] = [
  req(1e-6, "write", 2148, 4096),
  req(3.5e-6, "read", 90000, 16384),
  { ...req(49e-6, "flush", 0, 0) },
  req(60e-6, "write", 1000, 8192, { preflush: true, fua: true }),
  req(80e-6, "discard", 10000, 1 << 20),
  req(99e-6, "write", 4096, 262144), // queued whole; its split-off remainder is not queued twice
  req(139e-6, "write", 8000, 4096),
  req(141e-6, "write", 8008, 4096),
];
const ISSUED: Want[] = [
  req(4e-6, "write", 2148, 4096),
  req(7e-6, "read", 90000, 16384),
  req(50e-6, "flush", 0, 0),
  req(62e-6, "write", 1000, 8192, { fua: true }),
  req(82e-6, "discard", 10000, 1 << 20),
  req(104e-6, "write", 4096, 131072),
  req(105e-6, "write", 4352, 131072),
  req(144e-6, "write", 8000, 8192), // the back merge: one request
];

describe("synthesized per-CPU capture", () => {
  it("Q events: per-CPU binary, one named file, the merged dump, blkparse text and -t text agree", () => {
    for (const file of [STEM, `${STEM}.blktrace.1`, DUMP, TEXT, TEXT_T]) {
      expect(collect(file).reqs.map(essence), file).toEqual(QUEUED);
    }
  });

  it("D events: requests as issued (split in two, merged into one, passthrough skipped)", () => {
    for (const file of [STEM, DUMP, TEXT, TEXT_T]) expect(collect(file, { events: "D" }).reqs.map(essence), file).toEqual(ISSUED);
  });

  it("C events: binary and text agree", () => {
    const bin = collect(STEM, { events: "C" }).reqs.map(essence);
    expect(bin.length).toBe(8);
    expect(bin).toEqual(collect(TEXT, { events: "C" }).reqs.map(essence));
    expect(bin).toEqual(collect(TEXT_T, { events: "C" }).reqs.map(essence));
    expect(bin[2]).toMatchObject({ op: "flush" });
  });

  it("undoes the remap to partition 8,2 (which starts at sector 2048)", () => {
    for (const file of [STEM, TEXT]) {
      const first = collect(file, { undoRemap: true }).reqs[0]!;
      expect(first).toMatchObject({ device: "8,2", offset: 100 * 512, op: "write" });
    }
  });

  it("consumes notify records: the capture timestamp is reported, nothing becomes a request", () => {
    const { notices, stats } = collect(STEM);
    expect(notices.some((n) => n.includes("capture started at 2023-11-14T22:13:20.123Z"))).toBe(true);
    // 41 events + 3 process names + 1 timestamp + 1 message
    expect(stats.lines).toBe(46);
    expect(notices.some((n) => n.includes("named for cpu"))).toBe(false);
  });

  it("sources name the file and record or line", () => {
    const bin = collect(STEM).reqs;
    // cpu 0's file: two process names, the timestamp, the remap, then the Q
    expect(bin[0]!.source).toBe("synth.blktrace.0#5");
    expect(bin[1]!.source).toBe("synth.blktrace.1#2");
    const txt = collect(TEXT).reqs;
    expect(txt[0]!.source).toBe("synth.blkparse.txt:2");
  });
});

// Any other capture make-traces.sh managed to take with the real blktrace (capture.blktrace.N) is held against its
// blkparse print the same way as the shared sample.
describe("real captures in samples/traces", () => {
  const stems = fs.readdirSync(SAMPLES).filter((n) => /\.blktrace\.0$/.test(n) && !n.startsWith("synth")).map((n) => n.replace(/\.blktrace\.0$/, ""));
  it.runIf(stems.length > 0)("binary and blkparse text agree", () => {
    for (const s of stems) {
      const bin = collect(path.join(SAMPLES, s)).reqs.map(essence);
      expect(bin.length).toBeGreaterThan(0);
      expect(bin).toEqual(collect(path.join(SAMPLES, `${s}.blkparse.txt`)).reqs.map(essence));
    }
  });
});
