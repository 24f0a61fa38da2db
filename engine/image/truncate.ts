// Resizing an image as qemu-io's `truncate` and `qemu-img resize` do (bdrv_co_truncate, then qcow2_co_truncate with
// PREALLOC_MODE_OFF): growing maps the new size (a bigger L1 table when needed, zero clusters where a longer backing
// file would show through); shrinking discards the cropped clusters, frees their L2 tables and the refcount blocks
// left unused, and cuts the file after its last used cluster. Then the new size goes into the header (synced) and
// the metadata caches are re-created for it.
import { put64 } from "../format/bytes.js";
import { UnsupportedError } from "../format/format-error.js";
import { getRefcount as getEntry, setRefcount as setEntry } from "../format/refcount-entry.js";
import { entryOffset } from "../format/l2-entry.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import { pwriteSync } from "./flush.js";
import { u32 } from "../format/bytes.js";
import { zeroRange } from "../storage/storage.js";
import { GuestIoError } from "./guest-io-error.js";
import { growL1Table, L1ResizeError, sizeToL1 } from "./l1-table-resize.js";
import { OL_ACTIVE_L2, OL_REFCOUNT_BLOCK, signalCorruption, tableEntrySet } from "./overlap-check.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { freeClusters, getRefcount, processDiscards, refblockBits, reftableEntry } from "./refcounts.js";
import { OptionsError, updateOptions } from "./update-options.js";
import { clusterDiscard, subclusterZeroize } from "./zero-discard.js";
import { qcow2Write } from "./write-path.js";

/** A resize QEMU refuses or fails, in its words (the errp text qemu-io prints after "qemu-io: "). */
export class ResizeError extends Error {}

const STRERROR: Record<string, string> = { EIO: "Input/output error", EINVAL: "Invalid argument", ENOTSUP: "Operation not supported", EFBIG: "File too large", ENOMEDIUM: "No medium found" };

/** error_setg_errno's "<what>: <strerror>" for an engine failure; anything else is not a resize failure. */
function failed(what: string, e: unknown): never {
  if (e instanceof GuestIoError || e instanceof L1ResizeError) throw new ResizeError(`${what}: ${STRERROR[e.errno] ?? e.message}`);
  throw e;
}

/** bdrv_co_truncate(offset, exact=false, PREALLOC_MODE_OFF, flags 0) on the image's node. */
export function qcow2Truncate(img: Qcow2Image, offset: number): void {
  if (offset < 0) throw new ResizeError("Cannot truncate to a negative size");
  if (img.rt.unusable) throw new ResizeError("No medium inserted");
  if (!img.writable || img.rt.readOnly) throw new ResizeError("Image is read-only");
  const old = img.virtualSize;
  // A backing file longer than the image would show through the new area: the block layer asks for zeroes there.
  const zeroWrite = offset > old && img.backing !== null && img.backing.virtualSize > old;
  if (offset % 512) throw new ResizeError("The new size must be a multiple of 512");
  if (img.snapshots.length && img.header.version < 3) throw new ResizeError("Can't resize a v2 image which has snapshots");
  if (img.dataFileRaw && offset > old) throw new UnsupportedError(img.filename, "growing an image whose external data file is raw (QEMU preallocates its metadata) is not modelled");
  const newL1 = sizeToL1(img, offset);
  if (offset < old) shrink(img, offset, old, newL1);
  else {
    try {
      growL1Table(img, newL1, true);
    } catch (e) {
      failed("Failed to grow the L1 table", e);
    }
  }
  // An external data file is resized with the image (a regular file always to the exact size).
  if (img.hasDataFile) img.dataFile.truncate(offset);
  if (zeroWrite) zeroNewArea(img, old, offset);
  const size = new Uint8Array(8);
  put64(size, 0, offset);
  pwriteSync(img, size, 24);
  img.header.size = offset;
  // "Update cache sizes": the same options, re-read for the new size.
  try {
    updateOptions(img, { ...img.config });
  } catch (e) {
    if (e instanceof OptionsError) throw new ResizeError(e.message);
    throw e;
  }
}

/** Zero clusters over [old, offset) (subcluster-aligned part), explicit zeroes over the unaligned head. */
function zeroNewArea(img: Qcow2Image, old: number, offset: number): void {
  const sc = img.subclusterSize;
  const zeroStart = Math.ceil(old / sc) * sc;
  if (offset > zeroStart) {
    let ok: boolean;
    try {
      ok = subclusterZeroize(img, zeroStart, offset - zeroStart, false);
    } catch (e) {
      failed("Failed to zero out new clusters", e);
    }
    if (!ok) throw new ResizeError(`Failed to zero out new clusters: ${STRERROR.ENOTSUP}`);
  }
  if (zeroStart > old) {
    try {
      qcow2Write(img, new Uint8Array(Math.min(zeroStart, offset) - old), old);
    } catch (e) {
      failed("Failed to zero out the new area", e);
    }
  }
}

