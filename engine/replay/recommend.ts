// Tuning advice computed from one replay, each item checked by replaying the same trace with the advice
// applied: L2 cache size (QEMU's arithmetic: covered = l2_cache_size * cluster_size / 8), L2 entry size,
// cache mode, lazy refcounts, cluster size / extended L2 and preallocation (a converted copy, so only where
// qemu-img runs). Verified advice is ranked by its gain; gains under 1% are dropped (named in a note).
// The verifications run in one pass (runAll: every candidate stepped in lock-step from one parse of the trace),
// with the candidates together as a speculative "combined" run: it is kept when every candidate improves (the
// usual case) and run again alone only when fewer do. No candidate is derived analytically (say every L2 cache
// size from one pass of LRU stack distances, Mattson's way): stack distances give miss counts only, while an
// eviction changes the events themselves (a dirty slice's write-back, the flush that orders refcount blocks before
// L2 tables) and the advice's figures (modelled time, p99) need every request's cost, so each runs its own engine.
import type { EngineConfig } from "../image/engine-config.js";
import { parseVariant, type Variant } from "./compare.js";
import { formatBytes, formatOptionSize, formatUs, percent } from "./human-units.js";
import type { ReplaySummary } from "./replay-stats.js";

export interface Measured {
  totalUs: number;
  avgUs: number;
  p99Us: number;
  l2MissRate: number;
  l2Misses: number;
  l2RepeatMisses: number;
  syncs: number;
  cowBytes: number;
  /** The time of the causes this advice targets, µs. */
  targetUs: number;
}

export interface Recommendation {
  /** "combined": every verified improvement at once (listed last, when there are two or more). */
  id: "l2-cache-size" | "l2-cache-entry-size" | "cache-mode" | "lazy-refcounts" | "cluster-size" | "preallocation" | "combined";
  /** What to pass: a -drive option for engine settings, qemu-img create options for format settings. */
  option: string;
  reason: string;
  expected: string;
  caveat?: string;
  /** What it costs: host memory for a cache, safety for a cache mode or lazy refcounts, disk space, a conversion. */
  cost?: string;
  /** Verified gain: the share of the modelled time saved (0.25 = 25% less). */
  gain?: number;
  /** Set when verified but dropped from the advice: the gain is under MIN_GAIN. */
  dropped?: string;
  /** Causes whose time this advice targets. */
  targets: string[];
  before?: Measured;
  after?: Measured;
  /** "measured: ..." lines once verified. */
  effect?: string[];
  improved?: boolean;
  skipped?: string;
}

export interface RecommendContext {
  baseline: ReplaySummary;
  config: EngineConfig;
  /** Replays the same trace under a variant (converting the image when the variant asks for format options). */
  run(variant: Variant): ReplaySummary;
  /** Replays the trace once under several variants at once (lock-step); an Error in place of a run that failed. Without it, `run` each. */
  runAll?(variants: Variant[]): (ReplaySummary | Error)[];
  /** Whether converted copies can be made (qemu-img runs). */
  canConvert: boolean;
  /** Called before each verification run (progress). */
  onVerify?: (r: Recommendation) => void;
}

/** Verified gains below this are not advice (a 0.4% gain is noise next to the model's own error). */
export const MIN_GAIN = 0.01;
/** Shares of the modelled time above which an advice is worth giving. */
const L2_ENTRY_SHARE = 0.05;
const FLUSH_SHARE = 0.2;
const REFCOUNT_SHARE = 0.1;
const COW_SHARE = 0.1;
const PREALLOC_SHARE = 0.1;
/** A miss rate below this is not worth RAM. */
const L2_MISS_RATE = 0.01;
/** Subclusters of 4 KiB (the guest's page size) make small writes COW nothing: 128 KiB clusters with extended L2. */
const EXT_L2_CLUSTER = 128 * 1024;

function timeOf(s: ReplaySummary, causes: string[]): number {
  return s.timeByCause.filter((c) => causes.includes(c.cause)).reduce((a, c) => a + c.us, 0);
}

function shareOf(s: ReplaySummary, causes: string[]): number {
  return s.totalUs > 0 ? timeOf(s, causes) / s.totalUs : 0;
}

function missRate(s: ReplaySummary): number {
  const l2 = s.caches.l2;
  return l2.hits + l2.misses > 0 ? l2.misses / (l2.hits + l2.misses) : 0;
}

export function measure(s: ReplaySummary, targets: string[]): Measured {
  const all = s.ops[s.ops.length - 1]!;
  return {
    totalUs: s.totalUs,
    avgUs: all.avgUs,
    p99Us: all.p99Us,
    l2MissRate: missRate(s),
    l2Misses: s.caches.l2.misses,
    l2RepeatMisses: s.caches.l2.repeatMisses,
    syncs: s.flushes.syncs,
    cowBytes: s.cow.bytes,
    targetUs: timeOf(s, targets),
  };
}

