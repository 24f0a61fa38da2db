// L2 tables for writing (qcow2-cluster.c): get_cluster_table pins the slice for an offset, allocating a new
// table (copying the old one when it was shared) and pointing the L1 entry at it; entry get/set helpers.
import { put32 } from "../format/bytes.js";
import { encodeEntry, entryOffset } from "../format/l2-entry.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import { corruption, hx } from "./cluster-lookup.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { freeClusters } from "./refcounts.js";
import { allocClusters } from "./allocator.js";
import { GuestIoError } from "./guest-io-error.js";
import { growL1Table, L1ResizeError } from "./l1-table-resize.js";
import { OL_ACTIVE_L1, OL_ACTIVE_L2, preWriteOverlapCheck, tableEntrySet } from "./overlap-check.js";

/**
 * Entry words of slice entry i: hi, lo, and (extended L2) the bitmap as alloc (bits 0..31) and zero (32..63). Read
 * and written through the cache's DataView: one big-endian load or store each, where four byte accesses cost more
 * on the write path's several lookups per request.
 */
export function l2Hi(img: Qcow2Image, slot: number, i: number): number {
  return img.l2Cache.dataView.getUint32(slot * img.l2Cache.tableSize + i * img.geo.l2EntryBytes);
}
export function l2Lo(img: Qcow2Image, slot: number, i: number): number {
  return img.l2Cache.dataView.getUint32(slot * img.l2Cache.tableSize + i * img.geo.l2EntryBytes + 4);
}
export function l2Alloc(img: Qcow2Image, slot: number, i: number): number {
  return img.geo.extendedL2 ? img.l2Cache.dataView.getUint32(slot * img.l2Cache.tableSize + i * 16 + 12) : 0;
}
export function l2Zero(img: Qcow2Image, slot: number, i: number): number {
  return img.geo.extendedL2 ? img.l2Cache.dataView.getUint32(slot * img.l2Cache.tableSize + i * 16 + 8) : 0;
}
export function setL2(img: Qcow2Image, slot: number, i: number, hi: number, lo: number): void {
  const o = slot * img.l2Cache.tableSize + i * img.geo.l2EntryBytes;
  const dv = img.l2Cache.dataView;
  dv.setUint32(o, hi >>> 0);
  dv.setUint32(o + 4, lo >>> 0);
  img.events.emit(EventKind.L2Update, img.node, 1, slot, i, entryOffset(hi, lo), lo & 1);
}
export function setBitmap(img: Qcow2Image, slot: number, i: number, alloc: number, zero: number): void {
  const o = slot * img.l2Cache.tableSize + i * 16;
  put32(img.l2Cache.tables, o + 8, zero >>> 0);
  put32(img.l2Cache.tables, o + 12, alloc >>> 0);
}

export function l1Index(img: Qcow2Image, offset: number): number {
  return Math.floor(Math.floor(offset / img.clusterSize) / img.geo.l2Entries);
}
export function sliceIndex(img: Qcow2Image, offset: number): number {
  // mod2's formula written out (exact: the sizes are powers of two): the write path asks this per request.
  const ci = Math.floor(offset / img.clusterSize);
  const l2e = img.geo.l2Entries;
  const l2Index = ci - Math.floor(ci / l2e) * l2e;
  const se = img.sliceEntries;
  return l2Index - Math.floor(l2Index / se) * se;
}