function shrink(img: Qcow2Image, offset: number, old: number, newL1: number): void {
  const cs = img.clusterSize;
  const from = Math.ceil(offset / cs) * cs;
  try {
    if (old > from) clusterDiscard(img, from, old - from, true, true);
  } catch (e) {
    failed("Failed to discard cropped clusters", e);
  }
  try {
    shrinkL1Table(img, newL1);
  } catch (e) {
    failed("Failed to reduce the number of L2 tables", e);
  }
  try {
    shrinkReftable(img);
  } catch (e) {
    failed("Failed to discard unused refblocks", e);
  }
  const fileSize = img.file.size();
  let last = -1;
  try {
    last = lastCluster(img, fileSize);
  } catch (e) {
    failed("Failed to find the last cluster", e);
  }
  if ((last + 1) * cs < fileSize) img.file.truncate((last + 1) * cs);
}

const ZERO_ENTRY = new Uint8Array(8);

/** qcow2_shrink_l1_table: the entries past the new size are zeroed on disk (synced), their L2 tables freed. */
function shrinkL1Table(img: Qcow2Image, exactSize: number): void {
  const h = img.header;
  if (exactSize >= h.l1Size) return;
  const at = h.l1TableOffset + exactSize * 8;
  const bytes = (h.l1Size - exactSize) * 8;
  zeroRange(img.file, at, bytes);
  img.events.emit(EventKind.MetadataWrite, img.node, CACHE_NONE, -1, at, bytes, 0);
  img.ioYield();
  img.flushFile();
  for (let i = h.l1Size - 1; i > exactSize - 1; i--) {
    const l2 = entryOffset(u32(img.l1, i * 8), u32(img.l1, i * 8 + 4));
    if (!l2) continue;
    freeClusters(img, l2, img.clusterSize, true);
    tableEntrySet(img, OL_ACTIVE_L2, i, ZERO_ENTRY);
    img.events.emit(EventKind.L1Update, img.node, CACHE_NONE, -1, i, 0, 0);
  }
}

function isZeroBytes(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]) return false;
  return true;
}

/** qcow2_shrink_reftable: refcount blocks that count nothing but themselves leave the table (written, synced). */
function shrinkReftable(img: Qcow2Image): void {
  const n = img.reftableSize;
  const cs = img.clusterSize;
  const bits = refblockBits(img);
  const order = img.header.refcountOrder;
  const cache = img.refcountCache;
  const next = new Uint8Array(n * 8);
  for (let i = 0; i < n; i++) {
    const block = reftableEntry(img, i);
    if (!block) continue;
    const slot = cache.get(block, true);
    const t = cache.table(slot);
    let unused: boolean;
    if (i === Math.floor(block / cs / 2 ** bits)) {
      // The block's own reference does not count.
      const bi = (block / cs) % 2 ** bits;
      const own = getEntry(t, bi, order);
      setEntry(t, bi, order, 0);
      unused = isZeroBytes(t);
      setEntry(t, bi, order, own);
    } else unused = isZeroBytes(t);
    cache.put(slot);
    if (!unused) next.set(img.reftable.subarray(i * 8, i * 8 + 8), i * 8);
  }
  pwriteSync(img, next, img.header.refcountTableOffset);
  for (let i = 0; i < n; i++) {
    const block = reftableEntry(img, i);
    if (!block || u32(next, i * 8) || u32(next, i * 8 + 4)) continue;
    discardRefcountBlock(img, block);
    tableEntrySet(img, OL_REFCOUNT_BLOCK, i, ZERO_ENTRY);
  }
  processDiscards(img);
}

/** qcow2_discard_refcount_block: drops the block's own reference (it must be 1) and discards its cluster. */
function discardRefcountBlock(img: Qcow2Image, block: number): void {
  const cs = img.clusterSize;
  const bits = refblockBits(img);
  const ci = block / cs;
  const holder = reftableEntry(img, Math.floor(ci / 2 ** bits));
  const cache = img.refcountCache;
  const slot = cache.get(holder, true);
  const t = cache.table(slot);
  const bi = ci % 2 ** bits;
  if (getEntry(t, bi, img.header.refcountOrder) !== 1) {
    cache.put(slot);
    throw signalCorruption(img, `Invalid refcount: Refcount of discarded block at ${block.toString(16)} is not 1`);
  }
  setEntry(t, bi, img.header.refcountOrder, 0);
  cache.markDirty(slot);
  cache.put(slot);
  if (ci < img.rt.freeClusterIndex) img.rt.freeClusterIndex = ci;
  const own = cache.lookup(block);
  if (own >= 0) cache.discard(own);
  img.rt.pendingDiscards.push(block);
}

/** qcow2_get_last_cluster: the last cluster of the file with a non-zero refcount (read from the end). */
function lastCluster(img: Qcow2Image, size: number): number {
  for (let i = Math.ceil(size / img.clusterSize) - 1; i >= 0; i--) if (getRefcount(img, i) > 0) return i;
  throw signalCorruption(img, "There are no references in the refcount table.");
}
