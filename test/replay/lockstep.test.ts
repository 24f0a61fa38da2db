// What-ifs in one pass: several configurations stepped in lock-step from one parse of the trace must each give
// exactly what a replay of that configuration alone gives (engine options, converted copies, the tour's
// backing chain), and recommendations verified in one pass must equal those verified one replay at a time,
// including when not every candidate improves (the speculative combined run is then replaced by its own run).
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig, type EngineConfig } from "../../engine/image/engine-config.js";
import { openWorkload } from "../../engine/workload/index.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { replayTrace, type ReplaySummary } from "../../engine/replay/replay-stats.js";
import { fanOut, replayLockstep } from "../../engine/replay/lockstep.js";
import { recommend, type RecommendContext } from "../../engine/replay/recommend.js";
import { convertedCopy, needsConversion, parseVariant, type Variant } from "../../engine/replay/compare.js";
import { qemuImg, tmpDir } from "../format/qemu-images.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const TOUR = here("../../samples/images/tour.qcow2");
const TOUR_TRACE = here("../../samples/traces/tour.qemu-io");
const nvme = builtinProfile("nvme")!;
const tmp = tmpDir("qcowdbg-lockstep-");
afterAll(() => tmp.cleanup());

/** A summary without its wall-clock figures (the only ones a shared pass may change). */
function comparable(s: ReplaySummary | Error): unknown {
  if (s instanceof Error) throw s;
  return { ...s, wallSeconds: 0, requestsPerSecond: 0 };
}

let image = "";
let trace = "";
beforeAll(() => {
  image = tmp.path("wb.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", image, "16G");
  // Random 4 KiB writes and reads with a guest flush every 50 (seeded): allocation, COW, write-backs, syncs.
  let seed = 3;
  const lines: string[] = [];
  for (let i = 0; i < 1200; i++) {
    seed = (seed * 48271) % 2147483647;
    lines.push(`${i % 3 === 2 ? "read" : "write"} ${(seed % (16 * 2 ** 18)) * 4096} 4k`);
    if (i % 50 === 49) lines.push("flush");
  }
  trace = tmp.path("wb.qemu-io");
  writeFileSync(trace, lines.join("\n") + "\n");
});

const copies = new Map<string, string>();
function imageFor(img: string, v: Variant): string {
  if (!needsConversion(v.format)) return img;
  const key = img + JSON.stringify(v.format);
  if (!copies.has(key)) copies.set(key, convertedCopy(img, v.format, tmp.dir));
  return copies.get(key)!;
}

function alone(img: string, tr: string, v: Variant): ReplaySummary {
  return replayTrace(imageFor(img, v), openWorkload(tr).requests(), { config: v.config, profile: nvme, topN: 5 });
}

function together(img: string, tr: string, vs: Variant[]): (ReplaySummary | Error)[] {
  return replayLockstep(openWorkload(tr).requests(), vs.map((v) => ({ imagePath: imageFor(img, v), opts: { config: v.config, profile: nvme, topN: 5 } })));
}

describe("replayLockstep", () => {
  it("gives every configuration exactly what its replay alone gives", () => {
    const base = defaultConfig();
    const specs = ["l2-cache-size=128K", "l2-cache-entry-size=4K", "cache=writethrough", "lazy-refcounts=on", "cache-policy=2q,l2-cache-size=256K", "cluster_size=128K,extended_l2=on", "preallocation=metadata", "preallocation=metadata,l2-cache-size=1M"];
    const vs = [{ label: "", config: base, format: {} }, ...specs.map((s) => parseVariant(s, base))];
    const got = together(image, trace, vs);
    expect(got).toHaveLength(vs.length);
    vs.forEach((v, i) => expect(comparable(got[i]!), v.label).toEqual(comparable(alone(image, trace, v))));
  });

  it("does so over a backing chain (the tour), and reports a run that cannot open in its place", () => {
    const vs = ["", "cache=writethrough", "l2-cache-size=4K"].map((s) => parseVariant(s, defaultConfig()));
    const runs = vs.map((v) => ({ imagePath: TOUR, opts: { config: v.config, profile: nvme, topN: 5 } }));
    const got = replayLockstep(openWorkload(TOUR_TRACE).requests(), [...runs.slice(0, 2), { imagePath: tmp.path("missing.qcow2"), opts: runs[0]!.opts }, runs[2]!]);
    expect(got[2]).toBeInstanceOf(Error);
    expect(comparable(got[0]!)).toEqual(comparable(alone(TOUR, TOUR_TRACE, vs[0]!)));
    expect(comparable(got[1]!)).toEqual(comparable(alone(TOUR, TOUR_TRACE, vs[1]!)));
    expect(comparable(got[3]!)).toEqual(comparable(alone(TOUR, TOUR_TRACE, vs[2]!)));
  });
});

