// Refcounts through the refcount cache, as in QEMU's qcow2-refcount.c: read, update with QEMU's dependency rules,
// the first-fit search from free_cluster_index (a refcount block allocation needs it, so it lives here, below the
// allocator), refcount block allocation and table growth, and the discard queue for freed clusters.
import { mod2, POW2 } from "./pow2.js";
import { u32, put32, put64 } from "../format/bytes.js";
import { getRefcount as getEntry, setRefcount as setEntry, maxRefcount } from "../format/refcount-entry.js";
import { entryOffset } from "../format/l2-entry.js";
import { EventKind, CACHE_NONE, CACHE_REFCOUNT } from "../events/event-kind.js";
import { pwriteSync } from "./flush.js";
import { corruption, hx } from "./cluster-lookup.js";
import { GuestIoError } from "./guest-io-error.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { OL_REFCOUNT_BLOCK, preWriteOverlapCheck, tableEntrySet } from "./overlap-check.js";
import { discardRange } from "../storage/storage.js";

export class Again extends Error {
  constructor() {
    super("EAGAIN");
  }
}

export function reftableEntry(img: Qcow2Image, i: number): number {
  return entryOffset(u32(img.reftable, i * 8), u32(img.reftable, i * 8 + 4) & 0xfffffe00);
}

export function refblockBits(img: Qcow2Image): number {
  return img.clusterBits + 3 - img.header.refcountOrder;
}

/** qcow2_get_refcount: 0 when the table slot is empty or past the table (no cache access then). */
export function getRefcount(img: Qcow2Image, clusterIndex: number): number {
  const bits = refblockBits(img);
  const ti = Math.floor(clusterIndex / POW2[bits]!);
  if (ti >= img.reftableSize) return 0;
  const blockOffset = reftableEntry(img, ti);
  if (!blockOffset) return 0;
  if (mod2(blockOffset, img.clusterSize) !== 0)
    throw corruption(img, "refcount table", `entry[${ti}]`, img.header.refcountTableOffset + ti * 8, `refblock offset ${hx(blockOffset)} unaligned (reftable index: ${hx(ti)})`);
  const slot = img.refcountCache.get(blockOffset, true);
  const v = getEntry(img.refcountCache.table(slot), mod2(clusterIndex, POW2[bits]!), img.header.refcountOrder);
  img.refcountCache.put(slot);
  img.events.emit(EventKind.RefcountRead, img.node, CACHE_REFCOUNT, slot, clusterIndex, v, 0);
  return v;
}

/** qcow2_detect_metadata_preallocation: counts referenced clusters up to the file end or a threshold. */
export function detectMetadataPreallocation(img: Qcow2Image): boolean {
  const fileLength = img.file.size();
  const alloc = allocatedSize(img);
  const realClusters = Math.floor(alloc / img.clusterSize);
  const threshold = Math.max(Math.floor((realClusters * 10) / 9), realClusters + 2);
  const end = Math.ceil(fileLength / img.clusterSize);
  let count = 0;
  for (let i = 0; i < end && count < threshold; i++) if (getRefcount(img, i)) count++;
  return count >= threshold;
}

function allocatedSize(img: Qcow2Image): number {
  const f = img.file as { allocatedSize?: () => number };
  return typeof f.allocatedSize === "function" ? f.allocatedSize() : img.file.size();
}

