// Write-zeroes and discard (qcow2_co_pwrite_zeroes, qcow2_subcluster_zeroize, qcow2_cluster_discard), with the
// block layer's split into an unaligned head, an aligned middle and an unaligned tail; unaligned pieces that do
// not already read as zero fall back to writing a buffer of zeros, as QEMU's block layer does.
import { GuestIoError } from "./guest-io-error.js";
import { SubclusterType, entryOffset } from "../format/l2-entry.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import { getHostOffset } from "./cluster-lookup.js";
import { getClusterTable, sliceIndex, l2Alloc, l2Hi, l2Lo, l2Zero, setBitmap, setL2 } from "./l2-table.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { freeAnyCluster, processDiscards } from "./refcounts.js";
import { qcow2Write, rangeMask } from "./write-path.js";
import { isZero } from "./is-zero.js";

const ALL_ZEROES = 0xffffffff;

function isAllocatedKind(hi: number, lo: number, hasDataFile: boolean): boolean {
  if (hi & 0x40000000) return true;
  return entryOffset(hi, lo) !== 0 || (hasDataFile && (hi & 0x80000000) !== 0);
}

/** One aligned or unaligned piece handed to the driver; returns false for -ENOTSUP. */
function driverZeroes(img: Qcow2Image, offset: number, bytes: number, unmap: boolean): boolean {
  const scSize = 2 ** img.subclusterBits;
  const head = offset % scSize;
  let tail = Math.ceil((offset + bytes) / scSize) * scSize - (offset + bytes);
  img.events.emit(EventKind.PwriteZeroesStartReq, img.node, CACHE_NONE, -1, offset, bytes, 0);
  if (offset + bytes === img.virtualSize) tail = 0;
  if (head || tail) {
    if (!(isZero(img, offset - head, head) && isZero(img, offset + bytes, tail))) return false;
    offset -= head;
    bytes = scSize;
    const l = getHostOffset(img, offset, scSize);
    if (l.type !== SubclusterType.UnallocatedPlain && l.type !== SubclusterType.UnallocatedAlloc && l.type !== SubclusterType.ZeroPlain && l.type !== SubclusterType.ZeroAlloc) return false;
  }
  img.events.emit(EventKind.PwriteZeroes, img.node, CACHE_NONE, -1, offset, bytes, 0);
  return subclusterZeroize(img, offset, bytes, unmap);
}

/** qcow2_subcluster_zeroize; false is -ENOTSUP (a v2 image with a backing file). */
export function subclusterZeroize(img: Qcow2Image, offset: number, bytes: number, unmap: boolean): boolean {
  const cs = img.clusterSize;
  let end = offset + bytes;
  if (img.hasDataFile && img.dataFileRaw) {
    const f = img.dataFile;
    f.write(new Uint8Array(Math.max(0, Math.min(bytes, f.size() - offset))), offset);
  }
  if (img.header.version < 3) {
    if (!img.backing) {
      clusterDiscard(img, offset, bytes, false);
      return true;
    }
    return false;
  }
  const head = Math.min(end, Math.ceil(offset / cs) * cs) - offset;
  offset += head;
  const tail = end >= img.virtualSize ? 0 : end - Math.max(offset, Math.floor(end / cs) * cs);
  end -= tail;
  // A compressed cluster cannot be zeroed in part: -ENOTSUP, after any whole clusters before it were zeroed, and
  // the block layer then writes a buffer of zeros over the whole piece (qcow2_subcluster_zeroize's fail path).
  let ok = head === 0 || zeroL2Subclusters(img, offset - head, head);
  let nb = ok ? Math.ceil((end - offset) / cs) : 0;
  while (nb > 0) {
    const cleared = zeroInL2Slice(img, offset, nb, unmap);
    nb -= cleared;
    offset += cleared * cs;
  }
  if (ok && tail) ok = zeroL2Subclusters(img, end, tail);
  processDiscards(img, ok);
  return ok;
}

/** zero_l2_subclusters: false (-ENOTSUP) for a compressed cluster, which has no subcluster bitmap to set. */
function zeroL2Subclusters(img: Qcow2Image, offset: number, bytes: number): boolean {
  const scSize = 2 ** img.subclusterBits;
  const sc = Math.floor((offset % img.clusterSize) / scSize);
  const n = Math.ceil(bytes / scSize);
  const ref = { slot: getClusterTable(img, offset), index: sliceIndex(img, offset) };
  try {
    if (l2Hi(img, ref.slot, ref.index) & 0x40000000) return false;
    const alloc = l2Alloc(img, ref.slot, ref.index), zero = l2Zero(img, ref.slot, ref.index);
    const mask = rangeMask(sc, sc + n);
    const nz = (zero | mask) >>> 0, na = (alloc & ~mask) >>> 0;
    if (nz !== zero || na !== alloc) {
      setBitmap(img, ref.slot, ref.index, na, nz);
      img.l2Cache.markDirty(ref.slot);
    }
    return true;
  } finally {
    img.l2Cache.put(ref.slot);
  }
}

