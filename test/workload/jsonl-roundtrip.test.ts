// `workload --output=jsonl` read back: every sample trace converted to JSON lines gives the same requests (all but
// the source, which names the JSON line), `replay` of the converted file models the same run, and a bad line
// is one error naming file, line and field.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { openWorkload } from "../../engine/workload/index.js";
import { collect, essence, SAMPLES, tmpDir } from "./helpers.js";

const MAIN = path.resolve(import.meta.dirname, "../../dist/cli/main.js");
const TOUR = path.resolve(import.meta.dirname, "../../samples/images/tour.qcow2");
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });

describe("jsonl: qcowdbg's request stream read back", () => {
  const dir = tmpDir("jsonl");
  const convert = (trace: string): string => {
    const out = path.join(dir, path.basename(trace) + ".jsonl");
    const r = run("workload", "--output=jsonl", trace);
    expect(r.status).toBe(0);
    fs.writeFileSync(out, r.stdout);
    return out;
  };

  it.each(["tour.qemu-io", "ops.qemu-io", "fio-randrw.v3.iolog", "synth", "ops.blk.qemu-trace"])("%s converts and reads back request for request", (name) => {
    const trace = path.join(SAMPLES, name);
    const jsonl = convert(trace);
    expect(openWorkload(jsonl).format).toBe("jsonl");
    const back = collect(jsonl).reqs;
    const orig = collect(trace).reqs;
    expect(back.map(essence)).toEqual(orig.map(essence));
    expect(back[0]!.source).toBe(`${path.basename(jsonl)}:1`);
  });

  it("replay of the converted trace models the same run", () => {
    const jsonl = convert(path.join(SAMPLES, "tour.qemu-io"));
    const a = JSON.parse(run("replay", "--output=json", "--no-recommend", TOUR, path.join(SAMPLES, "tour.qemu-io")).stdout);
    const b = JSON.parse(run("replay", "--output=json", "--no-recommend", TOUR, jsonl).stdout);
    expect(b.trace.format).toBe("jsonl");
    expect(b.summary.totalUs).toBe(a.summary.totalUs);
    expect(b.summary.caches).toEqual(a.summary.caches);
  });

  it("a bad line is one error naming file, line and field; --lenient skips it", () => {
    const p = path.join(dir, "bad.jsonl");
    fs.writeFileSync(p, '{"time":0,"op":"read","offset":0,"length":4096}\n{"time":0,"op":"erase","offset":0,"length":4096}\n');
    expect(() => collect(p)).toThrow(`${p}:2: op "erase" is not read, write, flush, discard or write-zeroes`);
    const r = run("workload", p);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`qcowdbg: ${p}:2: op "erase" is not read, write, flush, discard or write-zeroes\n`);
    expect(collect(p, { lenient: true }).reqs).toHaveLength(1);
    fs.writeFileSync(p, '{"time":0,"op":"write","offset":-512,"length":4096}\n');
    expect(() => collect(p)).toThrow(`${p}:1: offset -512 is not a non-negative number`);
  });
});
