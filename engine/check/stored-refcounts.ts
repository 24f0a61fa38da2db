// The on-disk side of the check: the refcount table as QEMU holds it after open, check_refblocks(),
// compare_refcounts() streamed one refcount block at a time, and refcount lookups for the OFLAG_COPIED pass.
// After compare() the in-memory array holds the stored refcounts, so later lookups cost no I/O.
import { getRefcount } from "../format/refcount-entry.js";
import { hex64, newRefcountArray, type CheckContext, type RefcountArray } from "./check-context.js";

const EIO = "Input/output error";

export class StoredRefcounts {
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly size: number;
  /** Refcount table indexes whose refblock offset is unaligned: every lookup there fails with EIO. */
  private readonly failing = new Set<number>();
  private signaled = false;
  private cachedIndex = -1;
  private readonly cachedBlock: Uint8Array;
  private compared = false;

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

  /** check_refblocks(): each refcount block must be valid, inside the image and referenced exactly once. */
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
        continue;
      }
      if (lo & (cs - 1)) {
        ctx.say(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`);
        res.corruptions++;
        continue;
      }
      const offset = hi * 0x100000000 + lo;
      const cluster = Math.floor(offset / cs);
      if (cluster >= ctx.nbClusters) {
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
        }
      }
    }
  }

  /** qcow2_get_refcount() failing on an unaligned refblock: QEMU signals the corruption once (non-fatal, read-only). */
  private fail(t: number): void {
    if (this.signaled) return;
    this.signaled = true;
    const off = hex64(this.hi[t]!, (this.lo[t]! & ~0x1ff) >>> 0);
    this.ctx.say(
      `qcow2: Image is corrupt: Refblock offset 0x${off} unaligned (reftable index: ${t === 0 ? "0" : "0x" + t.toString(16)}); further non-fatal corruption events will be suppressed`,
    );
  }

  /** The refcount block covering table index t: null when it is all zeros (absent), "error" when unreadable. */
  private block(t: number): Uint8Array | null | "error" {
    if (t >= this.size) return null;
    const hi = this.hi[t]!;
    const lo = (this.lo[t]! & ~0x1ff) >>> 0;
    if (hi === 0 && lo === 0) return null;
    if (lo & (this.ctx.g.clusterSize - 1)) return "error";
    if (this.cachedIndex !== t) {
      const offset = hi * 0x100000000 + lo;
      if (offset >= this.ctx.fileSize) this.cachedBlock.fill(0);
      else this.ctx.storage.read(this.cachedBlock, offset);
      this.cachedIndex = t;
    }
    return this.cachedBlock;
  }

  /**
   * compare_refcounts(): stored ("refcount") against computed ("reference") for every cluster of the file, and
   * the image end offset. Afterwards ctx.refs holds the stored refcounts.
   */
  compare(): void {
    const { ctx } = this;
    const g = ctx.g;
    const res = ctx.res;
    const refs = ctx.refs;
    const nb = ctx.nbClusters;
    const perBlock = 2 ** g.refblockBits;
    const scratch = newRefcountArray(g.refcountOrder, perBlock);
    let highest = 0;
    for (let t = 0; t * perBlock < nb; t++) {
      const first = t * perBlock;
      const end = Math.min(nb, first + perBlock);
      const blk = this.block(t);
      if (blk === "error") {
        this.failing.add(t);
        for (let k = first; k < end; k++) {
          this.fail(t);
          ctx.say(`Can't get refcount for cluster ${k}: ${EIO}`);
          res.checkErrors++;
        }
        continue;
      }
      if (blk === null) scratch.fill(0);
      else decodeBlock(blk, g.refcountOrder, scratch, end - first);
      for (let k = first; k < end; k++) {
        const r1 = scratch[k - first]!;
        const r2 = refs[k]!;
        if (r1 > 0 || r2 > 0) highest = k;
        if (r1 !== r2) {
          const shown = r1 >= 2 ** 53 && blk ? exactRefcount(blk, k - first) : String(r1);
          ctx.say(`${r1 < r2 ? "ERROR" : "Leaked"} cluster ${k} refcount=${shown} reference=${r2}`);
          if (r1 < r2) res.corruptions++;
          else res.leaks++;
          refs[k] = r1;
        }
      }
    }
    res.imageEndOffset = (highest + 1) * g.clusterSize;
    this.compared = true;
  }

  /** Stored refcount of cluster k, or -1 where qcow2_get_refcount() fails. Exact below 2^53. */
  get(k: number): number {
    const g = this.ctx.g;
    const t = Math.floor(k / 2 ** g.refblockBits);
    if (this.compared && k < this.ctx.nbClusters) return this.failing.size !== 0 && this.failing.has(t) ? -1 : this.ctx.refs[k]!;
    const blk = this.block(t);
    if (blk === "error") {
      this.fail(t);
      return -1;
    }
    if (blk === null) return 0;
    const i = k - t * 2 ** g.refblockBits;
    const r = getRefcount(blk, i, g.refcountOrder);
    return Number.isNaN(r) ? 2 ** 64 : r;
  }

  /** The stored refcount as printf("%" PRIu64) shows it (exact even above 2^53). */
  show(k: number, r: number): string {
    if (r < 2 ** 53) return String(r);
    const g = this.ctx.g;
    const t = Math.floor(k / 2 ** g.refblockBits);
    const blk = this.block(t);
    return blk && blk !== "error" ? exactRefcount(blk, k - t * 2 ** g.refblockBits) : String(r);
  }
}

/** Decodes the first `count` refcounts of a block into `out` (64-bit values above 2^53 are approximate). */
function decodeBlock(b: Uint8Array, order: number, out: RefcountArray, count: number): void {
  switch (order) {
    case 4:
      for (let i = 0; i < count; i++) out[i] = (b[2 * i]! << 8) | b[2 * i + 1]!;
      break;
    case 3:
      out.set(b.subarray(0, count));
      break;
    case 5:
      for (let i = 0; i < count; i++) out[i] = ((b[4 * i]! << 24) >>> 0) + ((b[4 * i + 1]! << 16) | (b[4 * i + 2]! << 8) | b[4 * i + 3]!);
      break;
    case 6:
      for (let i = 0; i < count; i++) {
        const o = 8 * i;
        const hi = ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
        const lo = ((b[o + 4]! << 24) >>> 0) + ((b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!);
        out[i] = hi * 0x100000000 + lo;
      }
      break;
    default: {
      const bits = 1 << order;
      const mask = (1 << bits) - 1;
      const perByte = 8 / bits;
      for (let i = 0; i < count; i++) out[i] = (b[Math.floor(i / perByte)]! >>> ((i % perByte) * bits)) & mask;
    }
  }
}

function exactRefcount(b: Uint8Array, i: number): string {
  const o = 8 * i;
  let v = 0n;
  for (let j = 0; j < 8; j++) v = (v << 8n) | BigInt(b[o + j]!);
  return v.toString();
}
