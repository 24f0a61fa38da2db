// What-if runs: the same trace under other configurations. Engine options (l2-cache-size=..., cache=...) are
// EngineConfig values; image-format options (cluster_size=, extended_l2=) need another image, made as a
// converted copy with qemu-img in a temporary folder (the user's image is only read).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseConfigOptions, parseSize, type EngineConfig } from "../image/engine-config.js";
import { Qcow2Image } from "../image/qcow2-image.js";
import type { ReplaySummary } from "./replay-stats.js";
import { formatBytes, formatUs, NO_LOOKUPS, percent } from "./human-units.js";
import { CAUSE_NAMES } from "./cost-model.js";

export type Preallocation = "off" | "metadata" | "falloc" | "full";
export const PREALLOCATIONS: readonly Preallocation[] = ["off", "metadata", "falloc", "full"];

export interface FormatOptions {
  clusterSize?: number;
  extendedL2?: boolean;
  /** qemu-img's preallocation= for the converted copy (metadata: every L2 entry points at a cluster). */
  preallocation?: Preallocation;
}

export interface Variant {
  /** As the user wrote it ("baseline" for the run without changes). */
  label: string;
  config: EngineConfig;
  format: FormatOptions;
}

const FORMAT_KEYS = new Set(["cluster_size", "cluster-size", "extended_l2", "extended-l2", "preallocation"]);

/** Splits "l2-cache-size=4M,cluster_size=128k,extended_l2=on" into engine options (on top of `base`) and format options. */
export function parseVariant(spec: string, base: EngineConfig): Variant {
  const engineParts: string[] = [];
  const format: FormatOptions = {};
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const val = eq < 0 ? "on" : part.slice(eq + 1).trim();
    if (!FORMAT_KEYS.has(key)) {
      engineParts.push(part);
      continue;
    }
    if (key === "preallocation") {
      if (!(PREALLOCATIONS as readonly string[]).includes(val)) throw new Error(`preallocation: '${val}' is not one of ${PREALLOCATIONS.join(", ")}`);
      format.preallocation = val as Preallocation;
    } else if (key.startsWith("cluster")) {
      const cs = parseSize(val);
      if (cs < 512 || cs > 2 * 1024 * 1024 || (cs & (cs - 1)) !== 0) throw new Error(`cluster_size: '${val}' is not a power of two between 512 and 2M`);
      format.clusterSize = cs;
    } else {
      if (/^(on|true|yes|1)$/i.test(val)) format.extendedL2 = true;
      else if (/^(off|false|no|0)$/i.test(val)) format.extendedL2 = false;
      else throw new Error(`extended_l2: '${val}' is not on/off`);
    }
  }
  return { label: spec, config: parseConfigOptions(engineParts.join(","), base), format };
}

export function needsConversion(f: FormatOptions): boolean {
  return f.clusterSize !== undefined || f.extendedL2 !== undefined || f.preallocation !== undefined;
}

/** True when `qemu-img` runs (converted copies need it). */
export function qemuImgAvailable(): boolean {
  const r = spawnSync("qemu-img", ["--version"], { encoding: "utf8" });
  return r.status === 0;
}

/** A temporary folder for converted copies; remove it with removeWorkDir. */
export function makeWorkDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), WORK_DIR_PREFIX));
}
const WORK_DIR_PREFIX = "qcowdbg-replay-";

export function removeWorkDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(memoryTwin(dir), { recursive: true, force: true });
}

/** Where RAM-backed copies go: /dev/shm, when it is a writable folder (Linux). */
const SHM = "/dev/shm";
/** Largest copy kept in RAM, and the free room /dev/shm must have beyond it (a multiple). */
const MEMORY_COPY_MAX = 256 * 2 ** 20;
const MEMORY_COPY_ROOM = 4;

/** The work folder's twin in /dev/shm (same name; removed with it). */
function memoryTwin(dir: string): string {
  return path.join(SHM, path.basename(dir));
}

/**
 * The folder for a copy of about `bytes`: the work folder's twin in /dev/shm when the copy is small and it has
 * room, else the work folder. qemu-img syncs hundreds of times while it preallocates metadata (805 fdatasyncs for
 * a 100 GiB image: 1.2-2.2 s on a busy disk, 0.15 s in RAM), and the verification runs wait for their copy; the
 * copy is the same either way, read-only to the replay and gone at the end.
 */
