// The diagnosis of one replay as data (the JSON the CLI prints with --output=json) and as text: totals, time by
// cause, a btt-style latency table (MIN/AVG/MAX/N per op, then percentiles), the slowest requests and why, and
// the verified recommendations.
import { CAUSE_NAMES } from "./cost-model.js";
import { formatBytes, formatUs, hex, percent } from "./human-units.js";
import type { Recommendation } from "./recommend.js";
import type { CacheSummary, ReplaySummary } from "./replay-stats.js";
import { formatSettingSources, type SettingSource } from "./setting-sources.js";

export interface TraceInfo {
  path: string;
  format: string;
  lines: number;
  skipped: number;
  filtered: number;
  fit?: string;
  /** --fill: the replay ran on a temporary copy of the image whose read ranges were written first. */
  filled?: boolean;
}

/** The version of the replay report's JSON (docs/json-output.md): bumped when a field changes meaning or goes. */
export const REPLAY_REPORT_SCHEMA = "qcowdbg-replay/1";

export interface ReplayReport {
  schema: typeof REPLAY_REPORT_SCHEMA;
  trace: TraceInfo;
  profile: { name: string; description: string };
  summary: ReplaySummary;
  recommendations: Recommendation[];
  /**
   * Set when no recommendation was computed (`replay --no-recommend`), saying why: `recommendations` is then
   * empty because nothing was looked for, not because nothing tunable was found or verified.
   */
  recommendationsNotComputed?: string;
  /** Recommendations that could not be tried, and why (e.g. qemu-img missing). */
  notes: string[];
  /** Where each setting comes from (user option, QEMU default, image header). */
  settings?: SettingSource[];
}

/** `notComputed`: why no recommendation was looked for (the report then says so instead of "none"). */
export function buildReport(trace: TraceInfo, profile: { name: string; description: string }, summary: ReplaySummary, recommendations: Recommendation[], notes: string[] = [], settings?: SettingSource[], notComputed?: string): ReplayReport {
  return { schema: REPLAY_REPORT_SCHEMA, trace, profile, summary, recommendations, ...(notComputed !== undefined ? { recommendationsNotComputed: notComputed } : {}), notes, ...(settings ? { settings } : {}) };
}

/** btt prints seconds with nine decimals. */
function secs(us: number): string {
  return (us / 1e6).toFixed(9);
}

function table(rows: string[][], alignLeft = 1): string[] {
  if (!rows.length) return [];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd());
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function cacheLine(c: CacheSummary): string {
  if (c.hits + c.misses === 0) return `no lookups, ${plural(c.writebacks, "write-back")}`;
  return `${percent(c.hitRate, 1)} hits (${plural(c.hits, "hit")}, ${plural(c.misses, "miss", "misses")} of which ${c.repeatMisses} repeat), ${plural(c.writebacks, "write-back")}`;
}

function bar(share: number, width = 20): string {
  return "#".repeat(Math.round(share * width));
}

