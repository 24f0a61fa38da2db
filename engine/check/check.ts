// `qemu-img check` for qcow2, as QEMU 7.2 does it read-only: open (with QEMU's refusals), read the snapshot
// table, count every reference the metadata makes into an in-memory refcount table, compare it with the stored
// refcounts, check the COPIED flags, and report QEMU's counters, messages and image end offset.
import type { Storage } from "../storage/storage.js";
import { countBitmapReferences, loadBitmapsAtOpen } from "./bitmap-check.js";
import {
  CheckAborted,
  CheckContext,
  RepairRefused,
  emptyResult,
  refcountArrayBytes,
  type CheckMessageKind,
  type CheckMessageSink,
  type CheckResult,
} from "./check-context.js";
import { checkRefcountsL1, type CopiedScan } from "./l2-walk.js";
import { checkOflagCopied } from "./oflag-copied.js";
import { openForCheck, type OpenedForCheck, type U64 } from "./open-validation.js";
import { countSnapshotReferences, readSnapshotTableForCheck, type SnapshotTable } from "./snapshot-check.js";
import { StoredRefcounts, type RefcountFix } from "./stored-refcounts.js";
import { applyRefcountRepairs } from "./repair.js";
import { rebuildRefcountStructure } from "./rebuild.js";
import { RepairOverlap } from "./repair-overlap.js";
import { TableWindow } from "./table-window.js";

export type { CheckResult, CheckMessageKind, CheckMessageSink } from "./check-context.js";
export { QemuOpenError } from "./open-validation.js";
export { CheckAborted } from "./check-context.js";

export interface CheckOptions {
  /** Receives QEMU's stderr lines as they happen; without it they are collected in CheckReport.messages. */
  onMessage?: CheckMessageSink;
  /** Bound on the two in-memory refcount arrays, computed and stored (default 1 GiB). */
  maxMemoryBytes?: number;
  /** Bound on L1/L2 entries walked over all tables (default 2^32). */
  maxEntries?: number;
  /** How to tell whether a backing or external data file exists (QEMU fails to open the image without it). */
  exists?: (path: string) => boolean;
  /** Check an encrypted image although no key is given (qemu-img refuses to open it without one). */
  withoutKey?: boolean;
  /**
   * check -r: make the repairs QEMU makes, written through `storage` (a RepairOverlay: the caller commits it to
   * the file once the check completes, and discards it when the check fails).
   */
  fix?: "leaks" | "all";
}

export interface CheckReport {
  filename: string;
  format: "qcow2";
  result: CheckResult;
  /**
   * Set when the check could not complete (QEMU's check returned an error): qemu-img then prints no summary,
   * reports "Check failed: <failed>" and exits 1.
   */
  failed?: string;
  /** check -r stopped before a repair qcowdbg does not model: nothing it decided may be written. */
  refused?: boolean;
  /** The messages, when no onMessage sink was given. */
  messages: { line: string; kind: CheckMessageKind }[];
}

export const DEFAULT_MAX_MEMORY_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 2 ** 32;
const INT_MAX = 0x7fffffff;

/**
 * Checks a qcow2 image read-only. Throws QemuOpenError when QEMU would refuse to open the image, and a plain
 * Error when the image is beyond what this checker will hold in memory or walk.
 */