/** Loads (pins) the refcount block for a cluster, allocating it if needed; throws Again after allocating. */
function allocRefcountBlock(img: Qcow2Image, clusterIndex: number): number {
  const cs = img.clusterSize;
  const bits = refblockBits(img);
  const ti = Math.floor(clusterIndex / POW2[bits]!);
  if (ti < img.reftableSize) {
    const off = reftableEntry(img, ti);
    if (off) {
      if (mod2(off, cs) !== 0) throw corruption(img, "refcount table", `entry[${ti}]`, img.header.refcountTableOffset + ti * 8, `refblock offset ${hx(off)} unaligned (reftable index: ${hx(ti)})`);
      return img.refcountCache.get(off, true);
    }
  }
  // We write to the refcount table, so we might depend on L2 tables.
  img.l2Cache.flush();
  const newBlock = allocClustersNoref(img, cs);
  if (newBlock === 0) throw corruption(img, "refcount table", "allocation", 0, "preventing invalid allocation of refcount block at offset 0");
  img.events.emit(EventKind.RefblockAlloc, img.node, CACHE_REFCOUNT, -1, newBlock, ti, 0);
  let slot: number;
  const newIndex = newBlock / cs;
  if (Math.floor(newIndex / 2 ** bits) === ti) {
    slot = img.refcountCache.get(newBlock, false);
    const t = img.refcountCache.table(slot);
    t.fill(0);
    setEntry(t, newIndex % 2 ** bits, img.header.refcountOrder, 1);
  } else {
    updateRefcount(img, newBlock, cs, 1, false);
    img.refcountCache.flush();
    slot = img.refcountCache.get(newBlock, false);
    img.refcountCache.table(slot).fill(0);
  }
  img.refcountCache.markDirty(slot);
  img.refcountCache.flush();
  if (ti < img.reftableSize) {
    const e = new Uint8Array(8);
    put64(e, 0, newBlock);
    pwriteSync(img, e, img.header.refcountTableOffset + ti * 8);
    tableEntrySet(img, OL_REFCOUNT_BLOCK, ti, e);
    img.refcountCache.put(slot);
    throw new Again();
  }
  img.refcountCache.put(slot);
  const blocksUsed = Math.ceil(Math.max(clusterIndex + 1, newIndex + 1) / 2 ** bits);
  growRefcountTable(img, blocksUsed * 2 ** bits * cs, ti, newBlock);
  // load_refcount_block: the caller gets the new block pinned, then restarts (EAGAIN) and drops it.
  img.refcountCache.put(img.refcountCache.get(newBlock, true));
  throw new Again();
}

/**
 * update_refcount: adds or subtracts `addend` for every cluster in [offset, offset+length). Throws Again when a
 * refcount block had to be allocated (the caller restarts its search for free clusters).
 */
export function updateRefcount(img: Qcow2Image, offset: number, length: number, addend: number, decrease: boolean, discard = false): void {
  if (length <= 0) return;
  const cs = img.clusterSize;
  const order = img.header.refcountOrder;
  const bits = refblockBits(img);
  const cache = img.refcountCache;
  if (decrease) cache.setDependency(img.l2Cache);
  const start = Math.floor(offset / cs) * cs;
  const last = Math.floor((offset + length - 1) / cs) * cs;
  let slot = -1;
  let oldTi = -1;
  let co = start;
  try {
    for (; co <= last; co += cs) {
      const ci = co / cs;
      const ti = Math.floor(ci / POW2[bits]!);
      if (ti !== oldTi) {
        if (slot >= 0) cache.put(slot);
        slot = -1;
        try {
          slot = allocRefcountBlock(img, ci);
        } catch (e) {
          if (e instanceof Again && img.rt.freeClusterIndex > start / cs) img.rt.freeClusterIndex = start / cs;
          throw e;
        }
      }
      oldTi = ti;
      cache.markDirty(slot);
      const t = cache.table(slot);
      const bi = mod2(ci, POW2[bits]!);
      const old = getEntry(t, bi, order);
      const v = decrease ? old - addend : old + addend;
      // Not a corruption report in QEMU: update_refcount undoes what it changed and fails with -EINVAL.
      if (v < 0 || v > maxRefcount(order)) throw new GuestIoError("EINVAL", `refcount of cluster ${ci} would become ${v}`);
      if (v === 0 && ci < img.rt.freeClusterIndex) img.rt.freeClusterIndex = ci;
      setEntry(t, bi, order, v);
      img.events.emit(EventKind.RefcountUpdate, img.node, CACHE_REFCOUNT, slot, ci, old, v);
      if (v === 0) {
        // QEMU looks the tables up by the start of the whole range, not by this cluster.
        const rs = cache.lookup(offset);
        if (rs >= 0) {
          cache.put(slot);
          slot = -1;
          oldTi = -1;
          cache.discard(rs);
        }
        const ls = img.l2Cache.lookup(offset);
        if (ls >= 0) img.l2Cache.discard(ls);
        if (discard) img.rt.pendingDiscards.push(co);
      }
    }
  } catch (e) {
    if (slot >= 0) cache.put(slot);
    slot = -1;
    // Undo what this call already changed (QEMU does the same; it matters for EAGAIN after a new refblock).
    if (co - offset > 0) {
      try {
        updateRefcount(img, offset, co - offset, addend, !decrease);
      } catch {
        /* best effort, as in QEMU */
      }
    }
    throw e;
  } finally {
    if (slot >= 0) cache.put(slot);
  }
}

