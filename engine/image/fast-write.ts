// The write fast path: a guest write inside one cluster whose L2 slice (and, to allocate, refcount block) is cached,
// done with each piece of work once (one L2 lookup, one refcount lookup, one overlap check) where the general path
// (write-path.ts) repeats them as QEMU does. It emits the very events the general path emits, in the same order with
// the same fields, and leaves the same state; whenever anything could make the general path act differently, it
// does nothing and says so (false), and the general path runs. test/engine/fast-write.test.ts holds the two equal.
// The events are a request shape (events/event-shapes.ts), handed to the sink at once after the work is done: the
// sink is batchable (nothing looks at the engine between two events), so the order of work within the request is
// free.
import { emitShape, shapeValues, SHAPE_ALLOC, SHAPE_COUNT, SHAPE_RELINK, SHAPE_REWRITE, V_ALLOC, V_BLOCK, V_CLUSTER, V_FCI, V_HOST, V_LEN, V_NODE, V_OFFSET, V_RSLOT, V_SIDX, V_SLICE, V_SLOT } from "../events/event-shapes.js";
import type { EventSink } from "../events/recorder.js";
import { entryHi, entryLo, SubclusterType } from "../format/l2-entry.js";
import { getRefcount as getEntry, setRefcount as setEntry } from "../format/refcount-entry.js";
import { zeroRange } from "../storage/storage.js";
import { usesODirect } from "./engine-config.js";
import { checkMetadataOverlap } from "./overlap-check.js";
import { POW2 } from "./pow2.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { refblockBits, reftableEntry } from "./refcounts.js";

let enabled = process.env.QCOWDBG_NO_FAST_WRITE === undefined;

/** How many writes took the fast path, in all and per shape (the equivalence tests check that their workloads reach it). */
export const fastWriteStats = { taken: 0, byShape: new Array<number>(SHAPE_COUNT).fill(0) };

/** Turns the fast path on or off (the equivalence tests run both; QCOWDBG_NO_FAST_WRITE=1 starts with it off). */
export function setFastWrite(on: boolean): void {
  enabled = on;
}

/**
 * qcow2_co_pwritev_part for a write that the fast path can take: a rewrite of a COPIED data cluster (with extended
 * L2, of allocated subclusters), a write of whole subclusters not yet allocated in a COPIED cluster (extended L2),
 * or a write into an unallocated cluster (no backing file) that takes the free cluster at free_cluster_index.
 * Returns false, having done nothing, otherwise. The caller (qcow2Write) has checked the request against the image
 * (checkWrite).
 */
export function tryFastWrite(img: Qcow2Image, data: Uint8Array, offset: number): boolean {
  const ev = img.events;
  // Something watching the engine between two events (a breakpoint's listener, a tee) must see the general path's
  // order of work; and a multi-chunk write or a layout the fast path does not know goes the general way.
  if (!enabled || ev.batchable === undefined || !ev.batchable() || img.co !== null) return false;
  const cs = img.clusterSize;
  const len = data.length;
  const ci = Math.floor(offset / cs);
  const inCl = offset - ci * cs;
  if (len === 0 || inCl + len > cs || img.hasDataFile) return false;
  const l2e = img.geo.l2Entries;
  const li = Math.floor(ci / l2e);
  if (li >= img.header.l1Size || !img.l1Copied(li)) return false;
  const l2Offset = img.l1Offset(li);
  if (l2Offset === 0 || l2Offset - Math.floor(l2Offset / cs) * cs !== 0) return false;
  const l2Index = ci - li * l2e;
  const se = img.sliceEntries;
  const sIdx = l2Index - Math.floor(l2Index / se) * se;
  const eb = img.geo.l2EntryBytes;
  const sliceOffset = l2Offset + (l2Index - sIdx) * eb;
  const l2c = img.l2Cache;
  const slot = l2c.unpinnedSlot(sliceOffset);
  if (slot < 0) return false;
  const o = slot * l2c.tableSize + sIdx * eb;
  const dv = l2c.dataView;
  const hi = dv.getUint32(o);
  const lo = dv.getUint32(o + 4);
  const ext = img.geo.extendedL2;
  // Extended L2: the subclusters the write touches (first..last, as bits), and whether it covers them whole.
  let mask = 0;
  let whole = true;
  if (ext) {
    const scs = img.subclusterSize;
    const first = Math.floor(inCl / scs);
    const last = Math.floor((inCl + len - 1) / scs);
    mask = ((last === 31 ? -1 : (1 << (last + 1)) - 1) & ~((1 << first) - 1)) >>> 0;
    whole = first * scs === inCl && (last + 1) * scs === inCl + len;
  }
  if (hi === 0 && lo === 0) {
    // Extended L2: an unallocated cluster with allocation bits is invalid (the general path reports it), and a
    // write off its subclusters' bounds copies on write within them (the general path's is_zero_cow).
    if (ext && (dv.getUint32(o + 12) !== 0 || !whole)) return false;
    return allocating(img, ev, data, offset, inCl, slot, l2Offset, sliceOffset, sIdx, mask);
  }
  // A COPIED, uncompressed cluster without the zero flag, at an aligned, non-zero offset: kept in place.
  if ((hi & 0xc0000000) >>> 0 !== 0x80000000 || (lo & 1) !== 0) return false;
  const cluster = (hi & 0x00ffffff) * 0x100000000 + ((lo & 0xfffffe00) >>> 0);
  if (cluster === 0 || cluster - Math.floor(cluster / cs) * cs !== 0) return false;
  const host = cluster + inCl;
  if (ext) {
    const zero = dv.getUint32(o + 8);
    const alloc = dv.getUint32(o + 12);
    // A subcluster both allocated and zero makes the entry invalid (the general path reports it).
    if ((zero & alloc) !== 0) return false;
    // Some subcluster not allocated: the entry is linked again (calculate_l2_meta with keep_old), which the fast
    // path does only when that needs no COW, i.e. the write covers its subclusters whole.
    if (((alloc & mask) >>> 0) !== mask) return whole && relinking(img, ev, data, offset, slot, sliceOffset, sIdx, cluster, host, (alloc | mask) >>> 0, (zero & ~mask) >>> 0);
  }
  if (checkMetadataOverlap(img, 0, host, len) !== 0) return false;
  const v = requestValues(img, offset, len, sliceOffset, slot);
  v[V_HOST] = host;
  l2c.repeatHit(slot, 1);
  writeData(img, data, host);
  return finish(ev, SHAPE_REWRITE);
}

