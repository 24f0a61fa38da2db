// The on-disk side of the check: the refcount table as QEMU holds it after open, the stored refcounts of the
// file's clusters decoded into a typed array up front (so comparing and the COPIED checks cost no further I/O),
// check_refblocks(), and compare_refcounts() with QEMU's messages and image end offset.
import { getRefcount } from "../format/refcount-entry.js";
import { failsToRead, hex64, newRefcountArray, type CheckContext, type RefcountArray } from "./check-context.js";

const EIO = "Input/output error";

/** check -r: which mismatches compare() may fix, and what it found and decided. */
export interface RefcountFix {
  leaks: boolean;
  errors: boolean;
  /** Set when a cluster in use has refcount 0: QEMU then rebuilds the whole refcount structure. */
  rebuild: boolean;
  /** The refcounts to store. */
  repairs: { cluster: number; refcount: number }[];
}

export class StoredRefcounts {
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly size: number;
  /** Stored refcounts of clusters [0, values.length); slots under an unreadable refblock hold 0. */
  values: RefcountArray = new Uint8Array(0);
  /**
   * Refcount table indexes whose refblock cannot be read, so every lookup there fails with EIO: an unaligned
   * offset (QEMU also reports the corruption once) or an offset past QEMU's largest request (no report).
   */
  readonly failing = new Map<number, "unaligned" | "eio">();
  /** Set by checkRefblocks() when a refcount block is unusable: check -r all then rebuilds the structure. */
  rebuild = false;
  private signaled = false;
  private cachedIndex = -1;
  private readonly cachedBlock: Uint8Array;

  constructor(
    private readonly ctx: CheckContext,
    reftable: Uint8Array,
  ) {
    this.size = reftable.length >>> 3;
    this.hi = new Uint32Array(this.size);
    this.lo = new Uint32Array(this.size);
    const dv = new DataView(reftable.buffer, reftable.byteOffset, reftable.byteLength);
    for (let i = 0; i < this.size; i++) {
      this.hi[i] = dv.getUint32(i * 8);
      this.lo[i] = dv.getUint32(i * 8 + 4);
    }
    this.cachedBlock = new Uint8Array(ctx.g.clusterSize);
  }

  /** Reads the stored refcounts of clusters [0, count), one refcount block per read. */
  load(count: number): void {
    const g = this.ctx.g;
    const perBlock = 2 ** g.refblockBits;
    this.values = newRefcountArray(g.refcountOrder, count);
    const bytesPer = this.values.BYTES_PER_ELEMENT;
    const out = new Uint8Array(this.values.buffer);
    for (let t = 0; t * perBlock < count; t++) {
      const first = t * perBlock;
      const n = Math.min(count, first + perBlock) - first;
      const blk = this.block(t);
      if (blk === "unaligned" || blk === "eio") this.failing.set(t, blk);
      else if (blk !== null) decodeBlock(blk, g.refcountOrder, this.values, out.subarray(first * bytesPer, (first + n) * bytesPer), first, n);
    }
  }