function zeroInL2Slice(img: Qcow2Image, offset: number, nb: number, unmapFlag: boolean): number {
  const ref = { slot: getClusterTable(img, offset), index: sliceIndex(img, offset) };
  nb = Math.min(nb, img.sliceEntries - ref.index);
  try {
    for (let i = 0; i < nb; i++) {
      const idx = ref.index + i;
      const hi = l2Hi(img, ref.slot, idx), lo = l2Lo(img, ref.slot, idx);
      const alloc = l2Alloc(img, ref.slot, idx), zero = l2Zero(img, ref.slot, idx);
      const compressed = (hi & 0x40000000) !== 0;
      const unmap = compressed || (unmapFlag && isAllocatedKind(hi, lo, img.hasDataFile));
      const nhi = unmap ? 0 : hi;
      let nlo = unmap ? 0 : lo;
      let nalloc = alloc, nzero = zero;
      if (img.geo.extendedL2) {
        nalloc = 0;
        nzero = ALL_ZEROES;
      } else nlo = (nlo | 1) >>> 0;
      if (nhi === hi && nlo === lo && nalloc === alloc && nzero === zero) continue;
      img.l2Cache.markDirty(ref.slot);
      setL2(img, ref.slot, idx, nhi, nlo);
      if (img.geo.extendedL2) setBitmap(img, ref.slot, idx, nalloc, nzero);
      img.events.emit(EventKind.ZeroCluster, img.node, 1, ref.slot, offset + i * img.clusterSize, unmap ? 1 : 0, 0);
      if (unmap) freeAnyCluster(img, hi, lo, img.config.discardUnmap);
    }
  } finally {
    img.l2Cache.put(ref.slot);
  }
  return nb;
}

/** qcow2_cluster_discard over whole clusters; `discard`: the freed clusters are discarded in the file too. */
export function clusterDiscard(img: Qcow2Image, offset: number, bytes: number, full: boolean, discard = img.config.discardUnmap): void {
  const cs = img.clusterSize;
  let nb = Math.ceil(bytes / cs);
  while (nb > 0) {
    const ref = { slot: getClusterTable(img, offset), index: sliceIndex(img, offset) };
    const n = Math.min(nb, img.sliceEntries - ref.index);
    try {
      for (let i = 0; i < n; i++) {
        const idx = ref.index + i;
        const hi = l2Hi(img, ref.slot, idx), lo = l2Lo(img, ref.slot, idx);
        const alloc = l2Alloc(img, ref.slot, idx), zero = l2Zero(img, ref.slot, idx);
        let nhi = hi, nlo = lo, nalloc = alloc, nzero = zero;
        if (full) nhi = nlo = nalloc = nzero = 0;
        else if (img.backing || isAllocatedKind(hi, lo, img.hasDataFile)) {
          if (img.geo.extendedL2) {
            nhi = nlo = 0;
            nalloc = 0;
            nzero = ALL_ZEROES;
          } else {
            nhi = 0;
            nlo = img.header.version >= 3 ? 1 : 0;
          }
        }
        if (nhi === hi && nlo === lo && nalloc === alloc && nzero === zero) continue;
        img.l2Cache.markDirty(ref.slot);
        setL2(img, ref.slot, idx, nhi, nlo);
        if (img.geo.extendedL2) setBitmap(img, ref.slot, idx, nalloc, nzero);
        img.events.emit(EventKind.DiscardCluster, img.node, 1, ref.slot, offset + i * cs, 0, 0);
        freeAnyCluster(img, hi, lo, discard);
      }
    } finally {
      img.l2Cache.put(ref.slot);
    }
    nb -= n;
    offset += n * cs;
  }
  processDiscards(img);
}

/**
 * The block layer's split of a request for a driver with an alignment (bdrv_co_do_pwrite_zeroes and
 * bdrv_co_pdiscard alike): an unaligned head up to the first boundary, the aligned middle, an unaligned tail.
 */
function forEachAlignedPiece(offset: number, bytes: number, align: number, piece: (offset: number, bytes: number) => void): void {
  let head = offset % align;
  const tail = (offset + bytes) % align;
  while (bytes > 0) {
    let num = bytes;
    if (head) {
      num = Math.min(bytes, align - head);
      head = (head + num) % align;
    } else if (tail && num > align) num -= tail;
    piece(offset, num);
    offset += num;
    bytes -= num;
  }
}

/** bdrv_co_pwrite_zeroes over a qcow2 node, with the zero-buffer fallback for pieces the driver refuses. */
export function qcow2WriteZeroes(img: Qcow2Image, offset: number, bytes: number, unmap: boolean, noFallback = false): void {
  forEachAlignedPiece(offset, bytes, img.subclusterSize, (off, num) => {
    if (driverZeroes(img, off, num, unmap)) return;
    if (noFallback) throw new GuestIoError("ENOTSUP", `zero write of [${off}, ${off + num}) needs the zero-buffer fallback (BDRV_REQ_NO_FALLBACK)`);
    qcow2Write(img, new Uint8Array(num), off);
  });
}

/** bdrv_co_pdiscard over a qcow2 node: partial clusters are ignored. */
export function qcow2Discard(img: Qcow2Image, offset: number, bytes: number): void {
  const cs = img.clusterSize;
  if (img.header.version < 3 && img.backing) return;
  forEachAlignedPiece(offset, bytes, cs, (off, num) => {
    if (off % cs === 0 && (num % cs === 0 || off + num === img.virtualSize)) clusterDiscard(img, off, num, false);
  });
}