/** The advice that the baseline's numbers call for (not yet verified). */
export function candidates(s: ReplaySummary, config: EngineConfig, canConvert: boolean): Recommendation[] {
  const out: Recommendation[] = [];
  const img = s.image;
  const l2 = s.caches.l2;
  const t = s.touched;

  // L2 cache size: enough for every L2 table the trace touches, when misses recur because the cache is smaller.
  if (l2.misses > 0 && missRate(s) >= L2_MISS_RATE && t.l2CacheNeeded > img.l2CacheBytes && l2.repeatMisses > 0) {
    const size = formatOptionSize(t.l2CacheNeeded);
    out.push({
      id: "l2-cache-size",
      option: `l2-cache-size=${size}`,
      reason:
        `l2-cache-size=${size} covers the ${formatBytes(t.coveredBytes)} this trace touches (${t.l2Tables} L2 table${t.l2Tables === 1 ? "" : "s"} of ` +
        `${formatBytes(img.clusterSize)}; ${formatBytes(t.l2CacheNeeded)} * ${formatBytes(img.clusterSize)} / ${img.extendedL2 ? 16 : 8}); ` +
        `now ${formatBytes(img.l2CacheBytes)} covers ${formatBytes(img.l2Coverage)}, and ${l2.repeatMisses} of ${l2.misses} L2 misses reload a table evicted before`,
      expected: `L2 misses ${percent(missRate(s), 1)} -> first loads only: no repeat misses after warm-up (${l2.repeatMisses} now)`,
      cost: `${formatBytes(t.l2CacheNeeded)} of host RAM per open image (now ${formatBytes(img.l2CacheBytes)})`,
      targets: ["l2-miss", "l2-writeback"],
    });
  }

  // Entry size: whole-cluster entries read and write back a full cluster to change 8 bytes.
  const entryShare = shareOf(s, ["l2-miss", "l2-writeback"]);
  if (img.l2EntrySize > 4096 && entryShare >= L2_ENTRY_SHARE) {
    out.push({
      id: "l2-cache-entry-size",
      option: "l2-cache-entry-size=4K",
      reason:
        `L2 loads and write-backs move whole ${formatBytes(img.l2EntrySize)} tables and take ${percent(entryShare, 1)} of the modelled time ` +
        `(${l2.misses} loads, ${l2.writebacks} write-backs); 4 KiB entries move 4 KiB each`,
      expected: `less time in L2 loads and write-backs (${formatUs(timeOf(s, ["l2-miss", "l2-writeback"]))} now)`,
      cost: "no extra memory (the same cache in smaller pieces); more, smaller reads where a whole table is walked",
      targets: ["l2-miss", "l2-writeback"],
    });
  }

  // Cache mode: writethrough flushes after every write.
  const flushShare = shareOf(s, ["flush", "l2-writeback", "refcount"]);
  if ((config.cacheMode === "writethrough" || config.cacheMode === "directsync") && flushShare >= FLUSH_SHARE) {
    const to = config.cacheMode === "directsync" ? "none" : "writeback";
    out.push({
      id: "cache-mode",
      option: `cache=${to}`,
      reason: `cache=${config.cacheMode} flushes after every write: ${s.flushes.syncs} syncs and metadata write-backs take ${percent(flushShare, 1)} of the modelled time`,
      expected: `syncs only when the guest flushes (${s.flushes.requests} flush request${s.flushes.requests === 1 ? "" : "s"} in this trace)`,
      cost: "safety: writes the guest has not flushed are lost on a host crash (as with a disk's volatile cache); safe only for guests that send flushes (virtio-blk/scsi with a modern OS)",
      targets: ["flush", "l2-writeback", "refcount"],
    });
  }

  // Lazy refcounts: refcount blocks must reach the disk (with a sync) before L2 entries that point at new clusters.
  const rcShare = shareOf(s, ["refcount", "flush"]);
  if (!img.lazyRefcounts && s.allocations.clusters > 0 && shareOf(s, ["refcount"]) > 0 && rcShare >= REFCOUNT_SHARE && config.lazyRefcounts !== true) {
    out.push({
      id: "lazy-refcounts",
      option: "lazy-refcounts=on",
      reason:
        `${s.allocations.clusters} cluster allocations keep refcounts in order: refcount block I/O and syncs take ${percent(rcShare, 1)} of the modelled time ` +
        `(${s.caches.refcount.writebacks} refcount write-backs, ${s.flushes.syncs} syncs)`,
      expected: "refcount blocks written back only at flush/close, fewer syncs",
      cost: "safety: after a host crash the image needs `qemu-img check -r all` (the dirty bit forces a refcount rebuild on the next open), and leaked clusters until then",
      caveat: "set it with `qemu-img amend -o lazy_refcounts=on` or per open",
      targets: ["refcount", "flush"],
    });
  }

  // Cluster size / extended L2: COW of partial cluster writes.
  const cowShare = shareOf(s, ["cow-read", "cow-write"]);
  if (cowShare >= COW_SHARE && !img.extendedL2) {
    const cs = Math.max(EXT_L2_CLUSTER, img.clusterSize);
    const r: Recommendation = {
      id: "cluster-size",
      option: `cluster_size=${formatOptionSize(cs)},extended_l2=on`,
      reason:
        `copy-on-write of partial clusters (${formatBytes(s.cow.bytes)} copied in ${s.cow.ops} COWs, ${s.cow.skipped} COW areas zero-filled instead) ` +
        `takes ${percent(cowShare, 1)} of the modelled time; ` +
        `extended L2 entries with ${formatBytes(cs)} clusters track ${formatBytes(cs / 32)} subclusters, so a write copies at most up to a subcluster boundary`,
      expected: "writes that cover whole subclusters need no COW and no zero-fill",
      caveat: "a format option: make the image with `qemu-img create -o cluster_size=...,extended_l2=on` or `qemu-img convert`",
      cost: `a conversion of the image; a first write allocates ${formatBytes(cs)} of host space instead of ${formatBytes(img.clusterSize)}`,
      targets: ["cow-read", "cow-write"],
    };
    if (!canConvert) r.skipped = "not verified: qemu-img is not installed (a converted copy is needed)";
    out.push(r);
  }

  // Preallocation: a growing image pays for allocation (metadata updates, zero-fill, syncs) on first writes.
  const allocShare = shareOf(s, ["allocation", "refcount", "cow-write", "flush", "l2-writeback"]);
  if (s.allocations.clusters > 0 && allocShare >= PREALLOC_SHARE) {
    const metaBytes = Math.ceil(img.virtualSize / img.clusterSize) * (img.extendedL2 ? 16 : 8);
    const r: Recommendation = {
      id: "preallocation",
      option: "preallocation=metadata",
      reason:
        `${s.allocations.clusters} cluster allocations (${s.allocations.l2Tables} L2 tables, ${s.allocations.refcountBlocks} refcount blocks, ${s.flushes.syncs} syncs) ` +
        `take ${percent(allocShare, 1)} of the modelled time; with preallocated metadata every guest cluster already has its host cluster`,
      expected: "first writes become overwrites: no L2/refcount updates and no syncs for allocation (the host file still allocates blocks)",
      caveat: "a format option: `qemu-img create -o preallocation=metadata` (or convert); falloc/full also reserve the data blocks",
      cost: `host disk: about ${formatBytes(metaBytes)} of L2 tables plus refcounts written up front, and a file as large as the virtual size (sparse)`,
      targets: ["allocation", "refcount", "cow-write", "flush", "l2-writeback"],
    };
    if (!canConvert) r.skipped = "not verified: qemu-img is not installed (a converted copy is needed)";
    out.push(r);
  }
  return out;
}

