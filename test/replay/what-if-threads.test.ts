// Recommendations parse the trace once and verify on worker threads: the kept request columns must give back
// exactly the parsed requests (in this thread and after the copy a worker gets), a verification run (no slowest
// list, fed from the columns) must give the figures of a full replay of the same configuration, and `replay`
// must print the same report with workers as without (QCOWDBG_WORKERS=0).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig } from "../../engine/image/engine-config.js";
import { openWorkload, type GuestRequest } from "../../engine/workload/index.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { replayTrace } from "../../engine/replay/replay-stats.js";
import { replayLockstep } from "../../engine/replay/lockstep.js";
import { measure } from "../../engine/replay/recommend.js";
import { RequestColumns } from "../../engine/replay/request-columns.js";
import { convertedCopy, parseVariant } from "../../engine/replay/compare.js";
import { writeBlkparseTrace } from "../../bench/lib/blkparse-trace.js";
import { qemuImg, tmpDir } from "../format/qemu-images.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CLI = here("../../dist/cli/main.js");
const THREADS = here("../../dist/engine/replay/what-if-threads.js");
const nvme = builtinProfile("nvme")!;
const tmp = tmpDir("qcowdbg-what-if-threads-");
afterAll(() => tmp.cleanup());

let image = "";
let trace = "";
beforeAll(() => {
  image = tmp.path("fresh.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", image, "4G");
  trace = tmp.path("writes.blkparse.txt");
  // Random 4 KiB writes growing a fresh image: allocation and zero-fill, so preallocation and cluster size are advised.
  writeBlkparseTrace(trace, 3000, 4 * 2 ** 30, 7);
});

describe("RequestColumns as the verification pass's copy of the trace", () => {
  const odd: GuestRequest[] = [
    { time: 0, op: "write", offset: 0, length: 4096, fua: false, preflush: false, source: "t.txt:1", device: "8,0" },
    { time: 1e-6, op: "write", offset: 4096, length: 512, fua: true, preflush: false, source: "t.txt:22", device: "8,0" },
    // Not a number after the head: leading zero, 16 digits, none at all, another head, another separator.
    { time: 2e-6, op: "read", offset: 8192, length: 4096, fua: false, preflush: false, source: "t.txt:022" },
    { time: 2e-6, op: "read", offset: 8192, length: 4096, fua: false, preflush: false, source: "t.txt:1234567890123456" },
    { time: 3e-6, op: "flush", offset: 0, length: 0, fua: false, preflush: true, source: "t.txt:" },
    { time: 3e-6, op: "discard", offset: 0, length: 65536, fua: false, preflush: false, source: "t.txt:x9", device: "8,1" },
    { time: 4e-6, op: "write", offset: 0, length: 4096, fua: false, preflush: false, source: "u.bin#0" },
    { time: 5e-6, op: "write", offset: 0, length: 4096, fua: false, preflush: false, source: "t.txt:7", pattern: 0xab },
    { time: 5e-6, op: "write-zeroes", offset: 0, length: 4096, fua: false, preflush: false, source: "t.txt:70", mayUnmap: false },
    { time: 6e-6, op: "write", offset: 0, length: 4096, fua: false, preflush: false, source: "plain" },
  ];

  it("gives back every request it recorded, exactly, also after a structured clone (a worker's copy)", () => {
    const c = new RequestColumns(4);
    const passed = [...c.record(odd)];
    expect(passed).toEqual(odd);
    expect([...c.requests()]).toEqual(odd);
    const copy = RequestColumns.revive(structuredClone(c));
    expect([...copy.requests()]).toEqual(odd);
    expect([...copy.requests(2, 5)]).toEqual(odd.slice(2, 5));
  });

  it("holds a parsed blkparse trace as parsing gives it", () => {
    const parsed = [...openWorkload(trace).requests()];
    const c = new RequestColumns();
    for (const _ of c.record(openWorkload(trace).requests()));
    expect(c.length).toBe(3000);
    expect([...c.requests()]).toEqual(parsed);
  });

  it("feeds a verification run (no slowest list) the figures of a full replay of the same configuration", () => {
    const c = new RequestColumns();
    const base = replayTrace(image, c.record(openWorkload(trace).requests()), { config: defaultConfig(), profile: nvme, topN: 10 });
    const vs = ["cluster_size=128K,extended_l2=on", "preallocation=metadata", "l2-cache-entry-size=4K"].map((s) => parseVariant(s, defaultConfig()));
    const paths = vs.map((v) => (v.format.clusterSize || v.format.preallocation ? convertedCopy(image, v.format, tmp.dir) : image));
    const verified = replayLockstep(c.requests(), vs.map((v, i) => ({ imagePath: paths[i]!, opts: { config: v.config, profile: nvme, topN: 0 } })));
    vs.forEach((v, i) => {
      const full = replayTrace(paths[i]!, openWorkload(trace).requests(), { config: v.config, profile: nvme, topN: 10 });
      const got = verified[i]!;
      if (got instanceof Error) throw got;
      const targets = base.timeByCause.map((t) => t.cause);
      expect(measure(got, targets), v.label).toEqual(measure(full, targets));
      expect({ ...got, slowest: [], wallSeconds: 0, requestsPerSecond: 0 }).toEqual({ ...full, slowest: [], wallSeconds: 0, requestsPerSecond: 0 });
      expect(got.slowest).toEqual([]);
    });
  });
});

