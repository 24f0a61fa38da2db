// `qcowdbg replay` as users run it (node dist/cli/main.js): the image is never modified, --output=json carries
// the report, --events writes JSON lines, --chrome-trace writes a Trace Event Format file Perfetto can open
// (checked structurally), --compare replays under several configurations, and bad options fail in one line.
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tmpDir, type Json } from "../format/qemu-images.js";
import { itShared, SHARED_TRACES } from "../shared/real-traces.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CLI = here("../../dist/cli/main.js");
const TOUR = here("../../samples/images/tour.qcow2");
const TOUR_TRACE = here("../../samples/traces/tour.qemu-io");
const BLKPARSE = SHARED_TRACES + "/nvme-readahead/sample.blkparse.txt";
const tmp = tmpDir("qcowdbg-replay-cli-");
afterAll(() => tmp.cleanup());

function replay(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("node", [CLI, "replay", ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(...args: string[]): string {
  const r = replay(...args);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout;
}

const sha256 = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe("qcowdbg replay", () => {
  const img = tmp.path("tour.qcow2");
  const events = tmp.path("events.jsonl");
  const chrome = tmp.path("trace.json");
  let before: string;
  let report: Json;

  beforeAll(() => {
    copyFileSync(TOUR, img);
    before = sha256(img);
    report = JSON.parse(ok(img, TOUR_TRACE, "--output=json", "--events", events, "--chrome-trace", chrome, "--top", "4"));
  });

  it("leaves the image byte for byte as it was", () => {
    expect(sha256(img)).toBe(before);
    expect(report.summary.image.growth).toBeGreaterThan(0);
  });

  it("prints the report as JSON", () => {
    expect(report.trace).toMatchObject({ path: TOUR_TRACE, format: "qemu-io" });
    expect(report.profile.name).toBe("nvme");
    expect(report.summary.requests).toBe(63);
    expect(report.summary.slowest).toHaveLength(4);
    const byCause = report.summary.timeByCause.reduce((a: number, c: Json) => a + c.us, 0);
    expect(byCause).toBeCloseTo(report.summary.totalUs, 6);
    expect(report.recommendations.map((r: Json) => r.option)).toContain("lazy-refcounts=on");
    expect(report.recommendations.every((r: Json) => r.after || r.skipped)).toBe(true);
    expect(report.recommendationsNotComputed).toBeUndefined();
  });

  it("with --no-recommend says the recommendations were not computed, not that there are none", () => {
    // The tour trace has advice (lazy-refcounts above): an empty list here must not read as "nothing to tune".
    const j = JSON.parse(ok(img, TOUR_TRACE, "--output=json", "--no-recommend"));
    expect(j.recommendations).toEqual([]);
    expect(j.recommendationsNotComputed).toMatch(/--no-recommend/);
    expect(j.summary.totalUs).toBe(report.summary.totalUs);
    const text = ok(img, TOUR_TRACE, "--no-recommend");
    expect(text).toMatch(/\nRecommendations\n {2}not computed: --no-recommend was given/);
    expect(text).not.toMatch(/none: no cause/);
  });

  it("writes every event as a JSON line, numbered in order", () => {
    const lines = readFileSync(events, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(63);
    lines.forEach((e, i) => expect(e.seq).toBe(i));
    expect(new Set(lines.map((e) => e.request)).size).toBeGreaterThanOrEqual(60);
    expect(lines.filter((e) => e.kind === "flush_to_disk")).toHaveLength(report.summary.flushes.syncs);
    expect(Object.keys(lines[0]!)).toEqual(["seq", "request", "kind", "node", "cache", "slot", "args"]);
    // Every argument named from engine/events/event-args.ts: no bare a/b/c columns.
    for (const e of lines)
      for (const k of Object.keys(e.args)) {
        expect(k).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
        expect(["a", "b", "c"]).not.toContain(k);
      }
    expect(lines.find((e) => e.kind === "cluster_alloc")!.args).toEqual({ host_offset: expect.any(Number), clusters: expect.any(Number) });
  });

  it("writes a Trace Event Format file: named tracks, requests as complete events lasting their modelled latency", () => {
    const t = JSON.parse(readFileSync(chrome, "utf8"));
    expect(Array.isArray(t.traceEvents)).toBe(true);
    expect(t.otherData.requests).toBe(63);
    const names = new Map<number, string>();
    for (const e of t.traceEvents) {
      expect(["M", "X", "i"]).toContain(e.ph);
      expect(Number.isInteger(e.pid) && Number.isInteger(e.tid)).toBe(true);
      expect(typeof e.name).toBe("string");
      if (e.ph === "M" && e.name === "thread_name") names.set(e.tid, e.args.name);
      if (e.ph !== "M") {
        expect(typeof e.ts).toBe("number");
        expect(e.ts).toBeGreaterThanOrEqual(0);
        expect(typeof e.cat).toBe("string");
      }
      if (e.ph === "X") expect(e.dur).toBeGreaterThanOrEqual(0);
      if (e.ph === "i") expect(e.s).toBe("t");
    }
    // Every event sits on a named track.
    for (const e of t.traceEvents) if (e.ph !== "M") expect(names.has(e.tid)).toBe(true);
    const requests = t.traceEvents.filter((e: Json) => e.ph === "X" && e.cat === "request");
    expect(requests).toHaveLength(63);
    const total = requests.reduce((a: number, e: Json) => a + e.dur, 0);
    expect(total).toBeCloseTo(report.summary.totalUs, 1);
    // Complete events on one track never overlap partially (viewers need proper nesting), and requests follow
    // each other; a request's cause slices lie inside it and add up to it.
    const byTid = new Map<number, Json[]>();
    for (const e of t.traceEvents) if (e.ph === "X") byTid.set(e.tid, [...(byTid.get(e.tid) ?? []), e]);
    for (const list of byTid.values()) {
      list.sort((a: Json, b: Json) => a.ts - b.ts);
      for (let i = 1; i < list.length; i++) expect(list[i].ts).toBeGreaterThanOrEqual(list[i - 1].ts + list[i - 1].dur - 0.002);
    }
    const slices = t.traceEvents.filter((e: Json) => e.ph === "X" && e.cat !== "request");
    for (const r of requests) {
      const inside = slices.filter((s: Json) => s.ts >= r.ts - 0.001 && s.ts + s.dur <= r.ts + r.dur + 0.002);
      expect(inside.reduce((a: number, s: Json) => a + s.dur, 0)).toBeCloseTo(r.dur, 1);
    }
    expect(slices.some((s: Json) => s.name === "flush_to_disk" && s.cat === "flush")).toBe(true);
    expect(t.traceEvents.some((e: Json) => e.ph === "i" && e.name === "qcow2_cache_get")).toBe(true);
  });

  it("prints the text report with the slowest requests and verified advice", () => {
    const out = ok(img, TOUR_TRACE, "--top", "2", "--profile", "sata-ssd");
    expect(out).toMatch(/^qcowdbg replay: .*tour\.qcow2 <- .*tour\.qemu-io \(qemu-io, 63 requests\)$/m);
    expect(out).toMatch(/device profile: sata-ssd/);
    expect(out).toMatch(/Slowest requests \(2\)\n {2}#\d+ tour\.qemu-io:\d+/);
    expect(out).toMatch(/measured \(replayed with lazy-refcounts=on\)/);
    expect(sha256(img)).toBe(before);
  });

  it("compares configurations side by side, a cluster size through a converted copy", () => {
    const j = JSON.parse(ok(img, TOUR_TRACE, "--output=json", "--compare", "l2-cache-size=4K", "cluster_size=128k,extended_l2=on", "--config", "cache=writethrough"));
    expect(j.configurations.map((r: Json) => r.label)).toEqual(["cache=writethrough", "l2-cache-size=4K", "cluster_size=128k,extended_l2=on"]);
    expect(j.configurations.map((r: Json) => r.cacheMode)).toEqual(["writethrough", "writethrough", "writethrough"]);
    expect(j.configurations[1].l2CacheBytes).toBeLessThan(j.configurations[0].l2CacheBytes);
    expect(j.configurations[2]).toMatchObject({ clusterSize: 131072, extendedL2: true });
    expect(j.configurations[2].image).not.toBe(img);
    const text = ok(img, TOUR_TRACE, "--compare", "lazy-refcounts=on");
    expect(text).toMatch(/^\s+baseline\s+lazy-refcounts=on$/m);
    expect(text).toMatch(/^modelled time\s+\S+ \S+\s+\S+ \S+ \(-\d+\.\d%\)$/m);
    expect(sha256(img)).toBe(before);
  });

  it("models the same with data kept as metadata-only", () => {
    const kept = JSON.parse(ok(img, TOUR_TRACE, "--output=json", "--keep-data", "--no-recommend"));
    expect(kept.summary.totalUs).toBeCloseTo(report.summary.totalUs, 6);
    expect(kept.summary.caches).toEqual(report.summary.caches);
    expect(sha256(img)).toBe(before);
  });

  itShared("fits the shared blktrace capture onto the image, or counts its requests as errors without --fit", () => {
    const fitted = JSON.parse(ok(img, BLKPARSE, "--output=json", "--fit", "wrap", "--no-recommend"));
    expect(fitted.summary.requests).toBe(963);
    expect(fitted.summary.errors).toBe(0);
    expect(fitted.recommendations).toEqual([]);
    // Without --fit every request misses the 64 MiB image: nothing is measured, so it fails (issue 14) and says how to fit.
    const r = replay(img, BLKPARSE, "--output=json", "--no-recommend");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim()).toMatch(/^qcowdbg: replay: all 963 requests of .*sample\.blkparse\.txt fall past the image's virtual size \(67108864 bytes\): nothing was replayed\. Map them onto the image with --fit wrap\|scale\|drop/);
  });

  it.each([
    [["--output=xml"], /--output must be text or json/],
    [["--fit", "squeeze"], /--fit must be wrap, scale or drop/],
    [["--profile", "floppy"], /profile 'floppy': not a built-in profile/],
    [["--config", "l2-cache-size=lots"], /invalid size 'lots'/],
    [["--top", "-1"], /--top must be a whole number/],
    [["--compare", "cluster_size=3k"], /power of two/],
  ])("fails in one line on %j", (args, msg) => {
    const r = replay(img, TOUR_TRACE, ...args);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^qcowdbg: /);
  });
});