export function formatReport(r: ReplayReport, opts: { top?: number } = {}): string[] {
  const s = r.summary;
  const im = s.image;
  const out: string[] = [];
  const ind = (lines: string[]) => lines.map((l) => `  ${l}`);
  out.push(`qcowdbg replay: ${im.path}${r.trace.filled ? " (filled copy: --fill wrote the trace's read ranges first)" : ""} <- ${r.trace.path} (${r.trace.format}, ${s.requests} requests${r.trace.fit ? `, fit ${r.trace.fit}` : ""})`);
  if (r.trace.skipped || r.trace.filtered) out.push(`  trace: ${r.trace.skipped} malformed lines skipped, ${r.trace.filtered} requests filtered or dropped`);
  out.push(
    `image: ${formatBytes(im.virtualSize)} virtual, ${formatBytes(im.clusterSize)} clusters${im.extendedL2 ? " (extended L2)" : ""}, ${im.refcountBits}-bit refcounts; ` +
      `L2 cache ${formatBytes(im.l2CacheBytes)} (${im.l2CacheEntries} x ${formatBytes(im.l2EntrySize)}) covers ${formatBytes(im.l2Coverage)}; ` +
      `refcount cache ${im.refcountCacheEntries} entries; cache=${im.cacheMode}, lazy refcounts ${im.lazyRefcounts ? "on" : "off"}`,
  );
  out.push(`device profile: ${r.profile.name} (${r.profile.description}); requests modelled one at a time`);
  if (r.settings) {
    out.push("settings:");
    out.push(...formatSettingSources(r.settings));
  }
  out.push("");

  out.push("Requests");
  const opRows = [["op", "count", "bytes", "errors"], ...s.ops.map((o) => [o.op, String(o.count), formatBytes(o.bytes), String(o.errors)])];
  out.push(...ind(table(opRows)));
  for (const e of s.errorSamples) out.push(`  error: ${e}`);
  if (s.outOfRange) out.push(`  ${plural(s.outOfRange, "request")} past the virtual size ${formatBytes(im.virtualSize)} not replayed: --fit wrap|scale|drop maps them onto the image`);
  out.push("");

  const l2 = s.caches.l2;
  const rc = s.caches.refcount;
  const totals: [string, string][] = [
    ["metadata I/O per guest I/O", `${s.metadata.perGuestIo.toFixed(3)} (${s.metadata.reads} reads ${formatBytes(s.metadata.readBytes)}, ${s.metadata.writes} writes ${formatBytes(s.metadata.writeBytes)})`],
    ["L2 cache", cacheLine(l2)],
    ["refcount cache", cacheLine(rc)],
  ];
  if (s.caches.backing.hits + s.caches.backing.misses > 0) totals.push(["backing caches", `${plural(s.caches.backing.hits, "hit")}, ${plural(s.caches.backing.misses, "miss", "misses")}`]);
  totals.push(
    ["host data", `${formatBytes(s.data.hostReadBytes)} read, ${formatBytes(s.data.hostWriteBytes)} written, ${formatBytes(s.data.backingBytes)} from backing files, ${formatBytes(s.data.decompressedBytes)} decompressed`],
    ["COW", `${formatBytes(s.cow.bytes)} in ${plural(s.cow.ops, "copy", "copies")}, ${s.cow.skipped} skipped (zeroes written)`],
    ["flushes", `${plural(s.flushes.requests, "guest flush", "guest flushes")}, ${plural(s.flushes.syncs, "sync")}${s.flushes.atClose ? ` (${s.flushes.atClose} closing the image)` : ""}`],
    [
      "allocations",
      `${plural(s.allocations.clusters, "cluster")} (${s.allocations.freed} freed), ${plural(s.allocations.l2Tables, "L2 table")}, ` +
        `${plural(s.allocations.refcountBlocks, "refcount block")}, ${plural(s.allocations.refcountUpdates, "refcount update")}`,
    ],
    ["image growth", `${formatBytes(im.growth)} (${formatBytes(im.fileSizeStart)} -> ${formatBytes(im.fileSizeEnd)})`],
    ["guest range touched", `${hex(s.touched.minOffset)} .. ${hex(s.touched.maxEnd)} (${formatBytes(s.touched.maxEnd - s.touched.minOffset)}), ${plural(s.touched.l2Tables, "L2 table")} mapping ${formatBytes(s.touched.coveredBytes)}`],
  );
  out.push("Totals");
  out.push(...ind(table(totals.map(([a, b]) => [a, b]), 2)));
  out.push("");

  out.push(`Time by cause (modelled)  total ${formatUs(s.totalUs)}`);
  const causes = [...s.timeByCause].sort((a, b) => b.us - a.us).filter((c) => c.us > 0);
  out.push(...ind(table(causes.map((c) => [c.cause, c.label, formatUs(c.us), percent(c.share, 1), bar(c.share)]), 2)));
  if (!causes.length) out.push("  nothing reached the device (reads of unallocated or zero clusters cost no I/O)");
  out.push("");

  out.push("Latency (modelled Q2C, seconds)");
  out.push(...ind(table([["", "MIN", "AVG", "MAX", "N"], ...s.ops.map((o) => [o.op, secs(o.minUs), secs(o.avgUs), secs(o.maxUs), String(o.count)])])));
  out.push("");
  out.push(...ind(table([["", "p50", "p90", "p99", "p99.9"], ...s.ops.map((o) => [o.op, formatUs(o.p50Us), formatUs(o.p90Us), formatUs(o.p99Us), formatUs(o.p999Us)])])));
  out.push("");

  const top = s.slowest.slice(0, opts.top ?? s.slowest.length);
  if (top.length) {
    out.push(`Slowest requests (${top.length})`);
    for (const q of top) {
      const range = q.op === "flush" ? "" : ` ${hex(q.offset)}+${formatBytes(q.length)}`;
      const parts = CAUSE_NAMES.filter((c) => q.causes[c]).sort((a, b) => q.causes[b]! - q.causes[a]!).map((c) => `${c} ${formatUs(q.causes[c]!)}`);
      out.push(`  #${q.index + 1} ${q.source} ${q.op}${range}: ${formatUs(q.latencyUs)}${parts.length ? ` (${parts.join(", ")})` : ""}`);
      for (const w of q.why) out.push(`      ${w}`);
    }
    out.push("");
  }

  // Advice the replay proved wrong for this trace is shown apart, with its numbers, rather than dropped.
  const given = r.recommendations.filter((x) => x.improved !== false && !x.dropped);
  const refuted = r.recommendations.filter((x) => x.improved === false);
  const small = r.recommendations.filter((x) => x.dropped);
  out.push("Recommendations");
  if (r.recommendationsNotComputed !== undefined) out.push(`  not computed: ${r.recommendationsNotComputed}`);
  else if (!given.length) out.push(`  none: ${refuted.length ? "nothing tried made this trace faster" : "no cause this model can tune takes a notable share of the time"}`);
  given.forEach((rec, i) => out.push(...formatRecommendation(rec, `${i + 1}.`)));
  if (small.length) out.push(`  not shown (verified gain under 1%): ${small.map((x) => `${x.option} ${((x.gain ?? 0) * -100).toFixed(1)}%`).join(", ")}`);
  for (const n of r.notes) out.push(`  note: ${n}`);
  if (refuted.length) {
    out.push("");
    out.push("Tried, but slower or no faster on this trace");
    for (const rec of refuted) out.push(...formatRecommendation(rec, "-"));
  }
  return out;
}

function formatRecommendation(rec: Recommendation, bullet: string): string[] {
  const pad = " ".repeat(bullet.length + 3);
  const gain = rec.gain !== undefined && rec.improved ? `  (verified: ${(rec.gain * -100).toFixed(1)}% modelled time)` : "";
  const out = [`  ${bullet} ${rec.option}${gain}`, `${pad}why: ${rec.reason}`, `${pad}expected: ${rec.expected}`];
  if (rec.effect) {
    out.push(`${pad}measured (replayed with ${rec.option}):`);
    for (const l of rec.effect) out.push(`${pad}  ${l}`);
  }
  if (rec.skipped) out.push(`${pad}${rec.skipped}`);
  if (rec.cost && rec.improved !== false) out.push(`${pad}cost: ${rec.cost}`);
  if (rec.caveat && rec.improved !== false) out.push(`${pad}note: ${rec.caveat}`);
  return out;
}