describe.skipIf(!existsSync(CLI) || !existsSync(THREADS))("replay's verification on worker threads", () => {
  function replay(env: Record<string, string>, ...args: string[]) {
    return spawnSync(process.execPath, [CLI, "replay", ...args], { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  }
  /** The JSON report without the wall-clock figures (the only ones threads may change). */
  function report(env: Record<string, string>, ...more: string[]): unknown {
    const r = replay(env, image, trace, "--output", "json", ...more);
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.replace(/"(wallSeconds|requestsPerSecond)": [0-9.e+-]+/g, '"$1": 0'));
  }

  it("replays the baseline on a second thread (parsing here) with the same report, also with --no-recommend", () => {
    expect(report({ QCOWDBG_WORKERS: "2" }, "--no-recommend")).toEqual(report({ QCOWDBG_WORKERS: "0" }, "--no-recommend"));
  });

  it("stops on a bad trace line past the first chunks with the same one-line error and status as in one thread", () => {
    // 10,000 requests before it: more than one chunk (8192) went to the worker.
    const bad = tmp.path("bad.blkparse.txt");
    writeBlkparseTrace(bad, 12000, 4 * 2 ** 30, 9);
    const lines = readFileSync(bad, "utf8").split("\n");
    lines.splice(30000, 0, "garbage where an event line belongs");
    writeFileSync(bad, lines.join("\n"));
    const one = replay({ QCOWDBG_WORKERS: "0" }, image, bad, "--no-recommend");
    const two = replay({ QCOWDBG_WORKERS: "2" }, image, bad, "--no-recommend");
    expect(one.status).not.toBe(0);
    expect(one.stderr).toMatch(/bad\.blkparse\.txt:30001: /);
    expect(two.stderr).toBe(one.stderr);
    expect(two.status).toBe(one.status);
    expect(two.stdout).toBe(one.stdout);
  });

  it("prints the same report with 2 or 3 threads as in-process, with every recommendation verified", () => {
    const inProcess = report({ QCOWDBG_WORKERS: "0" }) as { recommendations: { id: string; effect?: string[] }[] };
    expect(inProcess.recommendations.filter((r) => r.effect).length).toBeGreaterThanOrEqual(3);
    expect(report({ QCOWDBG_WORKERS: "2" })).toEqual(inProcess);
    expect(report({ QCOWDBG_WORKERS: "3" })).toEqual(inProcess);
  });

  it("does run the threads, from the bundle as from the modules (Node writes one CPU profile per thread)", () => {
    for (const bundle of [true, false]) {
      const dir = tmp.path(`prof-${bundle}`);
      const r = spawnSync(process.execPath, ["--cpu-prof", "--cpu-prof-dir", dir, CLI, "replay", image, trace], {
        encoding: "utf8",
        env: { ...process.env, QCOWDBG_WORKERS: "2", ...(bundle ? {} : { QCOWDBG_NO_BUNDLE: "1" }) },
      });
      expect(r.status, r.stderr).toBe(0);
      // The main thread (parsing and the baseline: with recommendations the baseline stays beside the parser, for
      // speculative-runs.ts, which this trace is too short for) and one verification worker.
      expect(readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")), `bundle ${bundle}`).toHaveLength(2);
    }
  });

  it("gives the runs' results in their order from the workers, an Error in place of a run that cannot open", async () => {
    const threads = (await import(THREADS)) as typeof import("../../engine/replay/what-if-threads.js");
    const cols = (await import(here("../../dist/engine/replay/request-columns.js"))) as typeof import("../../engine/replay/request-columns.js");
    const c = new cols.RequestColumns();
    for (const _ of c.record(openWorkload(trace).requests()));
    const specs = ["", "l2-cache-size=64K", "cache=writethrough", "lazy-refcounts=on"];
    const runs = specs.map((s) => ({ imagePath: image, opts: { config: parseVariant(s, defaultConfig()).config, profile: nvme, topN: 3 } }));
    runs.splice(2, 0, { imagePath: tmp.path("missing.qcow2"), opts: runs[0]!.opts });
    const one = replayLockstep(c.requests(), runs);
    const many = threads.replayOnThreads(c, runs, 3);
    // QCOWDBG_WORKERS decides the baseline's second thread when set; unset, the idle cores do.
    expect([threads.streamThread({ QCOWDBG_WORKERS: "0" }), threads.streamThread({ QCOWDBG_WORKERS: "1" }), threads.streamThread({ QCOWDBG_WORKERS: "2" })]).toEqual([false, false, true]);
    expect(threads.whatIfThreads(5, { QCOWDBG_WORKERS: "0" })).toBe(1);
    expect(threads.whatIfThreads(5, { QCOWDBG_WORKERS: "3" })).toBe(3);
    expect(threads.whatIfThreads(2, { QCOWDBG_WORKERS: "3" })).toBe(2);
    expect(many[2]).toBeInstanceOf(Error);
    expect((many[2] as Error).message).toBe((one[2] as Error).message);
    const clean = (s: unknown) => ({ ...(s as object), wallSeconds: 0, requestsPerSecond: 0 });
    for (const i of [0, 1, 3, 4]) expect(clean(many[i])).toEqual(clean(one[i]));
  });
});