describe("recommend in one pass", () => {
  /** The context both ways, with `tweak` applied to every what-if's result (to make one candidate fail). */
  function contexts(config: EngineConfig, tweak: (s: ReplaySummary, v: Variant) => ReplaySummary = (s) => s) {
    const baseline = alone(image, trace, { label: "", config, format: {} });
    const run = (v: Variant) => tweak(alone(image, trace, v), v);
    let passes = 0;
    const runAll = (vs: Variant[]) => {
      passes++;
      return together(image, trace, vs).map((s, i) => (s instanceof Error ? s : tweak(s, vs[i]!)));
    };
    const one: RecommendContext = { baseline, config, canConvert: true, run };
    const many: RecommendContext = { baseline, config, canConvert: true, run, runAll };
    return { one, many, passes: () => passes };
  }

  it("verifies every candidate and their combination in one pass, with the gains of one replay each", () => {
    const c = contexts(defaultConfig());
    const seq = recommend(c.one);
    const lock = recommend(c.many);
    expect(seq.filter((r) => r.improved && !r.dropped).length).toBeGreaterThanOrEqual(2);
    expect(seq.at(-1)!.id).toBe("combined");
    expect(lock).toEqual(seq);
    expect(c.passes()).toBe(1);
  });

  it("runs the combination again when not every candidate improves", () => {
    const worse = (s: ReplaySummary, v: Variant): ReplaySummary => (v.label === "l2-cache-entry-size=4K" ? { ...s, totalUs: s.totalUs * 10, ops: s.ops.map((o) => ({ ...o, totalUs: o.totalUs * 10, avgUs: o.avgUs * 10 })) } : s);
    const c = contexts(defaultConfig(), worse);
    const seq = recommend(c.one);
    const lock = recommend(c.many);
    const entry = seq.find((r) => r.id === "l2-cache-entry-size")!;
    expect(entry.improved).toBe(false);
    expect(lock).toEqual(seq);
    const all = lock.find((r) => r.id === "combined")!;
    expect(all.option).not.toMatch(/l2-cache-entry-size/);
    expect(all.after).toBeDefined();
    expect(c.passes()).toBe(2);
  });
});

describe("fanOut", () => {
  it("gives every consumer the whole stream once, whatever order they read in, holding only the gap between them", () => {
    let pulled = 0;
    function* source(): Generator<number> {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield i;
      }
    }
    const [a, b, c] = fanOut(source(), 3);
    const got: number[][] = [[], [], []];
    const take = (it: Iterator<number>, k: number, n: number) => {
      for (let j = 0; j < n; j++) {
        const r = it.next();
        if (r.done) return;
        got[k]!.push(r.value);
      }
    };
    // The dashboard's pattern: the first sets the pace, the others follow by as many; and one running ahead.
    for (let round = 0; round < 200; round++) {
      take(a!, 0, 7);
      take(b!, 1, 7);
      take(c!, 2, round % 2 ? 13 : 1);
    }
    take(a!, 0, 2000);
    take(b!, 1, 2000);
    take(c!, 2, 2000);
    const all = Array.from({ length: 1000 }, (_, i) => i);
    expect(got).toEqual([all, all, all]);
    expect(pulled).toBe(1000);
    expect([a!.next().done, b!.next().done, c!.next().done]).toEqual([true, true, true]);
  });
});
