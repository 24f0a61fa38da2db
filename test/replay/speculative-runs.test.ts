// The recommendations' verification runs started during the baseline (speculative-runs.ts): whatever the guess
// after a prefix (right, partly wrong, a copy that cannot be made), `replay` prints the report of one thread
// (QCOWDBG_WORKERS=0), and every speculative summary is the one a replay of that variant alone gives.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig } from "../../engine/image/engine-config.js";
import { openWorkload } from "../../engine/workload/index.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { replayTrace, type ReplayRunOptions } from "../../engine/replay/replay-stats.js";
import { convertedCopy, parseVariant } from "../../engine/replay/compare.js";
import { writeBlkparseTrace } from "../../bench/lib/blkparse-trace.js";
import { qemuImg, tmpDir } from "../format/qemu-images.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CLI = here("../../dist/cli/main.js");
const SPEC = here("../../dist/engine/replay/speculative-runs.js");
const nvme = builtinProfile("nvme")!;
const tmp = tmpDir("qcowdbg-speculative-");
afterAll(() => tmp.cleanup());

let image = "";
let big = "";
let trace = "";
beforeAll(() => {
  image = tmp.path("fresh-4g.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", image, "4G");
  big = tmp.path("fresh-64g.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", big, "64G");
  trace = tmp.path("writes.blkparse.txt");
  writeBlkparseTrace(trace, 3000, 4 * 2 ** 30, 11);
});

const stripWall = (s: string) => JSON.parse(s.replace(/"(wallSeconds|requestsPerSecond)": [0-9.e+-]+/g, '"$1": 0')) as unknown;