export function checkImage(storage: Storage, filename: string, opts: CheckOptions = {}): CheckReport {
  const messages: CheckReport["messages"] = [];
  const emit: CheckMessageSink = opts.onMessage ?? ((line, kind) => messages.push({ line, kind }));
  const img = openForCheck(storage, filename, emit, { exists: opts.exists, withoutKey: opts.withoutKey });
  loadBitmapsAtOpen(storage, img);

  const g = img.g;
  const ctx = new CheckContext(storage, filename, img.fileSize, g, emit, opts.maxEntries ?? DEFAULT_MAX_ENTRIES);
  ctx.fixErrors = opts.fix === "all";
  const report: CheckReport = { filename, format: "qcow2", result: ctx.res, messages };
  let overlap: RepairOverlap | undefined;
  try {
    if (opts.fix) {
      if (!storage.writable) throw new Error(`${filename}: check -r needs a writable storage (the repair overlay)`);
      refuseUnmodelledOpen(ctx, img);
    }
    const snapshots = readSnapshotTableForCheck(ctx, img);

    const nbClusters = Math.ceil(img.fileSize / g.clusterSize);
    if (nbClusters > INT_MAX) {
      ctx.res.checkErrors++;
      throw new CheckAborted("File too large");
    }
    // Two arrays: the computed refcounts and the stored ones.
    const bytes = 2 * (nbClusters + 1) * refcountArrayBytes(g.refcountOrder);
    const limit = opts.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
    if (bytes > limit)
      throw new Error(
        `${filename}: ${nbClusters} host clusters need ${Math.ceil(bytes / 2 ** 20)} MiB of refcounts in memory, above the limit of ${Math.floor(limit / 2 ** 20)} MiB`,
      );
    ctx.allocate(nbClusters);
    ctx.res.totalClusters = img.totalClusters;
    let stored = new StoredRefcounts(ctx, img.reftable);
    stored.load(nbClusters + 1);
    // With the image writable QEMU's first lookup through an unaligned refcount block marks the image corrupt
    // and makes it unusable mid-check; qcowdbg does not follow it there.
    if (opts.fix && [...stored.failing.values()].includes("unaligned"))
      ctx.refuseRepair("a refcount block is not cluster aligned: QEMU would mark the image corrupt and stop using it");

    const l1Size = img.header.l1Size;
    // While walking the active table, note which L2 tables may break the COPIED rule; when a refcount block is
    // unreadable every lookup must go through QEMU's error path, so every table is re-walked.
    const copied = stored.failing.size === 0 && !opts.fix ? { stored: stored.values, marks: new Uint8Array(l1Size) } : undefined;
    let win = new TableWindow(storage, g.clusterSize);
    calculateRefcounts(ctx, img, win, snapshots, stored, { offset: img.reftableOffset, bytes: img.reftable.length }, copied);

    overlap = new RepairOverlap(ctx, img, snapshots);
    if (opts.fix) stored = repairRefcounts(ctx, img, snapshots, stored, opts.fix, () => (win = new TableWindow(storage, g.clusterSize)), overlap);
    else stored.compare();
    const repair = opts.fix === "all" || (opts.fix === "leaks" && !ctx.res.checkErrors && !ctx.res.corruptions && !ctx.res.leaks);
    checkOflagCopied(ctx, win, stored, img.l1, l1Size, copied?.marks, repair ? { l1Offset: img.l1TableOffset.n, overlap } : undefined);
  } catch (e) {
    if (!(e instanceof CheckAborted)) throw e;
    report.failed = e.why;
    if (e instanceof RepairRefused) report.refused = true;
  }
  if (opts.fix && !report.refused && !overlap?.fatal) markClean(ctx, img, report.failed === undefined && !ctx.res.checkErrors && !ctx.res.corruptions);
  return report;
}

/**
 * What a read-write open of qemu-img check -r does before the check that qcowdbg does not: rewriting the header
 * (unknown autoclear bits cleared) and the bitmap directory. The dirty and corrupt bits are cleared afterwards by
 * rewriting the header, which qcowdbg does by changing the bits alone: the same bytes only for a header laid out
 * as QEMU 7.2 writes it (header_length 112).
 */
function refuseUnmodelledOpen(ctx: CheckContext, img: OpenedForCheck): void {
  const h = img.header;
  if (img.bitmaps) ctx.refuseRepair("the image has persistent bitmaps: QEMU's read-write open rewrites their directory");
  if (h.autoclearFeatures & ~3n) ctx.refuseRepair("the header has unknown autoclear feature bits: QEMU's read-write open clears them and rewrites the header");
  if (h.incompatibleFeatures & 3n && h.headerLength !== 112)
    ctx.refuseRepair(`the image is marked ${h.incompatibleFeatures & 1n ? "dirty" : "corrupt"} and its header is ${h.headerLength} bytes long: QEMU would rewrite it in its own 112-byte layout`);
}

/**
 * qcow2_mark_clean() and qcow2_mark_consistent() after a repair that left no error or corruption, and the
 * mark_clean() of closing the image otherwise: the incompatible feature bits 0 (dirty) and 1 (corrupt).
 */
function markClean(ctx: CheckContext, img: OpenedForCheck, consistent: boolean): void {
  if (img.header.version < 3) return;
  const b = new Uint8Array(1);
  ctx.storage.read(b, 79);
  const bits = b[0]! & ~(consistent ? 3 : 1);
  if (bits === b[0]) return;
  b[0] = bits;
  ctx.storage.write(b, 79);
}