/** qcow2_free_clusters. */
export function freeClusters(img: Qcow2Image, offset: number, size: number, discard: boolean): void {
  img.events.emit(EventKind.ClusterFree, img.node, CACHE_NONE, -1, offset, Math.ceil(size / img.clusterSize), 0);
  try {
    updateRefcount(img, offset, size, 1, true, discard);
  } catch (e) {
    // QEMU prints the failure on stderr and goes on (the clusters leak).
    if (!(e instanceof GuestIoError) || e.errno !== "EINVAL") throw e;
    img.onCorruption(`qcow2_free_clusters failed: ${e.strerror}`);
  }
  processDiscards(img);
}

/** Punches the freed clusters in the file (they then read as zeros), as the discard queue does. */
export function processDiscards(img: Qcow2Image, ok = true): void {
  if (!img.rt.pendingDiscards.length) return;
  const cs = img.clusterSize;
  // qcow2_process_discards(bs, ret): after a failed operation the queued regions are dropped, not passed down.
  if (ok) for (const off of img.rt.pendingDiscards) discardRange(img.file, off, cs);
  img.rt.pendingDiscards.length = 0;
}

/** qcow2_free_any_cluster: releases what an L2 entry pointed to (a compressed range or a whole cluster). */
export function freeAnyCluster(img: Qcow2Image, hi: number, lo: number, discard: boolean): void {
  if (img.hasDataFile) {
    // External data files have no refcounts; a passed-through discard punches the cluster there.
    const off = entryOffset(hi, lo);
    if (discard && !(hi & 0x40000000) && (off !== 0 || (hi & 0x80000000) !== 0)) discardRange(img.dataFile, off, img.clusterSize);
    return;
  }
  if (hi & 0x40000000) {
    const x = 62 - (img.clusterBits - 8);
    const hiOffBits = x - 32;
    const coffset = (hi & ((1 << hiOffBits) - 1)) * 0x100000000 + (lo >>> 0);
    const sectors = ((hi & 0x3fffffff) >>> hiOffBits) + 1;
    freeClusters(img, coffset, sectors * 512 - (coffset & 511), discard);
    return;
  }
  const off = entryOffset(hi, lo);
  if (!off) return;
  if (mod2(off, img.clusterSize) !== 0) return;
  freeClusters(img, off, img.clusterSize, discard);
}

const MAX_REFTABLE_ENTRIES = (8 * 1024 * 1024) / 8;

/** alloc_clusters_noref: finds `size` bytes of free contiguous clusters without taking a reference. */
export function allocClustersNoref(img: Qcow2Image, size: number): number {
  const n = Math.ceil(size / img.clusterSize);
  let i = 0;
  while (i < n) {
    const idx = img.rt.freeClusterIndex++;
    if (getRefcount(img, idx) !== 0) i = 0;
    else i++;
  }
  return (img.rt.freeClusterIndex - n) * img.clusterSize;
}