/** Verified advice by gain (largest first), "combined" last; gains under MIN_GAIN marked dropped. */
export function rankRecommendations(recs: Recommendation[]): Recommendation[] {
  for (const r of recs) {
    if (r.before && r.after && r.before.totalUs > 0) r.gain = (r.before.totalUs - r.after.totalUs) / r.before.totalUs;
    if (r.improved && r.gain !== undefined && r.gain < MIN_GAIN) r.dropped = `gain ${(r.gain * 100).toFixed(1)}% is under ${MIN_GAIN * 100}%`;
  }
  const key = (r: Recommendation) => (r.id === "combined" ? 2 : r.improved && !r.dropped ? 0 : 1);
  return [...recs].sort((a, b) => key(a) - key(b) || (b.gain ?? -Infinity) - (a.gain ?? -Infinity));
}

/** Candidates, each verified by a replay with the advice applied, then the improvements together. */
export function recommend(ctx: RecommendContext): Recommendation[] {
  const { recs, toRun, together } = plan(ctx.baseline, ctx.config, ctx.canConvert);
  for (const x of toRun) ctx.onVerify?.(x.r);
  const results = runAll(ctx, together ? [...toRun.map((x) => x.v), together] : toRun.map((x) => x.v));
  toRun.forEach((x, i) => settle(ctx, x.r, results[i]!));
  const ranked = rankRecommendations(recs);
  const good = ranked.filter((r) => r.improved && !r.dropped);
  if (good.length < 2) return ranked;
  const all: Recommendation = {
    id: "combined",
    option: good.map((r) => r.option).join(","),
    reason: `the ${good.length} improvements above at once`,
    expected: "their effects together (they may overlap)",
    targets: [...new Set(good.flatMap((r) => r.targets))],
  };
  if (together && good.length === toRun.length) settle(ctx, all, results[toRun.length]!);
  else {
    const v = variantOf(ctx.config, all);
    if (v) {
      ctx.onVerify?.(all);
      settle(ctx, all, runAll(ctx, [v])[0]!);
    }
  }
  ranked.push(all);
  return rankRecommendations(ranked);
}

