// Looks at an image's tables without disturbing it: a table the cache holds is read from the cache (it may be
// dirty and newer than the file), anything else from the storage. No cache get, no LRU bump, no event: the
// debugger must not change what it is debugging.
import { u32 } from "../../engine/format/bytes.js";
import { entryOffset } from "../../engine/format/l2-entry.js";
import { getRefcount as refcountAt } from "../../engine/format/refcount-entry.js";
import type { ImageView } from "../../engine/image/image-view.js";

export interface PeekedL2 {
  hi: number;
  lo: number;
  /** Extended L2 bitmap words (0 otherwise). */
  alloc: number;
  zero: number;
  /** Cache slot holding the slice, or -1 (read from the file). */
  slot: number;
}

/** Bytes [offset, offset+length) of a table that may be cached in slices of cache.tableSize. */
function peekCached(img: ImageView, cacheIsL2: boolean, offset: number, out: Uint8Array): void {
  const cache = cacheIsL2 ? img.l2Cache : img.refcountCache;
  const ts = cache.tableSize;
  let done = 0;
  while (done < out.length) {
    const at = offset + done;
    const sliceStart = at - (at % ts);
    const slot = cache.peek(sliceStart);
    const n = Math.min(out.length - done, sliceStart + ts - at);
    if (slot >= 0) out.set(cache.bytes(slot, at - sliceStart, at - sliceStart + n), done);
    else img.file.read(out.subarray(done, done + n), at);
    done += n;
  }
}

/** A whole L2 table (one cluster) as the engine sees it now. */
export function peekL2Table(img: ImageView, l2Offset: number): Uint8Array {
  const t = new Uint8Array(img.clusterSize);
  peekCached(img, true, l2Offset, t);
  return t;
}

/** The L2 table offset of L1 entry i (0 when unallocated or past the table). */
export function l2OffsetOf(img: ImageView, l1Index: number): number {
  if (l1Index < 0 || l1Index >= img.header.l1Size) return 0;
  const [hi, lo] = img.l1Entry(l1Index);
  return entryOffset(hi, lo);
}

const entryBuf = new Uint8Array(16);

/** One L2 entry, or null when its L1 entry has no table. */
export function peekL2Entry(img: ImageView, l1Index: number, l2Index: number): PeekedL2 | null {
  const l2 = l2OffsetOf(img, l1Index);
  if (!l2 || l2Index < 0 || l2Index >= img.geo.l2Entries) return null;
  const eb = img.geo.l2EntryBytes;
  const at = l2 + l2Index * eb;
  const buf = entryBuf.subarray(0, eb);
  peekCached(img, true, at, buf);
  const sliceStart = at - (at % img.l2Cache.tableSize);
  return {
    hi: u32(buf, 0),
    lo: u32(buf, 4),
    zero: eb === 16 ? u32(buf, 8) : 0,
    alloc: eb === 16 ? u32(buf, 12) : 0,
    slot: img.l2Cache.peek(sliceStart),
  };
}

/** Reads refcount blocks lazily for many lookups (the cluster map walks every cluster). */
export class RefcountPeeker {
  private buf: Uint8Array;
  private blockIndex = -1;
  private readonly bits: number;

  constructor(private readonly img: ImageView) {
    this.buf = new Uint8Array(img.clusterSize);
    this.bits = img.clusterBits + 3 - img.header.refcountOrder;
  }

  get entriesPerBlock(): number {
    return 2 ** this.bits;
  }

  /** The refcount block covering a cluster as the engine sees it, or null when there is none. */
  block(cluster: number): Uint8Array | null {
    const ti = Math.floor(cluster / 2 ** this.bits);
    if (ti >= this.img.reftableSize) return null;
    if (ti !== this.blockIndex) {
      const off = this.img.reftableEntry(ti);
      this.blockIndex = -1;
      if (!off) return null;
      peekCached(this.img, false, off, this.buf);
      this.blockIndex = ti;
    }
    return this.buf;
  }

  /** Refcount of a host cluster; 0 past the table or under an empty table entry. */
  get(cluster: number): number {
    const b = this.block(cluster);
    return b ? refcountAt(b, cluster % 2 ** this.bits, this.img.header.refcountOrder) : 0;
  }

  /** The refblock offset for a cluster (0 when none). */
  blockOffset(cluster: number): number {
    const ti = Math.floor(cluster / 2 ** this.bits);
    return ti < this.img.reftableSize ? this.img.reftableEntry(ti) : 0;
  }
}