function copyFolder(dir: string, bytes: number): string {
  // Only for a work folder of makeWorkDir's (any thread's), whose removeWorkDir removes the twin too.
  const ours = path.dirname(path.resolve(dir)) === path.resolve(os.tmpdir()) && path.basename(dir).startsWith(WORK_DIR_PREFIX);
  if (process.platform !== "linux" || !ours || !(bytes <= MEMORY_COPY_MAX)) return dir;
  try {
    const st = fs.statfsSync(SHM);
    if (st.bavail * st.bsize < MEMORY_COPY_ROOM * bytes + MEMORY_COPY_MAX) return dir;
    const twin = memoryTwin(dir);
    fs.mkdirSync(twin, { recursive: true, mode: 0o700 });
    return twin;
  } catch {
    return dir;
  }
}

/** Bytes the file takes on its disk (sparse files: their allocated blocks), or Infinity when unknown. */
function allocatedBytes(file: string): number {
  try {
    const st = fs.statSync(file);
    return st.blocks > 0 ? st.blocks * 512 : st.size;
  } catch {
    return Infinity;
  }
}

/** The qemu-img arguments and the copy's path for convertedCopy (the image is opened to read its options). */
export function convertArgs(imagePath: string, f: FormatOptions, dir: string): { args: string[]; out: string } {
  const img = Qcow2Image.open(imagePath, { noBacking: true });
  let opts: string[];
  let backing: string[] = [];
  let clusterSize = 0;
  let imageSize = 0;
  try {
    const cs = f.clusterSize ?? img.clusterSize;
    clusterSize = cs;
    imageSize = img.virtualSize;
    const ext = f.extendedL2 ?? img.geo.extendedL2;
    if (ext && cs < 16384) throw new Error(`extended_l2=on needs a cluster size of at least 16K (asked: ${formatBytes(cs)})`);
    if (img.header.version < 3 && ext) throw new Error("extended_l2=on needs a version 3 image");
    opts = [`cluster_size=${cs}`, `extended_l2=${ext ? "on" : "off"}`, `refcount_bits=${2 ** img.header.refcountOrder}`];
    if (f.preallocation) opts.push(`preallocation=${f.preallocation}`);
    if (img.header.version >= 3) opts.push(`lazy_refcounts=${img.lazyRefcounts ? "on" : "off"}`, `compression_type=${img.header.compressionType === 1 ? "zstd" : "zlib"}`);
    else opts.push("compat=0.10");
    if (img.hasDataFile) throw new Error("images with an external data file cannot be converted for a what-if run");
    if (img.backingName !== null) {
      const b = path.isAbsolute(img.backingName) ? img.backingName : path.join(path.dirname(path.resolve(imagePath)), img.backingName);
      backing = ["-B", b, "-F", img.ext.backingFormat ?? "qcow2"];
    }
  } finally {
    img.close();
  }
  // The copy holds the image's data and, with metadata preallocated, an L2 entry and a refcount per cluster (at
  // most 8 + 8 bytes); falloc/full preallocation reserves the whole virtual size.
  const prealloc = f.preallocation === undefined || f.preallocation === "off" ? 0 : f.preallocation === "metadata" ? (imageSize / clusterSize) * 16 : Infinity;
  const bytes = allocatedBytes(imagePath) + prealloc + 2 ** 20;
  const out = path.join(copyFolder(dir, bytes), `${path.basename(imagePath).replace(/\.[^.]*$/, "")}-${opts.slice(0, 2).join("-").replace(/[=,]/g, "")}${f.preallocation ? `-prealloc${f.preallocation}` : ""}.qcow2`);
  return { args: ["convert", "-O", "qcow2", "-o", opts.join(","), ...backing, imagePath, out], out };
}

/**
 * `qemu-img convert -O qcow2 -o cluster_size=...,extended_l2=...[,preallocation=...]` of the image into `dir`, keeping its refcount
 * width, lazy refcounts and compression type, and its backing file as a backing file (-B) rather than merging it.
 */