/** calculate_refcounts(): every reference the metadata makes, counted into ctx.refs, then check_refblocks(). */
function calculateRefcounts(
  ctx: CheckContext,
  img: OpenedForCheck,
  win: TableWindow,
  snapshots: SnapshotTable,
  stored: StoredRefcounts,
  reftable: { offset: U64; bytes: number },
  copied?: CopiedScan,
): void {
  const l1Size = img.header.l1Size;
  ctx.inc(0, ctx.g.clusterSize);
  ctx.walk(l1Size);
  checkRefcountsL1(ctx, win, img.l1, img.l1TableOffset, l1Size, true, copied);
  countSnapshotReferences(ctx, win, snapshots);
  ctx.inc(reftable.offset.n, reftable.bytes, reftable.offset);
  if (img.crypto && img.crypto.length !== 0) ctx.inc(img.crypto.offset, img.crypto.length, img.crypto.at);
  countBitmapReferences(ctx, img);
  stored.checkRefblocks();
}

/**
 * qcow2_check_refcounts() with fix: compare once without fixing (messages as usual). If a cluster in use has
 * refcount 0 or a refcount block is unusable, -r all rebuilds the refcount structure, counts everything again and
 * frees the old structure (-r leaks gives up); otherwise, when anything is wrong, compare again from the same
 * state with fixing on, which says "Repairing" instead. Returns the stored refcounts the COPIED check reads.
 */
function repairRefcounts(
  ctx: CheckContext,
  img: OpenedForCheck,
  snapshots: SnapshotTable,
  stored: StoredRefcounts,
  fix: "leaks" | "all",
  newWindow: () => TableWindow,
  overlap: RepairOverlap,
): StoredRefcounts {
  const res = ctx.res;
  const g = ctx.g;
  const out = ctx.storage;
  const before = { ...res };
  const probe: RefcountFix = { leaks: false, errors: false, rebuild: stored.rebuild, repairs: [] };
  stored.compare(probe);
  if (probe.rebuild && fix === "all") {
    const old = { ...res };
    ctx.say("Rebuilding refcount structure");
    const rebuilt = rebuildRefcountStructure(out, g, ctx.refs, ctx.nbClusters, (offset, size, what) =>
      overlap.check(offset, size, "none", () => {
        ctx.emit(`ERROR writing ${what}: Input/output error`, "report");
        if (what === "refblock") res.checkErrors++;
      }),
    );
    res.corruptions = 0;
    res.leaks = 0;
    // The old reftable has been exchanged for a new one: every reference is counted again, without fixing.
    ctx.fixErrors = false;
    ctx.recount(out.size(), rebuilt.nbClusters);
    const reftable = new Uint8Array(rebuilt.reftableClusters * g.clusterSize);
    out.read(reftable, rebuilt.reftableOffset);
    overlap.reftableOffset = rebuilt.reftableOffset;
    overlap.reftable = reftable;
    const fresh = new StoredRefcounts(ctx, reftable);
    fresh.load(ctx.nbClusters + 1);
    const at = { hi: Math.floor(rebuilt.reftableOffset / 2 ** 32), lo: rebuilt.reftableOffset % 2 ** 32, n: rebuilt.reftableOffset };
    calculateRefcounts(ctx, img, newWindow(), snapshots, fresh, { offset: at, bytes: reftable.length });
    // The old structure is leaked now: free it. Only leaks this leaves unfixed are counted.
    const saved = { ...res };
    Object.assign(res, emptyResult());
    const plan: RefcountFix = { leaks: true, errors: false, rebuild: false, repairs: [] };
    fresh.compare(plan);
    applyRefcountRepairs(out, g, fresh, plan.repairs);
    if (plan.rebuild) ctx.say("ERROR rebuilt refcount structure is still broken");
    const freshLeaks = res.leaks;
    const end = res.imageEndOffset;
    Object.assign(res, saved);
    res.imageEndOffset = end;
    if (res.corruptions < old.corruptions) res.corruptionsFixed += old.corruptions - res.corruptions;
    if (res.leaks < old.leaks) res.leaksFixed += old.leaks - res.leaks;
    res.leaks += freshLeaks;
    return fresh;
  }
  if (probe.rebuild) {
    ctx.say("ERROR need to rebuild refcount structures");
    res.checkErrors++;
    throw new CheckAborted("Input/output error");
  }
  if (!res.leaks && !res.corruptions) return stored;
  Object.assign(res, before);
  const plan: RefcountFix = { leaks: true, errors: fix === "all", rebuild: false, repairs: [] };
  stored.compare(plan);
  applyRefcountRepairs(out, g, stored, plan.repairs);
  return stored;
}
