// The diagnosis: the text report's sections and btt-style table, and recommendations computed from the trace
// and verified by replaying it again: an L2 cache that covers what the trace touches leaves no repeat misses,
// writeback stops per-write syncs, lazy refcounts cut syncs, and extended L2 (a qemu-img converted copy) removes
// the COW of 4 KiB writes over a backing file.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig, parseConfigOptions, type EngineConfig } from "../../engine/image/engine-config.js";
import { openWorkload } from "../../engine/workload/index.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { replayTrace, type ReplaySummary } from "../../engine/replay/replay-stats.js";
import { candidates, recommend, type Recommendation } from "../../engine/replay/recommend.js";
import { buildReport, formatReport } from "../../engine/replay/report.js";
import { convertedCopy, needsConversion, parseVariant, type Variant } from "../../engine/replay/compare.js";
import { qemuImg, qemuIo, tmpDir } from "../format/qemu-images.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const TOUR = here("../../samples/images/tour.qcow2");
const TOUR_TRACE = here("../../samples/traces/tour.qemu-io");
const nvme = builtinProfile("nvme")!;
const tmp = tmpDir("qcowdbg-report-");
afterAll(() => tmp.cleanup());

/** A qemu-io script of `n` 4 KiB requests at random 4 KiB-aligned offsets below `size` (seeded). */
function randomTrace(name: string, n: number, size: number, ops: string[] = ["write", "read"]): string {
  let seed = 42;
  const next = () => (seed = (seed * 48271) % 2147483647);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`${ops[i % ops.length]} ${(next() % (size / 4096)) * 4096} 4k`);
  const p = tmp.path(name);
  writeFileSync(p, lines.join("\n") + "\n");
  return p;
}

function runner(image: string, trace: string) {
  return (v: Variant): ReplaySummary => {
    const img = needsConversion(v.format) ? convertedCopy(image, v.format, tmp.dir) : image;
    return replayTrace(img, openWorkload(trace).requests(), { config: v.config, profile: nvme });
  };
}

function advise(image: string, trace: string, config: EngineConfig): { base: ReplaySummary; recs: Recommendation[] } {
  const run = runner(image, trace);
  const base = run({ label: "", config, format: {} });
  return { base, recs: recommend({ baseline: base, config, canConvert: true, run }) };
}

