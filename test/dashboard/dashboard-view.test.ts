// The view model from real runs: every panel's numbers come from the replay and agree with each other (causes
// add up to the modelled total, hit rates are the cache counters, the map legend counts the folded clusters).
import { afterAll, describe, expect, it } from "vitest";
import { HOST_KIND_CHARS } from "../../inspector/session/cluster-map.js";
import { buildDashboardView, CAUSE_GROUPS, compact, niceCeiling, type ControlState, type DashboardView } from "../../inspector/dashboard/dashboard-view.js";
import { EventLog } from "../../inspector/dashboard/event-log.js";
import { formatUs } from "../../engine/replay/human-units.js";
import { openRun, TOUR, TOUR_TRACE, type OpenRun } from "./fixtures.js";

const control: ControlState = { state: "done", speed: "max", progress: 1, redrawsPerSecond: 9.5, requestsPerSecond: 1234 };
const info = { image: "tour.qcow2", trace: "tour.qemu-io", format: "qemu-io", profile: "nvme" };
const sizes = { mapCells: 200, logLines: 5, sparkWidth: 30, statusWidth: 80, rateLines: 8, slowRows: 4 };
const open: OpenRun[] = [];
afterAll(() => open.forEach((o) => o.close()));

function finished(config = "", log = new EventLog()): OpenRun {
  const o = openRun(TOUR, TOUR_TRACE, config, log);
  open.push(o);
  while (!o.run.done) o.run.advance(10);
  return o;
}