describe.skipIf(!existsSync(CLI) || !existsSync(SPEC))("replay with verification runs started during the baseline", () => {
  function replay(env: Record<string, string>, ...args: string[]) {
    const r = spawnSync(process.execPath, [CLI, "--debug", "replay", ...args, "--output", "json"], { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    return { report: stripWall(r.stdout), stderr: r.stderr };
  }

  it("takes every run from a right guess and prints the one-thread report", () => {
    // Near the end of the trace the prefix's shares are the trace's (the refcount share of a fresh image falls as
    // it fills: earlier, lazy-refcounts is guessed too).
    const one = replay({ QCOWDBG_WORKERS: "0" }, image, trace);
    const spec = replay({ QCOWDBG_WORKERS: "2", QCOWDBG_SPECULATE_AFTER: "2900" }, image, trace);
    const m = /verification: (\d+) of (\d+) runs from the (\d+) started after 2900 requests/.exec(spec.stderr);
    expect(m, spec.stderr).not.toBeNull();
    expect(Number(m![1])).toBe(Number(m![2]));
    expect(Number(m![2])).toBeGreaterThanOrEqual(3);
    expect(spec.report).toEqual(one.report);
  });

  it("runs what a prefix did not guess (the L2 cache size grows with the trace) and still prints the one-thread report", () => {
    // On 64 GiB with a 256 KiB L2 cache, a prefix's shares of time by cause are not the whole trace's: after one
    // request the guess misses a candidate, so it and the combined run are run again after the baseline.
    const one = replay({ QCOWDBG_WORKERS: "0" }, big, trace, "--config", "l2-cache-size=256K");
    for (const after of ["1", "20", "500"]) {
      const spec = replay({ QCOWDBG_WORKERS: "2", QCOWDBG_SPECULATE_AFTER: after }, big, trace, "--config", "l2-cache-size=256K");
      const m = new RegExp(`verification: (\\d+) of (\\d+) runs from the \\d+ started after ${after} requests`).exec(spec.stderr);
      expect(m, spec.stderr).not.toBeNull();
      if (after === "1") expect(Number(m![1])).toBeLessThan(Number(m![2]));
      expect(spec.report, `after ${after}`).toEqual(one.report);
    }
  });

  it("replays this thread's run on a copy a worker made, caught up when the copy arrives, as a replay of it alone", async () => {
    // Longer than a chunk (8,192 requests): the copy is usually collected at a chunk boundary mid-trace, else at
    // the end; either way the run is caught up over every request before it.
    const specMod = (await import(SPEC)) as typeof import("../../engine/replay/speculative-runs.js");
    const long = tmp.path("long.blkparse.txt");
    writeBlkparseTrace(long, 30000, 4 * 2 ** 30, 13);
    const base = defaultConfig();
    const vs = ["cluster_size=128K,extended_l2=on", "preallocation=metadata", "cluster_size=128K,extended_l2=on,preallocation=metadata"].map((s) => parseVariant(s, base));
    const opts = (label: string): ReplayRunOptions => ({ config: parseVariant(label, base).config, profile: nvme, topN: 5 });
    const dir = tmp.path("copies-long");
    const r = specMod.replayBaselineSpeculating(openWorkload(long).requests(), { imagePath: image, opts: { config: base, profile: nvme, topN: 5 } }, {
      prefix: 100,
      threads: 1,
      dir: () => (existsSync(dir) ? dir : (spawnSync("mkdir", ["-p", dir]), dir)),
      guess: () => vs.map((v) => ({ key: specMod.variantKey(v), imagePath: image, convert: v.format, opts: opts(v.label) })),
    });
    try {
      const spec = r.speculation!;
      // The preallocation-only copy is this thread's (localShare), made by the worker.
      expect(spec.collectedAfter).toBeGreaterThanOrEqual(100);
      const clean = (s: object) => ({ ...s, wallSeconds: 0, requestsPerSecond: 0, image: { ...(s as { image: object }).image, path: "" } });
      for (const v of vs) {
        const copy = convertedCopy(image, v.format, tmp.dir);
        expect(clean(spec.take(specMod.variantKey(v))!), v.label).toEqual(clean(replayTrace(copy, openWorkload(long).requests(), opts(v.label))));
      }
      expect(spec.copies().size).toBe(3);
    } finally {
      r.speculation?.close();
    }
  });

  it("stops on a bad trace line after the guess with the one-thread error and status", () => {
    const bad = tmp.path("bad.blkparse.txt");
    writeBlkparseTrace(bad, 3000, 4 * 2 ** 30, 12);
    const lines = readFileSync(bad, "utf8").split("\n");
    lines.splice(6000, 0, "garbage where an event line belongs");
    writeFileSync(bad, lines.join("\n"));
    const run = (env: Record<string, string>) => spawnSync(process.execPath, [CLI, "replay", image, bad], { encoding: "utf8", env: { ...process.env, ...env } });
    const one = run({ QCOWDBG_WORKERS: "0" });
    const spec = run({ QCOWDBG_WORKERS: "2", QCOWDBG_SPECULATE_AFTER: "100" });
    expect(one.status).not.toBe(0);
    expect(one.stderr).toMatch(/bad\.blkparse\.txt:6001: /);
    expect(spec.stderr).toBe(one.stderr);
    expect(spec.status).toBe(one.status);
  });

  it("keeps (k - 1) / 2 of k runs in the main thread, preallocation-only copies first, never a copy another run shares", async () => {
    const { localShare } = (await import(SPEC)) as typeof import("../../engine/replay/speculative-runs.js");
    const run = (convert?: object) => ({ key: JSON.stringify(convert ?? null), imagePath: image, ...(convert ? { convert } : {}), opts: { config: defaultConfig(), profile: nvme } });
    const cs = { clusterSize: 131072, extendedL2: true };
    const pre = { preallocation: "metadata" as const };
    expect(localShare([run(cs), run(pre), run({ ...cs, ...pre })])).toEqual([1]);
    expect(localShare([run(cs), run(pre)])).toEqual([]);
    expect(localShare([run(), run(cs), run(), run(pre), run({ ...cs, ...pre })])).toEqual([3, 0]);
    // Two runs on the same copy stay together on a worker.
    expect(localShare([run(pre), run(pre), run(cs)])).toEqual([2]);
    expect(localShare([run(pre), run(pre), run(pre)])).toEqual([]);
  });

  it("gives each guessed run the summary of a replay of it alone, nothing for a run not guessed or whose copy fails", async () => {
    const specMod = (await import(SPEC)) as typeof import("../../engine/replay/speculative-runs.js");
    const base = defaultConfig();
    const opts = (spec: string): ReplayRunOptions => ({ config: parseVariant(spec, base).config, profile: nvme, topN: 0 });
    const vs = ["preallocation=metadata", "l2-cache-entry-size=4K", "cluster_size=4K,extended_l2=on"].map((s) => parseVariant(s, base));
    const dir = tmp.path("copies");
    const guessed: number[] = [];
    const r = specMod.replayBaselineSpeculating(openWorkload(trace).requests(), { imagePath: image, opts: { config: base, profile: nvme, topN: 5 } }, {
      prefix: 700,
      threads: 2,
      dir: () => (existsSync(dir) ? dir : (spawnSync("mkdir", ["-p", dir]), dir)),
      guess: (partial) => {
        guessed.push(partial.requests);
        return vs.map((v) => ({ key: specMod.variantKey(v), imagePath: image, ...(v.format.preallocation || v.format.clusterSize ? { convert: v.format } : {}), opts: opts(v.label) }));
      },
    });
    try {
      expect(guessed).toEqual([700]);
      // The chunks hold the trace as parsed (the tape of the runs not guessed).
      expect(r.chunks.flatMap((c) => [...c.requests()])).toEqual([...openWorkload(trace).requests()]);
      const clean = (s: object) => ({ ...s, wallSeconds: 0, requestsPerSecond: 0 });
      const alone = replayTrace(image, openWorkload(trace).requests(), { config: base, profile: nvme, topN: 5 });
      expect(clean(r.baseline)).toEqual(clean(alone));
      const copy = convertedCopy(image, vs[0]!.format, tmp.dir);
      expect(clean(r.speculation!.take(specMod.variantKey(vs[0]!))!)).toEqual(clean({ ...replayTrace(copy, openWorkload(trace).requests(), opts(vs[0]!.label)), image: expect.anything() }));
      expect(clean(r.speculation!.take(specMod.variantKey(vs[1]!))!)).toEqual(clean(replayTrace(image, openWorkload(trace).requests(), opts(vs[1]!.label))));
      // extended_l2 needs 16K clusters: no copy, no summary (the command runs it again for its error).
      expect(r.speculation!.take(specMod.variantKey(vs[2]!))).toBeUndefined();
      expect(r.speculation!.take(specMod.variantKey(parseVariant("cache=writethrough", base)))).toBeUndefined();
      expect([...r.speculation!.copies().keys()]).toEqual([specMod.formatKey(vs[0]!.format)]);
    } finally {
      r.speculation?.close();
    }
  });
});
