// The dashboard's view model: plain data built from the live runs (one, or a baseline and a what-if) for the
// screen to draw; no terminal here, so tests read it directly. Units are chosen per frame from the values shown.
import { Cause, CAUSE_COUNT } from "../../engine/replay/cost-model.js";
import { formatBytes, formatUs, hex, NO_LOOKUPS } from "../../engine/replay/human-units.js";
import { HostKind, HOST_KIND_CHARS, HOST_KIND_NAMES } from "../session/cluster-map.js";
import type { EventLog } from "./event-log.js";
import { windowAvgUs, windowIops } from "./latency-series.js";
import type { LiveReplay } from "./live-replay.js";

export interface DashboardInfo {
  image: string;
  trace: string;
  format: string;
  profile: string;
}

export type RunState = "running" | "paused" | "done";

export interface ControlState {
  state: RunState;
  speed: string;
  /** Share of the trace read (0..1), when its size is known. */
  progress: number | null;
  /** Redraws per second while replaying (last second), null before there are enough to tell. */
  redrawsPerSecond: number | null;
  /** Requests replayed per wall-clock second, last sample. */
  requestsPerSecond: number;
}

export interface DashboardSnapshot {
  info: DashboardInfo;
  runs: readonly LiveReplay[];
  log: EventLog;
  control: ControlState;
  /** Replay rate samples (requests per wall-clock second), oldest first. */
  wallRates: readonly number[];
}

export interface ViewSizes {
  mapCells: number;
  logLines: number;
  sparkWidth: number;
  /** Columns inside the status panel. */
  statusWidth: number;
  /** Lines inside the rates panel. */
  rateLines: number;
  slowRows: number;
}

export interface LineSeries {
  title: string;
  x: string[];
  y: number[];
}

export interface DashboardView {
  title: string;
  status: string[];
  latency: { label: string; unit: string; lines: LineSeries[]; maxY: number };
  rates: { titles: string[]; data: number[][] };
  /** data: per bar, per cause, in `unit` (rounded, for the bars); us: the same in µs (for the legend). */
  causes: { label: string; unit: string; bars: string[]; stacks: string[]; data: number[][]; us: number[][] };
  caches: { label: string; percent: number }[];
  map: { label: string; kinds: Uint8Array; legend: string };
  log: string[];
  slowest: { headers: string[]; rows: string[][] };
}

/** The nine causes a user tells apart (COW read and write are one). */
export const CAUSE_GROUPS: readonly { name: string; causes: readonly Cause[] }[] = [
  { name: "data", causes: [Cause.Data] },
  { name: "L2 miss", causes: [Cause.L2Miss] },
  { name: "write-back", causes: [Cause.L2Writeback] },
  { name: "refcount", causes: [Cause.Refcount] },
  { name: "allocation", causes: [Cause.Allocation] },
  { name: "COW", causes: [Cause.CowRead, Cause.CowWrite] },
  { name: "flush", causes: [Cause.Flush] },
  { name: "backing", causes: [Cause.Backing] },
  { name: "decompress", causes: [Cause.Decompress] },
];
if (CAUSE_GROUPS.reduce((n, g) => n + g.causes.length, 0) !== CAUSE_COUNT) throw new Error("every cost-model cause belongs to one group");

export function buildDashboardView(s: DashboardSnapshot, sizes: ViewSizes): DashboardView {
  const runs = s.runs;
  const base = runs[0]!;
  return {
    title: `qcowdbg dashboard: ${s.info.image} <- ${s.info.trace} (${s.info.format}), device ${s.info.profile}`,
    status: statusLines(s).map((l) => fit(l, sizes.statusWidth)),
    latency: latencyView(runs),
    rates: ratesView(runs, s.wallRates, sizes.sparkWidth, sizes.rateLines, s.control.requestsPerSecond),
    causes: causesView(runs),
    caches: runs.flatMap((r) => {
      const c = r.cacheCounts();
      // Four donuts share the panel in a what-if: short labels.
      const tag = runs.length > 1 ? ` ${runTag(runs, r)}` : "";
      return [
        { label: `L2${tag}${idle(c.l2Hits, c.l2Misses)}`, percent: rate(c.l2Hits, c.l2Misses) },
        { label: `${runs.length > 1 ? `rc${tag}` : "refcount"}${idle(c.refcountHits, c.refcountMisses)}`, percent: rate(c.refcountHits, c.refcountMisses) },
      ];
    }),
    map: mapView(base, sizes.mapCells, runs.length > 1 ? " of A" : ""),
    log: s.log.tail(sizes.logLines),
    slowest: slowestView(runs, sizes.slowRows),
  };
}