export function convertedCopy(imagePath: string, f: FormatOptions, dir: string): string {
  const { args, out } = convertArgs(imagePath, f, dir);
  const r = spawnSync("qemu-img", args, { encoding: "utf8" });
  if (r.error) throw new Error(`qemu-img convert: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`qemu-img convert failed: ${(r.stderr || r.stdout).trim().split("\n")[0]}`);
  return out;
}

export interface CompareRow {
  label: string;
  image: string;
  clusterSize: number;
  extendedL2: boolean;
  l2CacheBytes: number;
  l2EntrySize: number;
  cacheMode: string;
  lazyRefcounts: boolean;
  totalUs: number;
  avgUs: number;
  p99Us: number;
  maxUs: number;
  l2HitRate: number;
  l2Lookups: number;
  l2Misses: number;
  l2RepeatMisses: number;
  refcountHitRate: number;
  refcountLookups: number;
  metadataIoPerGuestIo: number;
  cowBytes: number;
  syncs: number;
  growth: number;
  timeByCause: Record<string, number>;
  /** replay --crash-safety: whether a crash during the trace can corrupt the image or lose flushed data. */
  crashSafety?: string;
}

export function compareRow(label: string, s: ReplaySummary): CompareRow {
  const all = s.ops[s.ops.length - 1]!;
  const byCause: Record<string, number> = {};
  for (const c of s.timeByCause) byCause[c.cause] = c.us;
  return {
    label,
    image: s.image.path,
    clusterSize: s.image.clusterSize,
    extendedL2: s.image.extendedL2,
    l2CacheBytes: s.image.l2CacheBytes,
    l2EntrySize: s.image.l2EntrySize,
    cacheMode: s.image.cacheMode,
    lazyRefcounts: s.image.lazyRefcounts,
    totalUs: s.totalUs,
    avgUs: all.avgUs,
    p99Us: all.p99Us,
    maxUs: all.maxUs,
    l2HitRate: s.caches.l2.hitRate,
    l2Lookups: s.caches.l2.hits + s.caches.l2.misses,
    l2Misses: s.caches.l2.misses,
    l2RepeatMisses: s.caches.l2.repeatMisses,
    refcountHitRate: s.caches.refcount.hitRate,
    refcountLookups: s.caches.refcount.hits + s.caches.refcount.misses,
    metadataIoPerGuestIo: s.metadata.perGuestIo,
    cowBytes: s.cow.bytes,
    syncs: s.flushes.syncs,
    growth: s.image.growth,
    timeByCause: byCause,
  };
}

/** The rows side by side: one column per configuration, one line per measure. */
export function formatCompareTable(rows: CompareRow[]): string[] {
  const base = rows[0];
  const lines: [string, (r: CompareRow) => string][] = [
    ["cluster size", (r) => formatBytes(r.clusterSize) + (r.extendedL2 ? " (ext L2)" : "")],
    ["L2 cache", (r) => `${formatBytes(r.l2CacheBytes)} / ${formatBytes(r.l2EntrySize)} entries`],
    ["cache mode", (r) => r.cacheMode],
    ["lazy refcounts", (r) => (r.lazyRefcounts ? "on" : "off")],
    ["modelled time", (r) => formatUs(r.totalUs) + (base && r !== base && base.totalUs > 0 ? ` (${signedPercent(r.totalUs, base.totalUs)})` : "")],
    ["avg latency", (r) => formatUs(r.avgUs)],
    ["p99 latency", (r) => formatUs(r.p99Us)],
    ["max latency", (r) => formatUs(r.maxUs)],
    ["L2 hit rate", (r) => (r.l2Lookups ? percent(r.l2HitRate, 1) : NO_LOOKUPS)],
    ["L2 misses (repeat)", (r) => `${r.l2Misses} (${r.l2RepeatMisses})`],
    ["refcount hit rate", (r) => (r.refcountLookups ? percent(r.refcountHitRate, 1) : NO_LOOKUPS)],
    ["metadata I/O per guest I/O", (r) => r.metadataIoPerGuestIo.toFixed(3)],
    ["COW bytes", (r) => formatBytes(r.cowBytes)],
    ["syncs", (r) => String(r.syncs)],
    ["image growth", (r) => formatBytes(r.growth)],
    ...(rows.some((r) => r.crashSafety) ? [["crash safety", (r: CompareRow) => r.crashSafety ?? "-"] as [string, (r: CompareRow) => string]] : []),
    ...CAUSE_NAMES.map((c): [string, (r: CompareRow) => string] => [`  time: ${c}`, (r) => formatUs(r.timeByCause[c] ?? 0)]),
  ];
  const head = ["", ...rows.map((r) => r.label || "baseline")];
  const table = [head, ...lines.map(([name, f]) => [name, ...rows.map(f)])];
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd());
}

function signedPercent(v: number, base: number): string {
  const d = ((v - base) / base) * 100;
  return `${d >= 0 ? "+" : ""}${d.toFixed(1)}%`;
}