describe("dashboard view model", () => {
  it("shows one finished run: status, latency, rates, causes, caches, map, log, slowest", () => {
    const o = finished();
    const r = o.run;
    const v: DashboardView = buildDashboardView({ info, runs: [r], log: o.log, control, wallRates: [10, 20, 1234] }, sizes);
    expect(v.title).toBe("qcowdbg dashboard: tour.qcow2 <- tour.qemu-io (qemu-io), device nvme");
    expect(v.status[0]).toBe("■ done | speed max | 100% of the trace");
    expect(v.status[1]).toBe("requests 63 | errors 0 | past the end 0");
    expect(v.status[2]).toBe(`modelled ${formatUs(r.totalUs)} | avg ${formatUs(r.totalUs / 63)}`);
    expect(v.status).toContain("redraw 9.5/s | replay 1.2k req/s");

    // One line, one point per window, averages in the chosen unit.
    expect(v.latency.lines).toHaveLength(1);
    const series = r.series.view();
    expect(v.latency.lines[0]!.y).toHaveLength(series.windows.length);
    expect(v.latency.lines[0]!.x.at(-1)).toBe("63");
    expect(v.latency.unit).toBe("µs");
    expect(Math.max(...v.latency.lines[0]!.y)).toBeLessThanOrEqual(v.latency.maxY);
    expect(v.latency.label).toBe(`modelled latency, µs, average of ${series.window} request${series.window > 1 ? "s" : ""}`);

    expect(v.rates.titles[0]).toMatch(/^modelled IOPS, now \d/);
    expect(v.rates.titles[1]).toBe("replay req/s (wall) 1.2k");
    expect(v.rates.data[1]).toEqual([10, 20, 1234]);

    // Causes: nine groups adding up to the modelled total.
    expect(v.causes.stacks).toEqual(CAUSE_GROUPS.map((g) => g.name));
    expect(v.causes.us[0]!.reduce((a, b) => a + b, 0)).toBeCloseTo(r.totalUs, 6);
    expect(v.causes.data[0]!.reduce((a, b) => a + b, 0)).toBeCloseTo(r.totalUs, -1);

    const c = r.cacheCounts();
    expect(v.caches).toEqual([
      { label: "L2", percent: c.l2Hits / (c.l2Hits + c.l2Misses) },
      { label: "refcount", percent: c.refcountHits / (c.refcountHits + c.refcountMisses) },
    ]);

    // The tour image's file fits in the cells: one cluster per cell, header first, and the legend counts them.
    const clusters = Math.ceil(r.engine.shadow.size() / 65536);
    expect(v.map.kinds).toHaveLength(clusters);
    expect(v.map.label).toMatch(new RegExp(`^host file [\\d.]+ MiB \\(\\+[\\d.]+ MiB\\): ${clusters} clusters of 64 KiB, one cell = 1 cluster$`));
    expect(HOST_KIND_CHARS[v.map.kinds[0]!]).toBe("H");
    const data = [...v.map.kinds].filter((k) => HOST_KIND_CHARS[k] === "D").length;
    expect(v.map.legend).toContain(`D data ${data}`);
    expect(data).toBeGreaterThan(10);

    expect(v.log).toHaveLength(Math.min(5, o.log.total));
    expect(v.log.at(-1)).toMatch(/^done: 63 requests/);

    expect(v.slowest.headers).toEqual(["#", "request", "latency", "why"]);
    expect(v.slowest.rows).toHaveLength(4);
    const top = r.slowest[0]!;
    expect(v.slowest.rows[0]).toEqual([String(top.index + 1), top.op === "flush" ? "flush" : expect.stringMatching(/^\w+ 0x[0-9a-f]+\+\d/), formatUs(top.latencyUs), top.why.join("; ")]);
  });

  it("puts a what-if beside the baseline: two lines, four gauges, both bars, a run column", () => {
    const log = new EventLog();
    const a = finished("", log);
    const b = finished("l2-cache-size=64K,cache=writethrough", log);
    const v = buildDashboardView({ info, runs: [a.run, b.run], log, control: { ...control, state: "running", progress: 0.5 }, wallRates: [] }, sizes);
    expect(v.latency.lines.map((l) => l.title)).toEqual(["A", "B"]);
    expect(v.latency.lines[0]!.x).toEqual(v.latency.lines[1]!.x);
    expect(v.caches.map((c) => c.label)).toEqual(["L2 A", "rc A", "L2 B", "rc B"]);
    expect(v.causes.bars).toEqual(["A", "B"]);
    // Writethrough syncs after every write: more flush time in B.
    const flush = CAUSE_GROUPS.findIndex((g) => g.name === "flush");
    expect(v.causes.us[1]![flush]).toBeGreaterThan(v.causes.us[0]![flush]!);
    expect(v.map.label).toMatch(/^host file of A /);
    expect(v.status[0]).toBe("▶ running | speed max | 50% of the trace");
    expect(v.status[2]).toBe("A = baseline, B = l2-cache-size=64K,cache=writethrough");
    expect(v.status[3]).toMatch(/^\s+modelled\s+vs A\s+avg\s+p99\s+max$/);
    const narrow = buildDashboardView({ info, runs: [a.run, b.run], log, control, wallRates: [] }, { ...sizes, statusWidth: 30 });
    expect(narrow.status[2]).toBe("A = baseline, B = l2-cache-si~");
    expect(v.status[5]).toMatch(new RegExp(`^B\\s+${formatUs(b.run.totalUs).replace(".", "\\.")}\\s+\\+\\d+\\.\\d%`));
    expect(v.slowest.headers[0]).toBe("");
    expect(new Set(v.slowest.rows.map((row) => row[0]))).toContain("B");
    // Three sparklines need 9 lines: with 8 the replay's own rate is left out.
    expect(v.rates.titles).toHaveLength(2);
    expect(buildDashboardView({ info, runs: [a.run, b.run], log, control, wallRates: [] }, { ...sizes, rateLines: 9 }).rates.titles).toHaveLength(3);
  });
});

describe("number formats", () => {
  it("compacts counts and rounds axis maxima up", () => {
    expect([compact(0), compact(7.25), compact(950), compact(1234), compact(45_600), compact(1.3e6)]).toEqual(["0", "7.3", "950", "1.2k", "46k", "1.3M"]);
    expect([niceCeiling(0), niceCeiling(0.7), niceCeiling(3), niceCeiling(1100), niceCeiling(2400)]).toEqual([1, 1, 5, 2000, 2500]);
  });
});