  /**
   * check_refblocks(): each refcount block must be valid, inside the image and referenced exactly once. Under
   * check -r all QEMU grows the file to cover a block outside the image; qcowdbg does not (CheckAborted first).
   */
  checkRefblocks(): void {
    const { ctx } = this;
    const cs = ctx.g.clusterSize;
    const res = ctx.res;
    for (let i = 0; i < this.size; i++) {
      const hi = this.hi[i]!;
      const lo = this.lo[i]!;
      if (lo & 0x1ff) {
        ctx.say(`ERROR refcount table entry ${i} has reserved bits set`);
        res.corruptions++;
        this.rebuild = true;
        continue;
      }
      if (lo & (cs - 1)) {
        ctx.say(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`);
        res.corruptions++;
        this.rebuild = true;
        continue;
      }
      const offset = hi * 0x100000000 + lo;
      const cluster = Math.floor(offset / cs);
      if (cluster >= ctx.nbClusters) {
        if (ctx.fixErrors) ctx.refuseRepair(`refcount block ${i} is outside the image: QEMU would grow the file to hold it`);
        res.corruptions++;
        ctx.say(`ERROR refcount block ${i} is outside image`);
        continue;
      }
      if (offset !== 0) {
        ctx.inc(offset, cs);
        const r = ctx.refs[cluster]!;
        if (r !== 1) {
          ctx.say(`ERROR refcount block ${i} refcount=${r}`);
          res.corruptions++;
          this.rebuild = true;
        }
      }
    }
  }

  /** qcow2_get_refcount() failing on an unaligned refblock: QEMU signals the corruption once (non-fatal, read-only). */
  private fail(t: number): void {
    if (this.signaled || this.failing.get(t) === "eio") return;
    this.signaled = true;
    const off = hex64(this.hi[t]!, (this.lo[t]! & ~0x1ff) >>> 0);
    this.ctx.say(
      `qcow2: Image is corrupt: Refblock offset 0x${off} unaligned (reftable index: ${t === 0 ? "0" : "0x" + t.toString(16)}); further non-fatal corruption events will be suppressed`,
    );
  }

  /** File offset of the refcount block covering table index t (0 when absent). */
  blockOffset(t: number): number {
    return t < this.size ? this.hi[t]! * 0x100000000 + ((this.lo[t]! & ~0x1ff) >>> 0) : 0;
  }

  /** The refcount block covering table index t: null when it is all zeros (absent), or why it cannot be read. */
  private block(t: number): Uint8Array | null | "unaligned" | "eio" {
    if (t >= this.size) return null;
    const hi = this.hi[t]!;
    const lo = (this.lo[t]! & ~0x1ff) >>> 0;
    if (hi === 0 && lo === 0) return null;
    const cs = this.ctx.g.clusterSize;
    if (lo & (cs - 1)) return "unaligned";
    const offset = hi * 0x100000000 + lo;
    // bdrv_check_request(): offsets up to BDRV_MAX_LENGTH (INT64_MAX rounded down to 1 GiB) only.
    if (failsToRead(hi, lo, cs)) return "eio";
    if (this.cachedIndex !== t) {
      if (offset >= this.ctx.fileSize) this.cachedBlock.fill(0);
      else this.ctx.storage.read(this.cachedBlock, offset);
      this.cachedIndex = t;
    }
    return this.cachedBlock;
  }

  /**
   * compare_refcounts(): stored ("refcount") against computed ("reference") for every cluster of the file,
   * and the image end offset. Runs of equal refcounts are compared a block at a time (memcmp).
   */
  compare(fix?: RefcountFix): void {
    const { ctx } = this;
    const g = ctx.g;
    const res = ctx.res;
    const refs = ctx.refs;
    const stored = this.values;
    const nb = ctx.nbClusters;
    const perBlock = 2 ** g.refblockBits;
    const bpe = refs.BYTES_PER_ELEMENT;
    const refsBytes = Buffer.from(refs.buffer, refs.byteOffset, refs.byteLength);
    const storedBytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
    let highest = 0;
    for (let t = 0; t * perBlock < nb; t++) {
      const first = t * perBlock;
      const end = Math.min(nb, first + perBlock);
      if (this.failing.has(t)) {
        for (let k = first; k < end; k++) {
          this.fail(t);
          ctx.say(`Can't get refcount for cluster ${k}: ${EIO}`);
          res.checkErrors++;
        }
        continue;
      }
      if (refsBytes.subarray(first * bpe, end * bpe).equals(storedBytes.subarray(first * bpe, end * bpe))) {
        for (let k = end - 1; k >= first; k--) {
          if (stored[k] !== 0) {
            highest = k;
            break;
          }
        }
        continue;
      }
      for (let k = first; k < end; k++) {
        const r1 = stored[k]!;
        const r2 = refs[k]!;
        if (r1 > 0 || r2 > 0) highest = k;
        if (r1 !== r2) {
          // check -r: what may be fixed is said as "Repairing" and fixed; a refcount of 0 in use needs a rebuild.
          let fixed = false;
          if (fix && r1 === 0) fix.rebuild = true;
          else if (fix && ((r1 > r2 && fix.leaks) || (r1 < r2 && fix.errors))) fixed = true;
          ctx.say(`${fixed ? "Repairing" : r1 < r2 ? "ERROR" : "Leaked"} cluster ${k} refcount=${this.show(k, r1)} reference=${r2}`);
          if (fixed) {
            fix!.repairs.push({ cluster: k, refcount: r2 });
            if (r1 > r2) res.leaksFixed++;
            else res.corruptionsFixed++;
            continue;
          }
          if (r1 < r2) res.corruptions++;
          else res.leaks++;
        }
      }
    }
    res.imageEndOffset = (highest + 1) * g.clusterSize;
  }

  /** Stored refcount of cluster k, or -1 where qcow2_get_refcount() fails. Exact below 2^53. */
  get(k: number): number {
    const g = this.ctx.g;
    const t = Math.floor(k / 2 ** g.refblockBits);
    if (this.failing.size !== 0 && this.failing.has(t)) {
      this.fail(t);
      return -1;
    }
    if (k < this.values.length) return this.values[k]!;
    const blk = this.block(t);
    if (blk === "unaligned" || blk === "eio") {
      this.failing.set(t, blk);
      this.fail(t);
      return -1;
    }
    if (blk === null) return 0;
    const r = getRefcount(blk, k - t * 2 ** g.refblockBits, g.refcountOrder);
    return Number.isNaN(r) ? 2 ** 64 : r;
  }

  /** The stored refcount as printf("%" PRIu64) shows it (exact even above 2^53). */
  show(k: number, r: number): string {
    if (r < 2 ** 53) return String(r);
    const g = this.ctx.g;
    const t = Math.floor(k / 2 ** g.refblockBits);
    const blk = this.block(t);
    if (!(blk instanceof Uint8Array)) return String(r);
    const o = 8 * (k - t * 2 ** g.refblockBits);
    let v = 0n;
    for (let j = 0; j < 8; j++) v = (v << 8n) | BigInt(blk[o + j]!);
    return v.toString();
  }
}

/**
 * Decodes the first n refcounts of a block into values[first ..] (whose bytes are `out`): whole-byte widths
 * by copying and byte-swapping natively; sub-byte widths and 64-bit entries one by one.
 */
function decodeBlock(b: Uint8Array, order: number, values: RefcountArray, out: Uint8Array, first: number, n: number): void {
  if (order >= 3 && order <= 5) {
    out.set(b.subarray(0, out.length));
    const buf = Buffer.from(out.buffer, out.byteOffset, out.length);
    if (order === 4) buf.swap16();
    else if (order === 5) buf.swap32();
    return;
  }
  if (order === 6) {
    for (let i = 0; i < n; i++) {
      const o = 8 * i;
      const hi = ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
      const lo = ((b[o + 4]! << 24) >>> 0) + ((b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!);
      values[first + i] = hi * 0x100000000 + lo; // above 2^53 approximate; show() prints the exact value
    }
    return;
  }
  const bits = 1 << order;
  const mask = (1 << bits) - 1;
  const perByte = 8 / bits;
  for (let i = 0; i < n; i++) values[first + i] = (b[Math.floor(i / perByte)]! >>> ((i % perByte) * bits)) & mask;
}
