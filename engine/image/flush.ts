// Flushing and closing (qcow2.c): write the L2 cache back, then the refcount cache unless refcounts are lazy
// and the image is dirty, then sync the file; the dirty bit of lazy refcounts; close as QEMU closes.
import { put32 } from "../format/bytes.js";
import { INCOMPAT_DIRTY } from "../format/header.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import type { Qcow2Image } from "./qcow2-image.js";

function writeIncompat(img: Qcow2Image): void {
  const b = new Uint8Array(8);
  const v = img.header.incompatibleFeatures;
  put32(b, 0, Number(v >> 32n));
  put32(b, 4, Number(v & 0xffffffffn));
  pwriteSync(img, b, 72, false);
}

/**
 * bdrv_pwrite_sync on the image file: the write (a MetadataWrite event unless `event` is false, as for the header
 * words whose own events say more), its I/O's yield, then the sync.
 */
export function pwriteSync(img: Qcow2Image, data: Uint8Array, offset: number, event = true): void {
  img.file.write(data, offset);
  if (event) img.events.emit(EventKind.MetadataWrite, img.node, CACHE_NONE, -1, offset, data.length, 0);
  img.ioYield();
  img.flushFile();
}

/** qcow2_mark_dirty: set the dirty bit in the header (+ sync) before the first unordered metadata update. */
export function markDirty(img: Qcow2Image): void {
  if (img.dirty) return;
  img.header.incompatibleFeatures |= BigInt(INCOMPAT_DIRTY);
  writeIncompat(img);
  img.rt.dirty = true;
  img.events.emit(EventKind.DirtyBit, img.node, CACHE_NONE, -1, 1, 0, 0);
}

/** qcow2_write_caches. */
export function writeCaches(img: Qcow2Image): void {
  img.l2Cache.write();
  if (!img.dirty) img.refcountCache.write();
}

/** qcow2_flush_caches: write back and sync. */
export function flushCaches(img: Qcow2Image): void {
  writeCaches(img);
  img.flushFile();
}

/**
 * bdrv_co_flush on the qcow2 node: flush to OS (write the caches back), then each writable child in QEMU's child
 * order (the data file was attached last, so it comes first), each synced only if written since its last sync.
 */
export function guestFlush(img: Qcow2Image): void {
  img.events.emit(EventKind.FlushToOs, img.node, CACHE_NONE, -1, 0, 0, 0);
  writeCaches(img);
  img.flushDataFile();
  img.flushFile();
}

/** qcow2_mark_clean: after everything is on disk, clear the dirty bit. */
export function markClean(img: Qcow2Image): void {
  if (!img.dirty) return;
  img.header.incompatibleFeatures &= ~BigInt(INCOMPAT_DIRTY);
  img.rt.dirty = false;
  flushCaches(img);
  writeIncompat(img);
  img.events.emit(EventKind.DirtyBit, img.node, CACHE_NONE, -1, 0, 0, 0);
}

/** bdrv_close: a flush, then qcow2_inactivate (flush both caches, mark clean). Only for writable images. */
export function closeWritable(img: Qcow2Image, beforeInactivate?: () => void): void {
  guestFlush(img);
  // QEMU's close flush runs in a coroutine of its own; qcow2_inactivate then runs outside it.
  beforeInactivate?.();
  img.l2Cache.flush();
  img.refcountCache.flush();
  markClean(img);
}