/** "A" for the baseline, "B" for the what-if (legends are short). */
function runTag(runs: readonly LiveReplay[], r: LiveReplay): string {
  return String.fromCharCode(65 + runs.indexOf(r));
}

/** A cache with no lookups says so rather than showing 0% (one wording: human-units' NO_LOOKUPS). */
function idle(hits: number, misses: number): string {
  return hits + misses > 0 ? "" : `: ${NO_LOOKUPS}`;
}

function rate(hits: number, misses: number): number {
  return hits + misses > 0 ? hits / (hits + misses) : 0;
}

function statusLines(s: DashboardSnapshot): string[] {
  const c = s.control;
  const runs = s.runs;
  const base = runs[0]!;
  const icon = c.state === "running" ? "▶" : c.state === "paused" ? "❚❚" : "■";
  const progress = c.progress === null ? "" : ` | ${(c.progress * 100).toFixed(0)}% of the trace`;
  const lines = [`${icon} ${c.state} | speed ${c.speed}${progress}`, `requests ${base.requests.toLocaleString("en-US")} | errors ${base.errors} | past the end ${base.outOfRange}`];
  if (runs.length === 1) {
    const h = base.histogram;
    lines.push(`modelled ${formatUs(base.totalUs)} | avg ${formatUs(h.n ? base.totalUs / h.n : 0)}`);
    lines.push(`p50 ${formatUs(h.quantile(0.5))} | p99 ${formatUs(h.quantile(0.99))} | max ${formatUs(h.max)}`);
  } else {
    // Side by side in a small table: one row per run, named once above it.
    lines.push(runs.map((r) => `${runTag(runs, r)} = ${r.label}`).join(", "));
    const rows = [["", "modelled", "vs A", "avg", "p99", "max"]];
    for (const r of runs) {
      const h = r.histogram;
      rows.push([runTag(runs, r), formatUs(r.totalUs), r === base ? "" : base.totalUs > 0 ? signedPercent(r.totalUs, base.totalUs) : "-", formatUs(h.n ? r.totalUs / h.n : 0), formatUs(h.quantile(0.99)), formatUs(h.max)]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) lines.push(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" ").trimEnd());
  }
  lines.push(`redraw ${c.redrawsPerSecond === null ? "-" : `${c.redrawsPerSecond.toFixed(1)}/s`} | replay ${compact(c.requestsPerSecond)} req/s`);
  lines.push("space pause | +/- speed | r restart | q quit");
  return lines;
}

/** A line cut to `width` columns, with a mark where it was cut. */
function fit(line: string, width: number): string {
  return width > 1 && line.length > width ? `${line.slice(0, width - 1)}~` : line;
}

function signedPercent(v: number, base: number): string {
  const d = ((v - base) / base) * 100;
  return `${d >= 0 ? "+" : ""}${d.toFixed(1)}%`;
}

