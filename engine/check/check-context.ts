// State shared by the phases of a consistency check: QEMU's BdrvCheckResult counters, the stderr-like message
// sink, and the in-memory refcount table (one typed-array slot per host cluster, of the image's refcount width).
import type { Storage } from "../storage/storage.js";

/** What qemu-img check reports (BdrvCheckResult + BlockFragInfo). */
export interface CheckResult {
  checkErrors: number;
  corruptions: number;
  leaks: number;
  corruptionsFixed: number;
  leaksFixed: number;
  imageEndOffset: number;
  totalClusters: number;
  allocatedClusters: number;
  fragmentedClusters: number;
  compressedClusters: number;
}

export function emptyResult(): CheckResult {
  return {
    checkErrors: 0,
    corruptions: 0,
    leaks: 0,
    corruptionsFixed: 0,
    leaksFixed: 0,
    imageEndOffset: 0,
    totalClusters: 0,
    allocatedClusters: 0,
    fragmentedClusters: 0,
    compressedClusters: 0,
  };
}

/**
 * A line QEMU writes to stderr during the check. "plain" lines are fprintf'ed as is; "report" lines go through
 * error_report() and carry the program-name prefix ("qemu-img: "), which the caller adds; "partial" text is
 * printed without a newline (QEMU's error_printf), so the next message continues its line.
 */
export type CheckMessageKind = "plain" | "report" | "partial";
export type CheckMessageSink = (line: string, kind: CheckMessageKind) => void;

export type RefcountArray = Uint8Array | Uint16Array | Uint32Array | Float64Array;

/** Geometry the check needs, derived the way qcow2_do_open derives it. */
export interface CheckGeometry {
  clusterBits: number;
  clusterSize: number;
  extendedL2: boolean;
  l2EntryBytes: number;
  l2Entries: number;
  refcountOrder: number;
  /** log2 of the number of refcounts per refcount block. */
  refblockBits: number;
  refcountMax: number;
  hasDataFile: boolean;
}

/** Bytes per in-memory refcount for a refcount order (sub-byte widths get a byte each). */
export function refcountArrayBytes(order: number): number {
  return order <= 3 ? 1 : 1 << (order - 3);
}

export function newRefcountArray(order: number, length: number): RefcountArray {
  if (order <= 3) return new Uint8Array(length);
  if (order === 4) return new Uint16Array(length);
  if (order === 5) return new Uint32Array(length);
  return new Float64Array(length);
}

export function refcountMax(order: number): number {
  return order >= 6 ? Infinity : 2 ** (1 << order) - 1;
}

/** Hex of a 64-bit value held as two 32-bit halves, as printf("%" PRIx64) prints it. */
export function hex64(hi: number, lo: number): string {
  hi >>>= 0;
  lo >>>= 0;
  return hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, "0");
}

/** A 64-bit value as two unsigned 32-bit halves. */
export interface Halves {
  hi: number;
  lo: number;
}

/** QEMU's largest request end (BDRV_MAX_LENGTH: INT64_MAX rounded down to 1 GiB); reads past it fail with EIO. */
const BDRV_MAX_LENGTH = 2n ** 63n - 2n ** 30n;

/** Whether reading `bytes` at the 64-bit offset hi:lo fails in bdrv_pread() with EIO rather than reading zeros. */
export function failsToRead(hi: number, lo: number, bytes: number): boolean {
  if (hi < 0x7fffffff) return false;
  return BigInt(hi >>> 0) * 0x100000000n + BigInt(lo >>> 0) + BigInt(bytes) > BDRV_MAX_LENGTH;
}

/** Hex of a non-negative number (exact below 2^53). */
export function hexNum(v: number): string {
  return v < 0x100000000 ? (v >>> 0).toString(16) : hex64(Math.floor(v / 0x100000000), v % 0x100000000);
}

/** A check that stopped early, as qcow2_co_check_locked() returning -errno: qemu-img prints "Check failed: <why>". */
export class CheckAborted extends Error {
  constructor(readonly why: string) {
    super(`Check failed: ${why}`);
    this.name = "CheckAborted";
  }
}