describe("the text report", () => {
  let lines: string[];
  let base: ReplaySummary;
  beforeAll(() => {
    const config = defaultConfig();
    const r = advise(TOUR, TOUR_TRACE, config);
    base = r.base;
    const report = buildReport({ path: TOUR_TRACE, format: "qemu-io", lines: 63, skipped: 0, filtered: 0 }, nvme, r.base, r.recs);
    lines = formatReport(report, { top: 3 });
    // The JSON form carries the same numbers.
    expect(JSON.parse(JSON.stringify(report)).summary.totalUs).toBe(r.base.totalUs);
  });

  it("has every section", () => {
    const text = lines.join("\n");
    for (const h of ["Requests", "Totals", "Latency (modelled Q2C, seconds)", "Slowest requests (3)", "Recommendations"]) expect(lines).toContain(h);
    expect(text).toMatch(/^Time by cause \(modelled\) {2}total \d/m);
    expect(text).toMatch(/metadata I\/O per guest I\/O\s+\d+\.\d{3}/);
    expect(text).toMatch(/L2 cache\s+\d+\.\d% hits/);
    expect(text).toMatch(/image growth\s+\S+/);
  });

  it("prints latencies as btt does: seconds with nine decimals, MIN AVG MAX N per op", () => {
    const i = lines.indexOf("Latency (modelled Q2C, seconds)");
    expect(lines[i + 1]).toMatch(/^\s+MIN\s+AVG\s+MAX\s+N$/);
    const rows = lines.slice(i + 2, i + 8);
    for (const row of rows) expect(row).toMatch(/^\s+(read|write|write-zeroes|discard|flush|all)\s+\d\.\d{9}\s+\d\.\d{9}\s+\d\.\d{9}\s+\d+$/);
    const all = rows.find((r) => r.trim().startsWith("all"))!.trim().split(/\s+/);
    expect(Number(all[2])).toBeCloseTo(base.ops.at(-1)!.avgUs / 1e6, 9);
    expect(Number(all[4])).toBe(63);
  });

  it("lists time by cause in decreasing order with shares", () => {
    const i = lines.indexOf(lines.find((l) => l.startsWith("Time by cause"))!);
    const shares: number[] = [];
    for (let j = i + 1; lines[j]; j++) shares.push(Number(/(\d+\.\d)%/.exec(lines[j]!)![1]));
    expect(shares.length).toBeGreaterThan(2);
    expect([...shares].sort((a, b) => b - a)).toEqual(shares);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
  });

  it("says why the slowest requests were slow", () => {
    const i = lines.indexOf("Slowest requests (3)");
    expect(lines[i + 1]).toMatch(/^\s+#\d+ tour\.qemu-io:\d+ \w+/);
    expect(lines[i + 1]).toMatch(/flush \d/);
    expect(lines[i + 2]).toMatch(/^\s{6}\S/);
  });

  it("recommends lazy refcounts for the tour and shows the measured effect", () => {
    const text = lines.join("\n");
    expect(text).toMatch(/1\. lazy-refcounts=on/);
    expect(text).toMatch(/measured \(replayed with lazy-refcounts=on\):\n\s+modelled time .* -> .*\(-\d/);
    expect(text).toMatch(/syncs \d+ -> \d+/);
  });
});

describe("verified recommendations", () => {
  it("sizes the L2 cache to the tables the trace touches, and the replay then has no repeat misses", () => {
    const img = tmp.path("l2.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "16G");
    const trace = randomTrace("l2.qemu-io", 3000, 16 * 2 ** 30);
    const { base, recs } = advise(img, trace, parseConfigOptions("l2-cache-size=128K"));
    expect(base.caches.l2.repeatMisses).toBeGreaterThan(0);
    // Past the L2 table allocations at the top, the reasons name the dirty slice a miss wrote back.
    const many = replayTrace(img, openWorkload(trace).requests(), { config: parseConfigOptions("l2-cache-size=128K"), profile: nvme, topN: 3000 });
    expect(many.slowest.flatMap((q) => q.why).join("\n")).toMatch(/L2 miss evicting a dirty slice \(write-back\): 0x[0-9a-f]+ -> 0x[0-9a-f]+/);
    // 16 GiB / (8192 entries * 64 KiB per table) = 32 tables of 64 KiB.
    expect(base.touched.l2Tables).toBe(32);
    const r = recs.find((x) => x.id === "l2-cache-size")!;
    expect(r.option).toBe("l2-cache-size=2M");
    expect(r.reason).toMatch(/^l2-cache-size=2M covers the 16 GiB this trace touches \(32 L2 tables of 64 KiB/);
    expect(r.after!.l2RepeatMisses).toBe(0);
    expect(r.after!.l2Misses).toBe(32);
    expect(r.after!.totalUs).toBeLessThan(r.before!.totalUs);
    expect(r.improved).toBe(true);
    expect(r.effect!.join("\n")).toMatch(/repeat misses after warm-up \d+ -> 0/);
  });

  it("recommends cache=writeback when writethrough's syncs dominate", () => {
    const img = tmp.path("wt.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "1G");
    const trace = randomTrace("wt.qemu-io", 300, 2 ** 30, ["write"]);
    const { base, recs } = advise(img, trace, parseConfigOptions("cache=writethrough"));
    expect(base.flushes.syncs).toBeGreaterThanOrEqual(300);
    const r = recs.find((x) => x.id === "cache-mode")!;
    expect(r.option).toBe("cache=writeback");
    expect(r.after!.syncs).toBeLessThan(r.before!.syncs / 2);
    expect(r.improved).toBe(true);
  });

  it("recommends extended L2 when COW from a backing file dominates, verified on a converted copy", () => {
    const base = tmp.path("base.qcow2");
    const top = tmp.path("top.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", base, "32M");
    qemuIo(base, "write -P 5 0 32M");
    qemuImg("create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top);
    const trace = randomTrace("cow.qemu-io", 200, 32 << 20, ["write"]);
    const run = runner(top, trace);
    const config = defaultConfig();
    const s = run({ label: "", config, format: {} });
    expect(s.cow.bytes).toBeGreaterThan(0);
    expect(s.timeByCause.find((c) => c.cause === "cow-read")!.us).toBeGreaterThan(0);
    expect(s.slowest.flatMap((q) => q.why).join("\n")).toMatch(/COW 60 KiB from backing/);
    const recs = recommend({ baseline: s, config, canConvert: true, run });
    const r = recs.find((x) => x.id === "cluster-size")!;
    expect(r.option).toBe("cluster_size=128K,extended_l2=on");
    expect(r.after!.cowBytes).toBe(0);
    expect(r.after!.totalUs).toBeLessThan(r.before!.totalUs);
    // Without qemu-img the advice is still given, marked as not verified.
    const offline = candidates(s, config, false).find((x) => x.id === "cluster-size")!;
    expect(offline.skipped).toMatch(/qemu-img is not installed/);
  });

  it("advises smaller L2 entries when whole-table write-backs cost, and verifies the improvements together", () => {
    const img = tmp.path("wb.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "16G");
    // Random 4 KiB writes with a guest flush every 50: each flush writes back whole 64 KiB L2 tables.
    let seed = 3;
    const lines: string[] = [];
    for (let i = 0; i < 1500; i++) {
      seed = (seed * 48271) % 2147483647;
      lines.push(`write ${(seed % (16 * 2 ** 18)) * 4096} 4k`);
      if (i % 50 === 49) lines.push("flush");
    }
    const trace = tmp.path("wb.qemu-io");
    writeFileSync(trace, lines.join("\n") + "\n");
    const { base, recs } = advise(img, trace, defaultConfig());
    expect(base.image.l2EntrySize).toBe(65536);
    const entry = recs.find((r) => r.id === "l2-cache-entry-size")!;
    expect(entry.option).toBe("l2-cache-entry-size=4K");
    expect(entry.after!.targetUs).toBeLessThan(entry.before!.targetUs);
    const improved = recs.filter((r) => r.improved && !r.dropped && r.id !== "combined");
    expect(improved.length).toBeGreaterThanOrEqual(2);
    // Ranked by verified gain; the combination last (it may gain less than its best part: effects overlap).
    const gains = improved.map((r) => r.gain!);
    expect(gains).toEqual([...gains].sort((a, b) => b - a));
    expect(gains.every((g) => g >= 0.01)).toBe(true);
    const all = recs.at(-1)!;
    expect(all.id).toBe("combined");
    expect(all.option).toBe(improved.map((r) => r.option).join(","));
    expect(all.after!.totalUs).toBeLessThan(all.before!.totalUs);
  });

  it("shows advice the replay refuted apart from the advice it confirmed", () => {
    const s = replayTrace(TOUR, openWorkload(TOUR_TRACE).requests(), { config: defaultConfig(), profile: nvme });
    const m = { totalUs: 10, avgUs: 1, p99Us: 1, l2MissRate: 0, l2Misses: 0, l2RepeatMisses: 0, syncs: 0, cowBytes: 0, targetUs: 1 };
    const rec = (option: string, improved: boolean): Recommendation => ({
      id: "l2-cache-entry-size", option, reason: "r", expected: "e", targets: ["l2-miss"], improved, before: m, after: { ...m, totalUs: improved ? 5 : 20 }, effect: [`effect of ${option}`],
    });
    const text = formatReport(buildReport({ path: TOUR_TRACE, format: "qemu-io", lines: 63, skipped: 0, filtered: 0 }, nvme, s, [rec("good=1", true), rec("bad=1", false)])).join("\n");
    expect(text).toMatch(/Recommendations\n {2}1\. good=1\n[\s\S]*effect of good=1/);
    expect(text).toMatch(/Tried, but slower or no faster on this trace\n {2}- bad=1\n[\s\S]*effect of bad=1/);
    const none = formatReport(buildReport({ path: TOUR_TRACE, format: "qemu-io", lines: 63, skipped: 0, filtered: 0 }, nvme, s, [rec("bad=1", false)])).join("\n");
    expect(none).toMatch(/Recommendations\n {2}none: nothing tried made this trace faster/);
  });

  it("gives no advice when nothing tunable costs time", () => {
    const img = tmp.path("idle.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "64M");
    const trace = randomTrace("reads.qemu-io", 100, 64 << 20, ["read"]);
    const { base, recs } = advise(img, trace, defaultConfig());
    expect(base.totalUs).toBe(0);
    expect(recs).toEqual([]);
    expect(formatReport(buildReport({ path: trace, format: "qemu-io", lines: 100, skipped: 0, filtered: 0 }, nvme, base, recs)).join("\n")).toMatch(/nothing reached the device[\s\S]*Recommendations\n {2}none/);
  });

  it("parses what-if variants: engine options on top of the base, format options apart", () => {
    const v = parseVariant("l2-cache-size=4M,cluster_size=128k,extended_l2=on", parseConfigOptions("cache=writethrough"));
    expect(v.config.l2CacheSize).toBe(4 << 20);
    expect(v.config.cacheMode).toBe("writethrough");
    expect(v.format).toEqual({ clusterSize: 131072, extendedL2: true });
    expect(() => parseVariant("cluster_size=3000", defaultConfig())).toThrow(/power of two/);
    expect(() => parseVariant("extended_l2=maybe", defaultConfig())).toThrow(/on\/off/);
    expect(() => parseVariant("bogus=1", defaultConfig())).toThrow(/unknown option 'bogus'/);
  });
});