/** The candidates for `baseline`, those with a variant to replay, and all of them together (when two or more). */
function plan(baseline: ReplaySummary, config: EngineConfig, canConvert: boolean): { recs: Recommendation[]; toRun: { r: Recommendation; v: Variant }[]; together: Variant | undefined } {
  const recs = candidates(baseline, config, canConvert);
  const toRun: { r: Recommendation; v: Variant }[] = [];
  for (const r of recs) {
    const v = variantOf(config, r);
    if (v) toRun.push({ r, v });
  }
  // The candidates together, in the same pass: the combined advice when they all improve.
  const together = toRun.length >= 2 ? variantOf(config, { option: toRun.map((x) => x.r.option).join(",") }) : undefined;
  return { recs, toRun, together };
}

/**
 * The variants recommend() replays in its first pass for `baseline` (every candidate, then all together). Given
 * the statistics of a prefix of the trace, a guess at them, which the replay can start early (speculative-runs.ts).
 */
export function firstPassVariants(baseline: ReplaySummary, config: EngineConfig, canConvert: boolean): Variant[] {
  const { toRun, together } = plan(baseline, config, canConvert);
  return together ? [...toRun.map((x) => x.v), together] : toRun.map((x) => x.v);
}

/** The variant to replay for an advice, or undefined (and the advice marked skipped) when there is none. */
function variantOf(config: EngineConfig, r: Pick<Recommendation, "option" | "skipped">): Variant | undefined {
  if (r.skipped) return undefined;
  try {
    return parseVariant(r.option, config);
  } catch (e) {
    r.skipped = `not verified: ${(e as Error).message}`;
    return undefined;
  }
}

function runAll(ctx: RecommendContext, variants: Variant[]): (ReplaySummary | Error)[] {
  if (variants.length === 0) return [];
  if (ctx.runAll) return ctx.runAll(variants);
  return variants.map((v) => {
    try {
      return ctx.run(v);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  });
}

/** Records a verification's result on the advice. */
function settle(ctx: RecommendContext, r: Recommendation, after: ReplaySummary | Error): void {
  if (after instanceof Error) {
    r.skipped = `not verified: ${after.message}`;
    return;
  }
  r.before = measure(ctx.baseline, r.targets);
  r.after = measure(after, r.targets);
  r.improved = r.after.totalUs < r.before.totalUs;
  r.effect = effectLines(r, r.before, r.after);
}

function arrow(a: string, b: string): string {
  return `${a} -> ${b}`;
}

function effectLines(r: Recommendation, b: Measured, a: Measured): string[] {
  const lines: string[] = [];
  const change = b.totalUs > 0 ? ` (${(((a.totalUs - b.totalUs) / b.totalUs) * 100).toFixed(1)}%)` : "";
  lines.push(`modelled time ${arrow(formatUs(b.totalUs), formatUs(a.totalUs))}${change}; avg ${arrow(formatUs(b.avgUs), formatUs(a.avgUs))}; p99 ${arrow(formatUs(b.p99Us), formatUs(a.p99Us))}`);
  lines.push(`time in ${r.targets.join(" + ")}: ${arrow(formatUs(b.targetUs), formatUs(a.targetUs))}`);
  switch (r.id) {
    case "l2-cache-size":
    case "l2-cache-entry-size":
      lines.push(`L2 misses ${arrow(percent(b.l2MissRate, 1), percent(a.l2MissRate, 1))} (${arrow(String(b.l2Misses), String(a.l2Misses))}); repeat misses after warm-up ${arrow(String(b.l2RepeatMisses), String(a.l2RepeatMisses))}`);
      break;
    case "cache-mode":
    case "lazy-refcounts":
      lines.push(`syncs ${arrow(String(b.syncs), String(a.syncs))}`);
      break;
    case "combined":
      lines.push(`syncs ${arrow(String(b.syncs), String(a.syncs))}; L2 misses ${arrow(String(b.l2Misses), String(a.l2Misses))}; COW bytes ${arrow(formatBytes(b.cowBytes), formatBytes(a.cowBytes))}`);
      break;
    case "preallocation":
      lines.push(`syncs ${arrow(String(b.syncs), String(a.syncs))} (converted copy with preallocated metadata)`);
      break;
    case "cluster-size":
      lines.push(`COW bytes ${arrow(formatBytes(b.cowBytes), formatBytes(a.cowBytes))} (converted copy: data layout repacked by qemu-img)`);
      break;
  }
  return lines;
}
