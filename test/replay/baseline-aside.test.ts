// The baseline on the worker, the guessed runs dealt over both threads (baseline-aside.ts): the baseline and
// every guessed run give the summaries of replays of them alone, wherever they ran; a run whose copy cannot be
// made has none (the command runs it again for its error), wherever the runs were taken.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
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
const ASIDE = here("../../dist/engine/replay/baseline-aside.js");
const SPEC = here("../../dist/engine/replay/speculative-runs.js");
const nvme = builtinProfile("nvme")!;
const tmp = tmpDir("qcowdbg-aside-");
afterAll(() => tmp.cleanup());

let image = "";
let trace = "";
beforeAll(() => {
  image = tmp.path("fresh-4g.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", image, "4G");
  trace = tmp.path("writes.blkparse.txt");
  writeBlkparseTrace(trace, 20000, 4 * 2 ** 30, 17);
});

const clean = (s: object) => ({ ...s, wallSeconds: 0, requestsPerSecond: 0 });

describe.skipIf(!existsSync(ASIDE) || !existsSync(SPEC) || !existsSync(CLI))("the baseline on the worker", () => {
  it("gives the baseline and each guessed run, on either thread, the summary of a replay of it alone", async () => {
    const aside = (await import(ASIDE)) as typeof import("../../engine/replay/baseline-aside.js");
    const specMod = (await import(SPEC)) as typeof import("../../engine/replay/speculative-runs.js");
    const base = defaultConfig();
    const opts = (spec: string): ReplayRunOptions => ({ config: parseVariant(spec, base).config, profile: nvme, topN: 0 });
    // The last shares the first's copy (same format options, other engine options): one copy, made once.
    const specs = ["cluster_size=128K,extended_l2=on", "preallocation=metadata", "l2-cache-entry-size=4K", "lazy-refcounts=on", "cluster_size=4K,extended_l2=on", "cluster_size=128K,extended_l2=on,lazy-refcounts=on"];
    const vs = specs.map((s) => parseVariant(s, base));
    const dir = tmp.path("copies");
    const guessed: number[] = [];
    const r = aside.replayBaselineAside(openWorkload(trace).requests(), { imagePath: image, opts: { config: base, profile: nvme, topN: 5 } }, {
      prefix: 9000,
      threads: 1,
      dir: () => (existsSync(dir) ? dir : (mkdirSync(dir), dir)),
      guess: (partial) => {
        guessed.push(partial.requests);
        return vs.map((v) => ({ key: specMod.variantKey(v), imagePath: image, ...(v.format.preallocation || v.format.clusterSize ? { convert: v.format } : {}), opts: opts(v.label) }));
      },
    });
    expect(guessed).toEqual([9000]);
    expect(r.chunks.flatMap((c) => [...c.requests()])).toEqual([...openWorkload(trace).requests()]);
    expect(clean(r.baseline)).toEqual(clean(replayTrace(image, openWorkload(trace).requests(), { config: base, profile: nvme, topN: 5 })));
    const spec = r.speculation!;
    expect(spec.runs).toBe(6);
    expect(spec.after).toBe(9000);
    for (const v of [...vs.slice(0, 4), vs[5]!]) {
      const img = v.format.preallocation || v.format.clusterSize ? convertedCopy(image, v.format, tmp.dir) : image;
      expect(clean({ ...spec.take(specMod.variantKey(v))!, image: null }), v.label).toEqual(clean({ ...replayTrace(img, openWorkload(trace).requests(), opts(v.label)), image: null }));
    }
    // extended_l2 needs 16K clusters: no copy, no summary.
    expect(spec.take(specMod.variantKey(vs[4]!))).toBeUndefined();
    expect(spec.copies().size).toBe(2);
  });

  it("falls back to the plain baseline for a trace shorter than the prefix", async () => {
    const aside = (await import(ASIDE)) as typeof import("../../engine/replay/baseline-aside.js");
    const base = defaultConfig();
    const r = aside.replayBaselineAside(openWorkload(trace).requests(), { imagePath: image, opts: { config: base, profile: nvme, topN: 5 } }, {
      prefix: 50000,
      threads: 1,
      dir: () => tmp.dir,
      guess: () => {
        throw new Error("no guess for a trace shorter than the prefix");
      },
    });
    expect(r.speculation).toBeUndefined();
    expect(clean(r.baseline)).toEqual(clean(replayTrace(image, openWorkload(trace).requests(), { config: base, profile: nvme, topN: 5 })));
  });

  it("prints the one-thread report with the baseline on the worker or beside the parser", () => {
    const run = (env: Record<string, string>) => {
      const p = spawnSync(process.execPath, [CLI, "--debug", "replay", image, trace, "--output", "json"], { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
      expect(p.status, p.stderr).toBe(0);
      return { json: p.stdout.replace(/"(wallSeconds|requestsPerSecond)": [0-9.e+-]+/g, ""), stderr: p.stderr };
    };
    const one = run({ QCOWDBG_WORKERS: "0" });
    const asideRun = run({ QCOWDBG_WORKERS: "2", QCOWDBG_SPECULATE_AFTER: "3000" });
    const beside = run({ QCOWDBG_WORKERS: "2", QCOWDBG_SPECULATE_AFTER: "3000", QCOWDBG_ASIDE: "0" });
    expect(asideRun.stderr).toMatch(/verification: (\d+) of \1 runs from the \d+ started after 3000 requests/);
    // Where each guessed run went, when, and how far behind the worker was then (how the balance is checked).
    expect(asideRun.stderr).toMatch(/(here|there) at \d+ \(worker -?\d+ behind\)/);
    expect(asideRun.json).toBe(one.json);
    expect(beside.json).toBe(one.json);
  });
});