/** qcow2_refcount_metadata_size's fixed point: refcount blocks needed to cover `clusters` plus themselves. */
export function refblocksNeeded(clusters: number, cs: number, order: number, generous: boolean): number {
  const perTableCluster = cs / 8;
  const perBlock = (cs * 8) / 2 ** order;
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last: number;
  do {
    last = n;
    blocks = Math.ceil((clusters + table + blocks) / perBlock);
    table = Math.ceil(blocks / perTableCluster);
    n = clusters + blocks + table;
    if (n === last && generous) {
      clusters += Math.ceil(table / 2);
      n = 0;
      generous = false;
    }
  } while (n !== last);
  return blocks;
}

/** qcow2_refcount_area: new refcount blocks and table at `startOffset`, then switch the header over. */
export function growRefcountTable(img: Qcow2Image, startOffset: number, newIndex: number, newBlock: number): void {
  const cs = img.clusterSize;
  const order = img.header.refcountOrder;
  const perBlock = 2 ** refblockBits(img);
  const total = refblocksNeeded(startOffset / cs, cs, order, true);
  if (total > MAX_REFTABLE_ENTRIES) throw new Error(`${img.filename}: refcount table would exceed 8 MiB`);
  const areaIndex = Math.floor(startOffset / cs / perBlock);
  let tableSize = total + Math.ceil(total / 2);
  tableSize = Math.ceil(tableSize / (cs / 8)) * (cs / 8);
  const tableClusters = (tableSize * 8) / cs;
  if (tableSize > MAX_REFTABLE_ENTRIES) throw new Error(`${img.filename}: refcount table would exceed 8 MiB`);
  const newTable = new Float64Array(tableSize);
  let maxIndex = -1;
  for (let i = 0; i < img.reftableSize; i++) if (reftableEntry(img, i)) maxIndex = i;
  for (let i = 0; i <= Math.min(maxIndex, tableSize - 1); i++) newTable[i] = reftableEntry(img, i);
  if (newBlock) newTable[newIndex] = newBlock;
  let additional = 0;
  for (let i = areaIndex; i < total; i++) if (!newTable[i]) additional++;
  const tableOffset = startOffset + additional * cs;
  const endOffset = tableOffset + tableClusters * cs;
  img.events.emit(EventKind.ReftableGrow, img.node, CACHE_NONE, -1, img.reftableSize, tableSize, tableOffset);
  let blockOffset = startOffset;
  const cache = img.refcountCache;
  for (let i = areaIndex; i < total; i++) {
    let slot: number;
    if (newTable[i]) slot = cache.get(newTable[i]!, true);
    else {
      slot = cache.get(blockOffset, false);
      cache.table(slot).fill(0);
      cache.markDirty(slot);
      newTable[i] = blockOffset;
      blockOffset += cs;
    }
    const first = i * perBlock * cs;
    if (first < endOffset) {
      let j = first < startOffset ? (startOffset - first) / cs : 0;
      const end = Math.min((endOffset - first) / cs, perBlock);
      const t = cache.table(slot);
      for (; j < end; j++) {
        if (getEntry(t, j, order) !== 0) throw new Error(`${img.filename}: refcount area at 0x${startOffset.toString(16)} is not empty`);
        setEntry(t, j, order, 1);
      }
      cache.markDirty(slot);
    }
    cache.put(slot);
  }
  cache.flush();
  const bytes = new Uint8Array(tableSize * 8);
  for (let i = 0; i < tableSize; i++) if (newTable[i]) put64(bytes, i * 8, newTable[i]!);
  preWriteOverlapCheck(img, 0, tableOffset, bytes.length, false);
  pwriteSync(img, bytes, tableOffset);
  const hdr = new Uint8Array(12);
  put64(hdr, 0, tableOffset);
  put32(hdr, 8, tableClusters);
  pwriteSync(img, hdr, 48, false);
  const oldOffset = img.header.refcountTableOffset;
  const oldSize = img.reftableSize;
  img.rt.reftable = bytes;
  img.header.refcountTableOffset = tableOffset;
  img.header.refcountTableClusters = tableClusters;
  freeClusters(img, oldOffset, oldSize * 8, false);
}