/** check -r stopped where QEMU would make a repair qcowdbg does not model: whatever was decided is not written. */
export class RepairRefused extends CheckAborted {}

export class CheckContext {
  readonly res: CheckResult = emptyResult();
  /** Computed refcounts ("reference" in QEMU's messages); capacity is one more than the file's clusters. */
  refs: RefcountArray = new Uint8Array(0);
  /** Logical length: grows (at most by one) when a range ends in the partial cluster past the file end. */
  nbClusters = 0;
  /** Table entries walked so far; bounded so a hostile image cannot keep the check busy for hours. */
  entriesWalked = 0;
  /** check -r all (BDRV_FIX_ERRORS): the repairs qcowdbg does not make stop the check before anything is written. */
  fixErrors = false;

  constructor(
    readonly storage: Storage,
    readonly file: string,
    public fileSize: number,
    readonly g: CheckGeometry,
    readonly emit: CheckMessageSink,
    readonly maxEntriesWalked: number,
  ) {}

  /** Allocates the in-memory refcount table for the file's clusters (the caller has bounded nbClusters). */
  allocate(nbClusters: number): void {
    this.nbClusters = nbClusters;
    this.refs = newRefcountArray(this.g.refcountOrder, nbClusters + 1);
  }

  /** After a rebuild: count every reference again over the file as it now is (QEMU's memset and recount). */
  recount(fileSize: number, nbClusters: number): void {
    this.fileSize = fileSize;
    this.allocate(nbClusters);
  }

  /** Stops a check -r before anything is written, for a repair QEMU makes and qcowdbg does not. */
  refuseRepair(what: string): never {
    throw new RepairRefused(`${what}, which qcowdbg does not repair; nothing was repaired`);
  }

  say(line: string): void {
    this.emit(line, "plain");
  }

  /**
   * qcow2_inc_refcounts_imrt(): one more reference to every cluster the byte range touches. A range ending a
   * cluster or more past the end of the file is a corruption and counts nothing. `at` gives the offset's exact
   * 64-bit halves when it may not fit a number (table offsets read from the image).
   */
  inc(offset: number, size: number, at?: Halves): void {
    if (size <= 0) return;
    const cs = this.g.clusterSize;
    const hex = () => (at ? hex64(at.hi, at.lo) : hexNum(offset));
    if (at && at.hi >= 0x80000000) {
      // A negative int64 in QEMU: offset + size - file_len wraps (QEMU builds with -fwrapv).
      const v = BigInt.asIntN(64, ((BigInt(at.hi >>> 0) << 32n) | BigInt(at.lo >>> 0)) + BigInt(size) - BigInt(this.fileSize));
      if (v < BigInt(cs)) {
        // The test passes, and the refcount array would need 2^42 entries or more: it cannot be allocated.
        this.res.checkErrors++;
        throw new CheckAborted("Cannot allocate memory");
      }
    } else if (offset + size - this.fileSize < cs) {
      const first = Math.floor(offset / cs);
      const last = Math.floor((offset + size - 1) / cs);
      for (let k = first; k <= last; k++) this.incCluster(k);
      return;
    }
    this.say(`ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x${hex()} size 0x${hexNum(size)}`);
    this.res.corruptions++;
  }

  /** One more reference to cluster k (k is known to lie within the file, or in the cluster just past it). */
  incCluster(k: number): void {
    const refs = this.refs;
    const v = refs[k]!;
    if (k >= this.nbClusters) this.nbClusters = k + 1;
    if (v === this.g.refcountMax) {
      this.say(`ERROR: overflow cluster offset=0x${hexNum(k * this.g.clusterSize)}`);
      this.say(
        "Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean copy if the image cannot be opened for writing",
      );
      this.res.corruptions++;
      return;
    }
    refs[k] = v + 1;
  }

  /** Counts table entries about to be walked; throws once the budget is spent. */
  walk(entries: number): void {
    this.entriesWalked += entries;
    if (this.entriesWalked > this.maxEntriesWalked)
      throw new Error(
        `${this.file}: check aborted: the image's tables reference more than ${this.maxEntriesWalked} entries in total (tables shared by many L1 entries or snapshots)`,
      );
  }
}