/**
 * Whether linking the L2 entry after this write leaves the refcount/L2 cache dependency as qcow2_cache_set_dependency
 * would without flushing anything (when it would flush, the fast path declines); and the link's dependency itself.
 */
function linkDependsWithoutFlush(img: Qcow2Image): boolean {
  const rc = img.refcountCache;
  const l2c = img.l2Cache;
  const depend = !img.dirty && img.config.refcountBeforeL2 !== false;
  return !depend || (rc.depends === null && (l2c.depends === null || l2c.depends === rc));
}

/**
 * Extended L2: the write into whole subclusters of a COPIED cluster, some of them not allocated yet. handle_copied
 * keeps the cluster and calculate_l2_meta makes an L2Meta without COW regions; the data is written in place and
 * qcow2_alloc_cluster_link_l2 links the same cluster again, setting the subclusters' allocation bits and clearing
 * their zero bits. Nothing is freed (keep_old).
 */
function relinking(img: Qcow2Image, ev: EventSink, data: Uint8Array, offset: number, slot: number, sliceOffset: number, sIdx: number, cluster: number, host: number, alloc: number, zero: number): boolean {
  const len = data.length;
  // The link marks the image dirty with lazy refcounts (qcow2_mark_dirty's own events), and may flush a cache.
  if (img.lazyRefcounts || !linkDependsWithoutFlush(img)) return false;
  if (checkMetadataOverlap(img, 0, host, len) !== 0) return false;
  writeData(img, data, host);
  const l2c = img.l2Cache;
  if (!img.dirty && img.config.refcountBeforeL2 !== false) l2c.depends = img.refcountCache;
  // handle_copied's lookup and the link's.
  l2c.repeatHit(slot, 2);
  l2c.markDirty(slot);
  setEntry16(img, slot, sIdx, cluster, alloc, zero);
  const v = requestValues(img, offset, len, sliceOffset, slot);
  v[V_HOST] = host;
  v[V_ALLOC] = cluster;
  v[V_SIDX] = sIdx;
  return finish(ev, SHAPE_RELINK);
}

/** An extended L2 entry (16 bytes): the COPIED cluster, then the bitmap's zero and allocation halves. */
function setEntry16(img: Qcow2Image, slot: number, sIdx: number, cluster: number, alloc: number, zero: number): void {
  const l2c = img.l2Cache;
  const o = slot * l2c.tableSize + sIdx * 16;
  const dv = l2c.dataView;
  dv.setUint32(o, entryHi(cluster, true));
  dv.setUint32(o + 4, entryLo(cluster, false));
  dv.setUint32(o + 8, zero);
  dv.setUint32(o + 12, alloc);
}

/** The write's events, its work done: shape `id` with the values filled in. */
function finish(ev: EventSink, id: number): true {
  emitShape(ev, id);
  fastWriteStats.taken++;
  fastWriteStats.byShape[id]!++;
  return true;
}

/** The shape values every fast write sets: the request and the L2 slice it looked up. */
function requestValues(img: Qcow2Image, offset: number, len: number, sliceOffset: number, slot: number): Float64Array {
  const v = shapeValues;
  v[V_NODE] = img.node;
  v[V_OFFSET] = offset;
  v[V_LEN] = len;
  v[V_SLICE] = sliceOffset;
  v[V_SLOT] = slot;
  return v;
}

/** dataWrite() of write-path.ts after its overlap check (which the fast path made before it began). */
function writeData(img: Qcow2Image, data: Uint8Array, host: number): void {
  if (img.config.metadataOnly) {
    img.rt.dataWriteSkipped = true;
    if (host + data.length > img.dataFile.size()) img.dataFile.truncate(host + data.length);
  } else img.dataFile.write(data, host);
}