/** Pins the L2 slice mapping `offset` (allocating its table if needed) and returns the cache slot. */
export function getClusterTable(img: Qcow2Image, offset: number): number {
  // Three calls per allocating write: the remainders are written out and the error reports kept out of line,
  // so this stays small enough for V8 to inline into the write path.
  const cs = img.clusterSize;
  const l2e = img.geo.l2Entries;
  const ci = Math.floor(offset / cs);
  const li = Math.floor(ci / l2e);
  if (li >= img.header.l1Size) growL1For(img, li, offset);
  let l2Offset = img.l1Offset(li);
  if (l2Offset - Math.floor(l2Offset / cs) * cs !== 0) throw unalignedL2(img, li, l2Offset);
  if (!img.l1Copied(li)) {
    l2Allocate(img, li);
    if (l2Offset) freeClusters(img, l2Offset, l2e * img.geo.l2EntryBytes, false);
    l2Offset = img.l1Offset(li);
  }
  // sliceOffset(): the slice's first entry is the L2 index rounded down to a multiple of the slice's entries.
  const se = img.sliceEntries;
  return img.l2Cache.get(l2Offset + Math.floor((ci - li * l2e) / se) * se * img.geo.l2EntryBytes, true);
}

/**
 * get_cluster_table past the L1 table: it grows (qcow2_grow_l1_table, not to the exact size). Only a write past
 * the virtual size gets here (the VM state area: open refuses an L1 table too small for the virtual size).
 */
function growL1For(img: Qcow2Image, li: number, offset: number): void {
  try {
    growL1Table(img, li + 1, false);
  } catch (e) {
    if (e instanceof L1ResizeError) throw new GuestIoError("EFBIG", `growing the L1 table for guest offset 0x${offset.toString(16)}`);
    throw e;
  }
}

function unalignedL2(img: Qcow2Image, li: number, l2Offset: number): Error {
  return corruption(img, "L1 table", `entry[${li}]`, img.header.l1TableOffset + li * 8, `L2 table offset ${hx(l2Offset)} unaligned (L1 index: ${hx(li)})`);
}

function l2Allocate(img: Qcow2Image, li: number): void {
  const [ohi, olo] = img.l1Entry(li);
  const oldL2 = entryOffset(ohi, olo);
  const ev = img.events;
  ev.emit(EventKind.L2Allocate, img.node, CACHE_NONE, -1, li, 0, 0);
  const l2Offset = allocClusters(img, img.geo.l2Entries * img.geo.l2EntryBytes);
  if (l2Offset === 0) throw corruption(img, "L1 table", `entry[${li}]`, img.header.l1TableOffset + li * 8, "preventing invalid allocation of L2 table at offset 0");
  img.refcountCache.flush();
  const sliceBytes = img.sliceSize;
  const nSlices = img.clusterSize / sliceBytes;
  ev.emit(EventKind.L2AllocateGetEmpty, img.node, CACHE_NONE, -1, li, 0, 0);
  for (let s = 0; s < nSlices; s++) {
    const slot = img.l2Cache.get(l2Offset + s * sliceBytes, false);
    if (oldL2 === 0) img.l2Cache.table(slot).fill(0);
    else {
      const old = img.l2Cache.get(oldL2 + s * sliceBytes, true);
      img.l2Cache.table(slot).set(img.l2Cache.table(old));
      img.l2Cache.put(old);
    }
    ev.emit(EventKind.L2AllocateWriteL2, img.node, CACHE_NONE, -1, li, 0, 0);
    img.l2Cache.markDirty(slot);
    img.l2Cache.put(slot);
  }
  img.l2Cache.flush();
  ev.emit(EventKind.L2AllocateWriteL1, img.node, CACHE_NONE, -1, li, 0, 0);
  const [hi, lo] = encodeEntry(l2Offset, true);
  const e = new Uint8Array(8);
  put32(e, 0, hi);
  put32(e, 4, lo);
  tableEntrySet(img, OL_ACTIVE_L2, li, e);
  preWriteOverlapCheck(img, OL_ACTIVE_L1, img.header.l1TableOffset + li * 8, 8, false);
  img.file.write(img.l1.subarray(li * 8, li * 8 + 8), img.header.l1TableOffset + li * 8);
  ev.emit(EventKind.L1Update, img.node, CACHE_NONE, -1, li, l2Offset, 0);
  img.ioYield();
  img.flushFile();
  ev.emit(EventKind.L2AllocateDone, img.node, CACHE_NONE, -1, li, 0, 0);
}
