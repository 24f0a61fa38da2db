// `qcowdbg workload` end to end: the built CLI (dist/, made by the test script) prints the stream the API yields.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { collect, itShared, SAMPLE_BIN, SAMPLES } from "./helpers.js";

const MAIN = path.resolve(import.meta.dirname, "../../dist/cli/main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, "workload", ...args], { encoding: "utf8" });

describe("qcowdbg workload", () => {
  it("--output=jsonl: one object per request, the API's stream, flush+data as one object with preflush", () => {
    const synth = path.join(SAMPLES, "synth");
    const r = run("--output=jsonl", synth);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual(collect(synth).reqs.map((q) => ({ ...q })));
    expect(Object.keys(lines[0]!).slice(0, 7)).toEqual(["time", "op", "offset", "length", "fua", "preflush", "source"]);
    expect(lines[3]).toMatchObject({ op: "write", preflush: true, fua: true });
    expect(lines[2]).toMatchObject({ op: "flush", offset: 0, length: 0 });
    expect(r.stderr).toContain("qcowdbg: note: synth.blktrace.0: capture started at");
  });

  itShared("text: a table and a summary line", () => {
    const r = run(SAMPLE_BIN, "--end", "0.001");
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^\s+# +time \(s\) +op +offset +length +flags +device +source$/);
    expect(lines[1]).toMatch(/^\s+1\s+0\.000000184\s+read\s+1202206945280\s+4096\s+-\s+259,0\s+sample\.blktrace\.0#2$/);
    expect(lines[lines.length - 1]).toMatch(/^# \d+ requests from .*sample\.blktrace\.0 \(blktrace\): 6743 records read, 0 malformed skipped, \d+ filtered out$/);
  });

  it("filters and fit options reach the engine", () => {
    const r = run("--output", "jsonl", "--op", "read", "--op", "write", "--events", "d", "--fit-size", "2M", "--fit-mode", "drop", path.join(SAMPLES, "synth.blkparse.txt"));
    expect(r.status).toBe(0);
    const ops = r.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { op: string; offset: number }).offset);
    expect(ops).toEqual([2148 * 512, 1000 * 512]);
    const u = run("--output", "jsonl", "--undo-remap", "--device", "8,2", path.join(SAMPLES, "synth"));
    expect(JSON.parse(u.stdout.trim())).toMatchObject({ device: "8,2", offset: 51200 });
  });

  it("errors are one line and a non-zero exit", () => {
    for (const [args, msg] of [
      [["--events", "X", SAMPLE_BIN], "qcowdbg: workload: --events must be Q, D or C, not 'X'\n"],
      [["--op", "erase", SAMPLE_BIN], "qcowdbg: workload: unknown --op 'erase' (read, write, flush, discard, write-zeroes)\n"],
      [["--fit-mode", "scale", SAMPLE_BIN], "qcowdbg: workload: --fit-mode and --device-size need --fit-size\n"],
      [["--fit-size", "lots", SAMPLE_BIN], "qcowdbg: workload: --fit-size must be a size (512, 4k, 1M, 0x1000), not 'lots'\n"],
      [["/nonexistent/trace"], "qcowdbg: /nonexistent/trace: No such file or directory (stat)\n"],
    ] as [string[], string][]) {
      const r = run(...args);
      expect(r.status, args.join(" ")).not.toBe(0);
      expect(r.stderr).toBe(msg);
    }
    const bad = run("--format", "blkparse", path.join(SAMPLES, "ops.qemu-io"));
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/^qcowdbg: .*ops\.qemu-io:1: not a blkparse event line: "write -P 0x5a 0 64k"\n$/);
  });

  itShared("a reader that goes away early is not an error", () => {
    const r = spawnSync("sh", ["-c", `"${process.execPath}" "${MAIN}" workload --output=jsonl "${SAMPLE_BIN}" | head -n 2`], { encoding: "utf8" });
    expect(r.stdout.trim().split("\n").length).toBe(2);
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
  });
});