/** 950, 1.2k, 45k, 1.3M: short numbers for axes and sparkline titles. */
export function compact(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a < 1000) return a < 10 && !Number.isInteger(n) ? n.toFixed(1) : String(Math.round(n));
  const units = ["k", "M", "G", "T"];
  let v = a;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${n < 0 ? "-" : ""}${v < 10 ? v.toFixed(1).replace(/\.0$/, "") : Math.round(v)}${units[u]}`;
}

/** The unit that keeps a maximum of `maxUs` readable: [name, µs per unit]. */
function timeUnit(maxUs: number): [string, number] {
  if (maxUs < 10_000) return ["µs", 1];
  if (maxUs < 10_000_000) return ["ms", 1000];
  return ["s", 1e6];
}

function latencyView(runs: readonly LiveReplay[]): DashboardView["latency"] {
  const views = runs.map((r) => r.series.view());
  let max = 0;
  for (const v of views) for (const w of v.windows) max = Math.max(max, windowAvgUs(w));
  const [unit, per] = timeUnit(max);
  const lines = runs.map((r, i) => {
    const ws = views[i]!.windows;
    return {
      title: runs.length > 1 ? runTag(runs, r) : r.label,
      x: ws.map((w) => compact(w.endRequest)),
      y: ws.map((w) => windowAvgUs(w) / per),
    };
  });
  const window = views[0]!.window;
  return { label: `modelled latency, ${unit}, average of ${window} request${window === 1 ? "" : "s"}`, unit, lines, maxY: niceCeiling((max / per) * 1.1) };
}

/** A round axis maximum at or above v (1, 2, 2.5, 5 x 10^n). */
export function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Modelled IOPS per run, then the replay's own rate when the panel has the lines for it (title, line, gap each). */
function ratesView(runs: readonly LiveReplay[], wall: readonly number[], width: number, lines: number, wallNow: number): DashboardView["rates"] {
  const titles: string[] = [];
  const data: number[][] = [];
  for (const r of runs) {
    const ws = r.series.view().windows;
    const iops = ws.map(windowIops).slice(-width);
    const last = iops.length ? iops[iops.length - 1]! : 0;
    titles.push(`modelled IOPS${runs.length > 1 ? ` ${runTag(runs, r)}` : ""}, now ${compact(last)}`);
    data.push(iops.length ? iops : [0]);
  }
  if (3 * (runs.length + 1) > lines) return { titles, data };
  const w = wall.slice(-width);
  titles.push(`replay req/s (wall) ${compact(wallNow)}`);
  data.push(w.length ? [...w] : [0]);
  return { titles, data };
}

function causesView(runs: readonly LiveReplay[]): DashboardView["causes"] {
  const totals = runs.map((r) => CAUSE_GROUPS.map((g) => g.causes.reduce((s, c) => s + r.causeTotals[c]!, 0)));
  const max = Math.max(0, ...totals.map((t) => t.reduce((a, b) => a + b, 0)));
  // Whole numbers label the bar segments: a unit small enough that the total reads in hundreds or more.
  const [unit, per]: [string, number] = max < 100_000 ? ["µs", 1] : max < 100_000_000 ? ["ms", 1000] : ["s", 1e6];
  return {
    label: "modelled time by cause",
    unit,
    bars: runs.map((r) => (runs.length > 1 ? runTag(runs, r) : "total")),
    stacks: CAUSE_GROUPS.map((g) => g.name),
    data: totals.map((t) => t.map((us) => Math.round(us / per))),
    us: totals,
  };
}

function mapView(run: LiveReplay, cells: number, whose: string): DashboardView["map"] {
  const m = run.hostMap.fold(Math.max(1, cells));
  const shown = [HostKind.Header, HostKind.L1, HostKind.Reftable, HostKind.Refblock, HostKind.L2, HostKind.Data, HostKind.Free, HostKind.Leaked];
  for (const k of [HostKind.Snapshot, HostKind.Other, HostKind.Compressed, HostKind.Shared]) if (m.counts[k]! > 0) shown.push(k);
  const legend = shown.map((k) => `${HOST_KIND_CHARS[k]} ${HOST_KIND_NAMES[k]} ${m.counts[k]}`).join("  ");
  const size = run.engine.shadow.size();
  const growth = size - run.fileSizeStart;
  const label = `host file${whose} ${formatBytes(size)} (${growth >= 0 ? "+" : ""}${formatBytes(growth)}): ${m.clusters} clusters of ${formatBytes(m.clusterSize)}, one cell = ${m.perCell} cluster${m.perCell === 1 ? "" : "s"}`;
  return { label, kinds: m.kinds, legend };
}

function slowestView(runs: readonly LiveReplay[], rows: number): DashboardView["slowest"] {
  const two = runs.length > 1;
  const all = runs.flatMap((r) => r.slowest.map((s) => ({ s, r }))).sort((a, b) => b.s.latencyUs - a.s.latencyUs);
  const headers = [...(two ? [""] : []), "#", "request", "latency", "why"];
  return {
    headers,
    rows: all.slice(0, rows).map(({ s, r }) => [
      ...(two ? [runTag(runs, r)] : []),
      String(s.index + 1),
      s.op === "flush" ? "flush" : `${s.op === "write-zeroes" ? "zero" : s.op} ${hex(s.offset)}+${formatBytes(s.length).replace(" ", "")}`,
      formatUs(s.latencyUs),
      s.why.length ? s.why.join("; ") : topCause(s.causes),
    ]),
  };
}

function topCause(causes: Record<string, number>): string {
  const best = Object.entries(causes).sort((a, b) => b[1] - a[1])[0];
  return best ? `${best[0]} ${formatUs(best[1])}` : "";
}
