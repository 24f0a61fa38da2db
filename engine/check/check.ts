// `qemu-img check` for qcow2, as QEMU 7.2 does it read-only: open (with QEMU's refusals), read the snapshot
// table, count every reference the metadata makes into an in-memory refcount table, compare it with the stored
// refcounts, check the COPIED flags, and report QEMU's counters, messages and image end offset.
import type { Storage } from "../storage/storage.js";
import { countBitmapReferences, loadBitmapsAtOpen } from "./bitmap-check.js";
import {
  CheckAborted,
  CheckContext,
  refcountArrayBytes,
  type CheckMessageKind,
  type CheckMessageSink,
  type CheckResult,
} from "./check-context.js";
import { checkRefcountsL1 } from "./l2-walk.js";
import { checkOflagCopied } from "./oflag-copied.js";
import { openForCheck } from "./open-validation.js";
import { countSnapshotReferences, readSnapshotTableForCheck } from "./snapshot-check.js";
import { StoredRefcounts, type RefcountFix } from "./stored-refcounts.js";
import type { RefcountRepair } from "./repair.js";
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
  /** check -r: decide the refcount repairs QEMU would make (CheckReport.repairs); the caller writes them. */
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
  /** check -r: the refcounts to write (writeRefcountRepairs), with leaksFixed/corruptionsFixed counted. */
  repairs?: RefcountRepair[];
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
  const report: CheckReport = { filename, format: "qcow2", result: ctx.res, messages };
  try {
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
    const stored = new StoredRefcounts(ctx, img.reftable);
    stored.load(nbClusters + 1);

    // calculate_refcounts()
    const win = new TableWindow(storage, g.clusterSize);
    ctx.inc(0, g.clusterSize);
    const l1Size = img.header.l1Size;
    // While walking the active table, note which L2 tables may break the COPIED rule; when a refcount block is
    // unreadable every lookup must go through QEMU's error path, so every table is re-walked.
    const copied = stored.failing.size === 0 ? { stored: stored.values, marks: new Uint8Array(l1Size) } : undefined;
    ctx.walk(l1Size);
    checkRefcountsL1(ctx, win, img.l1, img.l1TableOffset, l1Size, true, copied);
    countSnapshotReferences(ctx, win, snapshots);
    ctx.inc(img.reftableOffset.n, img.reftable.length, img.reftableOffset);
    if (img.crypto && img.crypto.length !== 0) ctx.inc(img.crypto.offset, img.crypto.length, img.crypto.at);
    countBitmapReferences(ctx, img);
    stored.checkRefblocks();

    if (opts.fix) {
      // A read-write open makes QEMU repair a dirty image itself and rewrite the bitmap directory: not modelled.
      if (img.header.incompatibleFeatures & 3n) throw new CheckAborted("the image is marked dirty or corrupt, which QEMU repairs on a read-write open (qcowdbg does not); nothing was repaired");
      if (img.bitmaps) throw new CheckAborted("the image has persistent bitmaps, whose directory QEMU rewrites on a read-write open (qcowdbg does not); nothing was repaired");
      report.repairs = planRepairs(ctx, stored, opts.fix);
    } else stored.compare();
    // After repairs the marks taken with the old refcounts say nothing: every table is looked at again.
    checkOflagCopied(ctx, win, stored, img.l1, l1Size, report.repairs?.length ? undefined : copied?.marks);
  } catch (e) {
    if (!(e instanceof CheckAborted)) throw e;
    report.failed = e.why;
  }
  return report;
}

/**
 * qcow2_check_refcounts() with fix: compare once without fixing (messages as usual); if a cluster in use has
 * refcount 0 QEMU must rebuild the refcount structure (-r leaks cannot, and qcowdbg does not rebuild); otherwise,
 * when anything is wrong, compare again from the same state with fixing on, which says "Repairing" instead.
 */
function planRepairs(ctx: CheckContext, stored: StoredRefcounts, fix: "leaks" | "all"): RefcountRepair[] {
  const before = { ...ctx.res };
  const probe: RefcountFix = { leaks: false, errors: false, rebuild: false, repairs: [] };
  stored.compare(probe);
  if (probe.rebuild) {
    if (fix === "leaks") {
      ctx.say("ERROR need to rebuild refcount structures");
      ctx.res.checkErrors++;
      throw new CheckAborted("Input/output error");
    }
    throw new CheckAborted("a cluster in use has refcount 0: QEMU would rebuild the refcount structure, which qcowdbg does not do; nothing was repaired");
  }
  if (!ctx.res.leaks && !ctx.res.corruptions) return [];
  Object.assign(ctx.res, before);
  const plan: RefcountFix = { leaks: true, errors: fix === "all", rebuild: false, repairs: [] };
  stored.compare(plan);
  // QEMU's check_oflag_copied() reads the refcounts as just repaired.
  for (const r of plan.repairs) stored.values[r.cluster] = r.refcount;
  const perBlock = 2 ** ctx.g.refblockBits;
  return plan.repairs.map((r) => {
    const t = Math.floor(r.cluster / perBlock);
    return { ...r, blockOffset: stored.blockOffset(t), index: r.cluster - t * perBlock };
  });
}