/**
 * The write into an unallocated cluster: handle_copied finds nothing, handle_alloc takes one cluster (its refcount
 * read once and raised from 0 to 1), the COW regions read as zero and are zeroed in one go (skip_cow), the data is
 * written and the L2 entry linked.
 */
function allocating(img: Qcow2Image, ev: EventSink, data: Uint8Array, offset: number, inCl: number, slot: number, l2Offset: number, sliceOffset: number, sIdx: number, mask: number): boolean {
  const cs = img.clusterSize;
  const len = data.length;
  if (img.backing !== null || img.lazyRefcounts) return false;
  // The refcount of the cluster at free_cluster_index: its block cached and unpinned, and the cluster free (else the
  // general path reads on, one cluster after another).
  const fci = img.rt.freeClusterIndex;
  const bits = refblockBits(img);
  const ti = Math.floor(fci / POW2[bits]!);
  if (ti >= img.reftableSize) return false;
  const block = reftableEntry(img, ti);
  if (block === 0 || block - Math.floor(block / cs) * cs !== 0) return false;
  const rc = img.refcountCache;
  const rslot = rc.unpinnedSlot(block);
  if (rslot < 0) return false;
  const bi = fci - ti * POW2[bits]!;
  const order = img.header.refcountOrder;
  const table = rc.table(rslot);
  if (getEntry(table, bi, order) !== 0) return false;
  const alloc = fci * cs;
  // COW regions: with extended L2 none (the caller took only writes of whole subclusters of a cluster without
  // allocated ones: calculate_l2_meta's regions then end at the subclusters' bounds).
  const ext = img.geo.extendedL2;
  const head = ext ? 0 : inCl;
  const tail = ext ? 0 : cs - inCl - len;
  const cow = head > 0 || tail > 0;
  if (cow) {
    // is_zero_cow asks the block status of the head and tail: with no backing file an unallocated cluster reads
    // as zero, unless the cluster passes the end of the image (the status stops there) or the probe for metadata
    // preallocation is still to run.
    if ((Math.floor(offset / cs) + 1) * cs > Math.floor(img.virtualSize / 512) * 512 || !img.rt.metadataPreallocationChecked) return false;
    if (usesODirect(img.config.cacheMode) && (alloc % img.rt.directIoAlign !== 0 || cs % img.rt.directIoAlign !== 0)) return false;
  }
  // The zero write and the data write both lie in the new cluster, which is all the overlap check looks at.
  if (checkMetadataOverlap(img, 0, alloc, cs) !== 0) return false;
  // Linking the entry makes the L2 cache depend on the refcount cache: only when that flushes nothing.
  const l2c = img.l2Cache;
  if (!linkDependsWithoutFlush(img)) return false;
  const depend = !img.dirty && img.config.refcountBeforeL2 !== false;

  const host = alloc + inCl;
  // alloc_clusters_noref takes the cluster, update_refcount raises its refcount to 1.
  img.rt.freeClusterIndex = fci + 1;
  rc.repeatHit(rslot, 2);
  rc.markDirty(rslot);
  setEntry(table, bi, order, 1);
  if (cow) {
    // is_zero_cow's block status of the head and the tail (each an L2 lookup), then one zero write (skip_cow).
    lastLookup(img, tail > 0 ? tail : head, l2Offset, sIdx);
    zeroRange(img.dataFile, alloc, cs);
  }
  writeData(img, data, host);
  // The link: the L2 cache's lookups so far (handle_copied, handle_alloc, the COW's) and its own.
  if (depend) l2c.depends = rc;
  l2c.repeatHit(slot, 3 + (head > 0 ? 1 : 0) + (tail > 0 ? 1 : 0));
  l2c.markDirty(slot);
  if (ext) {
    // The written subclusters allocated (none was before), their zero bits cleared.
    setEntry16(img, slot, sIdx, alloc, mask, (l2c.dataView.getUint32(slot * l2c.tableSize + sIdx * 16 + 8) & ~mask) >>> 0);
  } else {
    const o = slot * l2c.tableSize + sIdx * 8;
    l2c.dataView.setUint32(o, entryHi(alloc, true));
    l2c.dataView.setUint32(o + 4, entryLo(alloc, false));
  }
  const v = requestValues(img, offset, len, sliceOffset, slot);
  v[V_BLOCK] = block;
  v[V_RSLOT] = rslot;
  v[V_FCI] = fci;
  v[V_ALLOC] = alloc;
  v[V_HOST] = host;
  v[V_CLUSTER] = offset - inCl;
  v[V_SIDX] = sIdx;
  return finish(ev, SHAPE_ALLOC + (head > 0 ? 1 : 0) + (tail > 0 ? 2 : 0));
}

/** The lookup result the last block status query of is_zero_cow leaves on the image (getHostOffset's). */
function lastLookup(img: Qcow2Image, bytes: number, l2Offset: number, sIdx: number): void {
  const r = img.lookupResult;
  r.type = SubclusterType.UnallocatedPlain;
  r.host = r.entryHi = r.entryLo = 0;
  r.bytes = bytes;
  r.l2Offset = l2Offset;
  r.l2Index = sIdx;
}
