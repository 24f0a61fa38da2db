// The write path (qcow2_co_pwritev_part and qcow2-cluster.c): per chunk, keep COPIED clusters, allocate the rest
// first-fit, work out COW regions (subcluster-aware), skip COW when the regions are unallocated all the way down,
// merge head + data + tail into one write, then link the L2 entries (after refcounts, and after a file flush if
// COW was performed) and free the clusters they replaced.
import { mod2 } from "./pow2.js";
import { SubclusterType, subclusterType, entryOffset, entryHi, entryLo, COMPRESSED_HI } from "../format/l2-entry.js";
import { EventKind, CACHE_NONE, ADD_TASK_WRITE } from "../events/event-kind.js";
import { corruption, hx } from "./cluster-lookup.js";
import { GuestIoError } from "./guest-io-error.js";
import { getClusterTable, sliceIndex, l2Alloc, l2Hi, l2Lo, l2Zero, setBitmap, setL2 } from "./l2-table.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { qcow2Read } from "./read-path.js";
import { freeAnyCluster, freeClusters } from "./refcounts.js";
import { allocClusters, allocClustersAt } from "./allocator.js";
import { markDirty } from "./flush.js";
import { usesODirect } from "./engine-config.js";
import { CoroutineModel, type Wait } from "./coroutine-model.js";
import { preWriteOverlapCheck } from "./overlap-check.js";
import { isZeroFast } from "./is-zero.js";
import { zeroRange } from "../storage/storage.js";
import { tryFastWrite } from "./fast-write.js";

const INV = -1;

interface L2Meta {
  allocOffset: number;
  /** Guest offset of the first cluster. */
  offset: number;
  nbClusters: number;
  keepOld: boolean;
  cowStartOffset: number;
  cowStartBytes: number;
  cowEndOffset: number;
  cowEndBytes: number;
  skipCow: boolean;
  data: Uint8Array | undefined;
}

/** cluster_needs_new_alloc for a standard entry word. */
function needsNewAlloc(img: Qcow2Image, hi: number, lo: number): boolean {
  if (hi & COMPRESSED_HI) return true;
  // Normal and zero-allocated clusters keep their place only with COPIED; everything else gets a new cluster.
  const normal = entryOffset(hi, lo) !== 0 || (img.hasDataFile && (hi & 0x80000000) !== 0);
  if (normal) return (hi & 0x80000000) === 0;
  return true;
}

function countSingleWriteClusters(img: Qcow2Image, n: number, slot: number, idx: number, newAlloc: boolean): number {
  let expected = entryOffset(l2Hi(img, slot, idx), l2Lo(img, slot, idx));
  let i = 0;
  for (; i < n; i++) {
    const hi = l2Hi(img, slot, idx + i), lo = l2Lo(img, slot, idx + i);
    if (needsNewAlloc(img, hi, lo) !== newAlloc) break;
    if (!newAlloc) {
      if (expected !== entryOffset(hi, lo)) break;
      expected += img.clusterSize;
    }
  }
  return i;
}

function scType(img: Qcow2Image, slot: number, i: number, sc: number): SubclusterType {
  return subclusterType(l2Hi(img, slot, i), l2Lo(img, slot, i), l2Alloc(img, slot, i), l2Zero(img, slot, i), sc, img.geo.extendedL2, img.hasDataFile);
}

/** offset_to_sc_index: the subcluster within its cluster (offsets past the first cluster wrap, as QEMU's mask does). */
function scIndex(img: Qcow2Image, offset: number): number {
  return img.geo.extendedL2 ? Math.floor(offset / img.subclusterSize) % 32 : 0;
}

/** qcow2_get_subcluster_range_type's count (subclusters of the same type from sc). */
function rangeCount(img: Qcow2Image, slot: number, i: number, sc: number, type: SubclusterType): number {
  const per = img.geo.extendedL2 ? 32 : 1;
  if (!img.geo.extendedL2 || type === SubclusterType.Compressed) return per - sc;
  const alloc = l2Alloc(img, slot, i), zero = l2Zero(img, slot, i);
  let n = 0;
  for (let s = sc; s < 32; s++) {
    const a = (alloc >>> s) & 1, z = (zero >>> s) & 1;
    const same = type === SubclusterType.Normal ? a === 1 : type === SubclusterType.ZeroPlain || type === SubclusterType.ZeroAlloc ? z === 1 : a === 0 && z === 0;
    if (!same) break;
    n++;
  }
  return n;
}

function clz32n(v: number): number {
  return Math.clz32(v >>> 0);
}
function ctz32n(v: number): number {
  v >>>= 0;
  if (v === 0) return 32;
  return 31 - Math.clz32(v & -v);
}

function invalidEntry(img: Qcow2Image, guest: number, index: number): Error {
  const l2Offset = entryOffset(...img.l1Entry(Math.floor(guest / img.clusterSize / img.geo.l2Entries)));
  return corruption(img, "L2 table", "entry", 0, `invalid cluster entry found (L2 offset: ${hx(l2Offset)}, L2 index: ${hx(index)})`);
}

function calculateL2Meta(img: Qcow2Image, hostCluster: number, guest: number, bytes: number, slot: number, idx: number, metas: L2Meta[], keepOld: boolean): void {
  const cs = img.clusterSize;
  const scSize = img.subclusterSize;
  const cowStartTo = guest - Math.floor(guest / cs) * cs;
  const cowEndFrom = cowStartTo + bytes;
  const nb = Math.ceil(cowEndFrom / cs);
  let skip = keepOld;
  for (let i = 0; i < nb; i++) {
    let type: SubclusterType;
    if (skip) {
      const wf = Math.max(cowStartTo, i * cs);
      const wt = Math.min(cowEndFrom, (i + 1) * cs);
      const first = scIndex(img, wf), last = scIndex(img, wt - 1);
      type = scType(img, slot, idx + i, first);
      const cnt = type === SubclusterType.Invalid ? 0 : rangeCount(img, slot, idx + i, first, type);
      if (type !== SubclusterType.Normal || first + cnt <= last) skip = false;
    } else type = scType(img, slot, idx + i, 0);
    if (type === SubclusterType.Invalid) throw invalidEntry(img, guest, idx + i);
  }
  if (skip) return;
  let sc = scIndex(img, cowStartTo);
  let type = scType(img, slot, idx, sc);
  let cowStartFrom: number;
  if (!keepOld) {
    if (type === SubclusterType.Compressed) cowStartFrom = 0;
    else if (type === SubclusterType.Normal || type === SubclusterType.ZeroAlloc || type === SubclusterType.UnallocatedAlloc)
      cowStartFrom = img.geo.extendedL2 ? Math.min(sc, ctz32n(l2Alloc(img, slot, idx))) * scSize : 0;
    else cowStartFrom = sc * scSize;
  } else {
    cowStartFrom = type === SubclusterType.Normal ? cowStartTo : sc * scSize;
  }
  const lastIdx = idx + nb - 1;
  sc = scIndex(img, mod2(guest + bytes - 1, cs));
  type = scType(img, slot, lastIdx, sc);
  let cowEndTo: number;
  if (!keepOld) {
    if (type === SubclusterType.Compressed) cowEndTo = Math.ceil(cowEndFrom / cs) * cs;
    else if (type === SubclusterType.Normal || type === SubclusterType.ZeroAlloc || type === SubclusterType.UnallocatedAlloc) {
      cowEndTo = Math.ceil(cowEndFrom / cs) * cs;
      if (img.geo.extendedL2) cowEndTo -= Math.min(32 - sc - 1, clz32n(l2Alloc(img, slot, lastIdx))) * scSize;
    } else cowEndTo = Math.ceil(cowEndFrom / scSize) * scSize;
  } else {
    cowEndTo = type === SubclusterType.Normal ? cowEndFrom : Math.ceil(cowEndFrom / scSize) * scSize;
  }
  const m: L2Meta = {
    allocOffset: hostCluster,
    offset: guest - cowStartTo,
    nbClusters: nb,
    keepOld,
    cowStartOffset: cowStartFrom,
    cowStartBytes: cowStartTo - cowStartFrom,
    cowEndOffset: cowEndFrom,
    cowEndBytes: cowEndTo - cowEndFrom,
    skipCow: false,
    // Present from the start, so every L2Meta has one shape (mergeCow sets it).
    data: undefined,
  };
  // QEMU inserts at the head (QLIST_INSERT_HEAD); push is the same order for the usual single meta.
  if (metas.length === 0) metas.push(m);
  else metas.unshift(m);
}

function handleCopied(img: Qcow2Image, guest: number, host: { v: number }, bytes: { v: number }, metas: L2Meta[]): number {
  const cs = img.clusterSize;
  // offset_into_cluster, once (mod2's formula: exact, as cs is a power of two).
  const inCl = guest - Math.floor(guest / cs) * cs;
  img.events.emit(EventKind.HandleCopied, img.node, CACHE_NONE, -1, guest, host.v, bytes.v);
  const refSlot = getClusterTable(img, guest), refIndex = sliceIndex(img, guest);
  let nb = Math.ceil((inCl + bytes.v) / cs);
  nb = Math.min(nb, img.sliceEntries - refIndex);
  let ret = 0;
  let clusterOffset = 0;
  try {
    const hi = l2Hi(img, refSlot, refIndex), lo = l2Lo(img, refSlot, refIndex);
    clusterOffset = entryOffset(hi, lo);
    if (!needsNewAlloc(img, hi, lo)) {
      if (clusterOffset - Math.floor(clusterOffset / cs) * cs !== 0) throw unalignedCluster(img, lo, clusterOffset, guest);
      if (host.v !== INV && clusterOffset !== host.v) {
        bytes.v = 0;
        return 0;
      }
      const keep = countSingleWriteClusters(img, nb, refSlot, refIndex, false);
      bytes.v = Math.min(bytes.v, keep * cs - inCl);
      calculateL2Meta(img, clusterOffset, guest, bytes.v, refSlot, refIndex, metas, true);
      ret = 1;
    }
  } finally {
    img.l2Cache.put(refSlot);
  }
  if (ret > 0) host.v = clusterOffset + inCl;
  return ret;
}

function unalignedCluster(img: Qcow2Image, lo: number, clusterOffset: number, guest: number): Error {
  return corruption(img, "L2 table", "entry", 0, `${(lo & 1) !== 0 ? "preallocated zero" : "data"} cluster offset ${hx(clusterOffset)} unaligned (guest offset: ${hx(guest)})`);
}

function handleAlloc(img: Qcow2Image, guest: number, host: { v: number }, bytes: { v: number }, metas: L2Meta[]): number {
  const cs = img.clusterSize;
  const inCl = guest - Math.floor(guest / cs) * cs;
  img.events.emit(EventKind.HandleAlloc, img.node, CACHE_NONE, -1, guest, host.v, bytes.v);
  let nb = Math.ceil((inCl + bytes.v) / cs);
  const refSlot = getClusterTable(img, guest), refIndex = sliceIndex(img, guest);
  try {
    nb = Math.min(nb, img.sliceEntries - refIndex);
    nb = countSingleWriteClusters(img, nb, refSlot, refIndex, true);
    let alloc = host.v === INV ? INV : host.v - mod2(host.v, cs);
    img.events.emit(EventKind.DoAllocClustersOffset, img.node, CACHE_NONE, -1, guest, alloc, nb);
    if (img.hasDataFile) {
      if (alloc === INV) alloc = guest - inCl;
    } else {
      img.events.emit(EventKind.ClusterAllocPhys, img.node, CACHE_NONE, -1, 0, 0, 0);
      if (alloc === INV) alloc = allocClusters(img, nb * cs);
      else nb = allocClustersAt(img, alloc, nb);
    }
    if (nb === 0) {
      bytes.v = 0;
      return 0;
    }
    const requested = bytes.v + inCl;
    const nbBytes = Math.min(requested, nb * cs);
    host.v = alloc + inCl;
    bytes.v = Math.min(bytes.v, nbBytes - inCl);
    calculateL2Meta(img, alloc, guest, bytes.v, refSlot, refIndex, metas, false);
    return 1;
  } finally {
    img.l2Cache.put(refSlot);
  }
}

/** qcow2_alloc_host_offset: host offset for as much of [offset, offset+bytes) as one contiguous run allows. */
function allocHostOffset(img: Qcow2Image, offset: number, bytes: number, metas: L2Meta[]): HostRun {
  img.events.emit(EventKind.AllocClustersOffset, img.node, CACHE_NONE, -1, offset, bytes, 0);
  let start = offset;
  let remaining = bytes;
  // Scratch holders (allocHostOffset never re-enters itself): no allocation per chunk.
  const cluster = clusterHolder;
  cluster.v = INV;
  let hostOffset = INV;
  let cur = 0;
  while (true) {
    if (hostOffset === INV && cluster.v !== INV) hostOffset = cluster.v;
    start += cur;
    remaining -= cur;
    if (cluster.v !== INV) cluster.v += cur;
    if (remaining === 0) break;
    const b = bytesHolder;
    b.v = remaining;
    let r = handleCopied(img, start, cluster, b, metas);
    if (r) {
      cur = b.v;
      continue;
    }
    if (b.v === 0) break;
    r = handleAlloc(img, start, cluster, b, metas);
    if (r) {
      cur = b.v;
      continue;
    }
    break;
  }
  const out = hostRun;
  out.host = hostOffset;
  out.bytes = bytes - remaining;
  return out;
}

interface HostRun {
  host: number;
  bytes: number;
}
/** allocHostOffset's answer, overwritten by the next call: the caller copies it out at once. */
const hostRun: HostRun = { host: 0, bytes: 0 };
const clusterHolder = { v: INV };
const bytesHolder = { v: 0 };

/** is_zero_cow: both COW regions read as zero (a shortcut: false negatives are fine, as in QEMU). */
function isZeroCow(img: Qcow2Image, m: L2Meta): boolean {
  return isZeroFast(img, m.offset + m.cowStartOffset, m.cowStartBytes) && isZeroFast(img, m.offset + m.cowEndOffset, m.cowEndBytes);
}

function handleAllocSpace(img: Qcow2Image, metas: L2Meta[]): void {
  if (img.header.cryptMethod) return;
  for (const m of metas) {
    if (!m.cowStartBytes && !m.cowEndBytes) continue;
    if (!isZeroCow(img, m)) continue;
    const start = m.allocOffset + m.cowStartOffset;
    const n = m.cowEndOffset + m.cowEndBytes - m.cowStartOffset;
    if (!zeroWriteWithoutFallback(img, start, n)) continue;
    writeZeroesToData(img, start, n);
    img.events.emit(EventKind.SkipCow, img.node, CACHE_NONE, -1, m.offset, m.nbClusters, 0);
    m.skipCow = true;
  }
}

/**
 * Whether bdrv_co_pwrite_zeroes(BDRV_REQ_NO_FALLBACK) can zero this range of the data file: under O_DIRECT a range
 * off the request alignment would need read-modify-write padding, which NO_FALLBACK forbids (-ENOTSUP), and
 * handle_alloc_space then copies on write as usual. It matters after `reopen -c none` (4 KiB alignment) on an
 * extended-L2 image, whose COW regions are subcluster-sized.
 */
function zeroWriteWithoutFallback(img: Qcow2Image, start: number, n: number): boolean {
  if (!usesODirect(img.config.cacheMode)) return true;
  const align = img.rt.directIoAlign;
  return start % align === 0 && n % align === 0;
}

/** bdrv_co_pwrite_zeroes on the data file (FALLOC_FL_ZERO_RANGE): reads as zeros, the file grows to cover it. */
function writeZeroesToData(img: Qcow2Image, start: number, n: number): void {
  preWriteOverlapCheck(img, 0, start, n, true);
  zeroRange(img.dataFile, start, n);
}

function mergeCow(offset: number, bytes: number, data: Uint8Array, metas: L2Meta[]): boolean {
  for (const m of metas) {
    if (!m.cowStartBytes && !m.cowEndBytes) continue;
    if (m.skipCow) continue;
    if (m.offset + m.cowStartOffset + m.cowStartBytes !== offset) continue;
    if (m.offset + m.cowEndOffset !== offset + bytes) continue;
    m.data = data;
    return true;
  }
  return false;
}

function needsCow(m: L2Meta): boolean {
  return (m.cowStartBytes > 0 || m.cowEndBytes > 0) && !m.skipCow;
}

/** The COW read regions of perform_cow: one merged read when the gap is small, else head and tail. */
function cowReadPlan(m: L2Meta): { guest: number; buf: Uint8Array }[] {
  const dataBytes = m.cowEndOffset - (m.cowStartOffset + m.cowStartBytes);
  if (m.cowStartBytes > 0 && m.cowEndBytes > 0 && dataBytes <= 16384)
    return [{ guest: m.offset + m.cowStartOffset, buf: new Uint8Array(m.cowStartBytes + dataBytes + m.cowEndBytes) }];
  const plan: { guest: number; buf: Uint8Array }[] = [];
  if (m.cowStartBytes) plan.push({ guest: m.offset + m.cowStartOffset, buf: new Uint8Array(m.cowStartBytes) });
  if (m.cowEndBytes) plan.push({ guest: m.offset + m.cowEndOffset, buf: new Uint8Array(m.cowEndBytes) });
  return plan;
}

/** The COW writes: head + guest data + tail as one write when the data was merged, else each region. */
function cowWritePlan(m: L2Meta, reads: { guest: number; buf: Uint8Array }[]): { host: number; buf: Uint8Array }[] {
  let start: Uint8Array, end: Uint8Array;
  if (reads.length === 1 && m.cowStartBytes && m.cowEndBytes) {
    const all = reads[0]!.buf;
    start = all.subarray(0, m.cowStartBytes);
    end = all.subarray(all.length - m.cowEndBytes);
  } else {
    start = m.cowStartBytes ? reads[0]!.buf : new Uint8Array(0);
    end = m.cowEndBytes ? reads[reads.length - 1]!.buf : new Uint8Array(0);
  }
  if (m.data) {
    const buf = new Uint8Array(m.cowStartBytes + m.data.length + m.cowEndBytes);
    buf.set(start, 0);
    buf.set(m.data, m.cowStartBytes);
    buf.set(end, m.cowStartBytes + m.data.length);
    return [{ host: m.allocOffset + m.cowStartOffset, buf }];
  }
  const w: { host: number; buf: Uint8Array }[] = [];
  if (start.length) w.push({ host: m.allocOffset + m.cowStartOffset, buf: start });
  if (end.length) w.push({ host: m.allocOffset + m.cowEndOffset, buf: end });
  return w;
}

function cowDone(img: Qcow2Image, m: L2Meta): void {
  img.events.emit(EventKind.CowRead, img.node, CACHE_NONE, -1, m.offset + m.cowStartOffset, m.cowStartBytes + m.cowEndBytes, 0);
  // L2 entries may only reach the disk after the COW data did (unless a what-if removes that sync).
  if (img.config.cowBeforeL2 !== false) img.l2Cache.setDependsOnFlush();
}

/** A data write; `inTask`: a chunk's task issued it, and it counts as written once it completes (writeInFlight). */
function dataWrite(img: Qcow2Image, host: number, buf: Uint8Array, kind: EventKind, inTask = false): void {
  preWriteOverlapCheck(img, 0, host, buf.length, true);
  if (img.config.metadataOnly) {
    if (!inTask) img.rt.dataWriteSkipped = true;
    if (host + buf.length > img.dataFile.size()) img.dataFile.truncate(host + buf.length);
  } else img.dataFile.write(buf, host);
  img.events.emit(kind, img.node, CACHE_NONE, -1, host, buf.length, 0);
}

/** qcow2_alloc_cluster_link_l2 without its perform_cow: point the L2 entries at the new clusters. */
function linkEntries(img: Qcow2Image, m: L2Meta): void {
  const cs = img.clusterSize;
  // The entries replaced, as hi, lo pairs (none for a fresh allocation, so no array then).
  let old: number[] | null = null;
  if (img.lazyRefcounts) markDirty(img);
  if (!img.dirty && img.config.refcountBeforeL2 !== false) img.l2Cache.setDependency(img.refcountCache);
  const refSlot = getClusterTable(img, m.offset), refIndex = sliceIndex(img, m.offset);
  img.l2Cache.markDirty(refSlot);
  try {
    for (let i = 0; i < m.nbClusters; i++) {
      const idx = refIndex + i;
      const hi = l2Hi(img, refSlot, idx), lo = l2Lo(img, refSlot, idx);
      if (hi !== 0 || lo !== 0) (old ??= []).push(hi, lo);
      const host = m.allocOffset + i * cs;
      setL2(img, refSlot, idx, entryHi(host, true), entryLo(host, false));
      if (img.geo.extendedL2) {
        let alloc = l2Alloc(img, refSlot, idx), zero = l2Zero(img, refSlot, idx);
        const from = Math.max(m.cowStartOffset, i * cs);
        const to = Math.min(m.cowEndOffset + m.cowEndBytes, (i + 1) * cs);
        const first = scIndex(img, from - i * cs), last = scIndex(img, to - 1 - i * cs);
        const mask = rangeMask(first, last + 1);
        alloc = (alloc | mask) >>> 0;
        zero = (zero & ~mask) >>> 0;
        setBitmap(img, refSlot, idx, alloc, zero);
      }
    }
  } finally {
    img.l2Cache.put(refSlot);
  }
  if (!m.keepOld && old) for (let k = 0; k < old.length; k += 2) freeAnyCluster(img, old[k]!, old[k + 1]!, false);
}

/** qcow2_alloc_cluster_abort: a link that failed gives its new clusters back (QCOW2_DISCARD_NEVER). */
function abortMeta(img: Qcow2Image, m: L2Meta): void {
  if (!img.hasDataFile && !m.keepOld) freeClusters(img, m.allocOffset, m.nbClusters * img.clusterSize, false);
}

/**
 * qcow2_handle_l2meta: link each allocation; when one fails (its COW read failed), it and the ones after it are
 * aborted, as the task's out_locked path does.
 */
function linkAll(img: Qcow2Image, metas: L2Meta[]): void {
  for (let i = 0; i < metas.length; i++) {
    try {
      linkL2(img, metas[i]!);
    } catch (e) {
      if (e instanceof GuestIoError) for (let j = i; j < metas.length; j++) abortMeta(img, metas[j]!);
      throw e;
    }
  }
}

function linkL2(img: Qcow2Image, m: L2Meta): void {
  img.events.emit(EventKind.ClusterLinkL2, img.node, CACHE_NONE, -1, m.nbClusters, 0, 0);
  if (needsCow(m)) {
    const reads = cowReadPlan(m);
    for (const r of reads) qcow2Read(img, r.buf, r.guest, true);
    for (const w of cowWritePlan(m, reads)) dataWrite(img, w.host, w.buf, EventKind.CowWrite);
    cowDone(img, m);
  }
  linkEntries(img, m);
}

/** The same link as a modelled coroutine: perform_cow drops s->lock around its I/O. */
function* linkL2Task(img: Qcow2Image, co: CoroutineModel, m: L2Meta): Generator<Wait, void, void> {
  img.events.emit(EventKind.ClusterLinkL2, img.node, CACHE_NONE, -1, m.nbClusters, 0, 0);
  if (needsCow(m)) {
    co.unlock();
    const reads = cowReadPlan(m);
    for (const r of reads) {
      if (!co.tryLock()) yield "lock";
      // A read that fails (compressed data that does not inflate) fails after its I/O completed; perform_cow
      // then takes s->lock back before returning the error.
      let failure: GuestIoError | undefined;
      const compressedBefore = img.rt.compressedReads;
      try {
        qcow2Read(img, r.buf, r.guest, true);
      } catch (e) {
        if (!(e instanceof GuestIoError)) throw e;
        failure = e;
      }
      co.unlock();
      yield "io";
      // Out of a compressed cluster the read then waits again, for the thread pool's decompression: another
      // chunk's I/O submitted meanwhile completes first (strace of qemu-io: its data write precedes this COW write;
      // write fuzzer seed 70228).
      for (let k = img.rt.compressedReads - compressedBefore; k > 0; k--) yield "io";
      if (failure) {
        if (!co.tryLock()) yield "lock";
        throw failure;
      }
    }
    for (const w of cowWritePlan(m, reads)) {
      yield* writeInFlight(img, true, () => dataWrite(img, w.host, w.buf, EventKind.CowWrite, true));
    }
    if (!co.tryLock()) yield "lock";
    cowDone(img, m);
  }
  linkEntries(img, m);
}

/**
 * A task's data-file write in flight: the node's write generation counts it once it completes (resumes). With
 * `dataWrite` (not a zero write), a write the metadata-only replay skipped is noted at completion too.
 */
function* writeInFlight(img: Qcow2Image, dataWrite: boolean, write: () => void): Generator<Wait, void, void> {
  const file = img.dataFile;
  const before = file.writeGen ?? 0;
  write();
  // The generations this write added (none for a write the metadata-only replay skipped).
  const n = (file.writeGen ?? 0) - before;
  img.beginInflightWrite(file, n);
  try {
    yield "io";
  } finally {
    img.endInflightWrite(file, n);
    if (dataWrite && img.config.metadataOnly) img.rt.dataWriteSkipped = true;
  }
}

/** qcow2_co_pwritev_task running in a pool coroutine. */
function* writeTask(img: Qcow2Image, co: CoroutineModel, host: number, pos: number, chunk: Uint8Array, metas: L2Meta[]): Generator<Wait, void, void> {
  if (!img.header.cryptMethod) {
    for (const m of metas) {
      if (!m.cowStartBytes && !m.cowEndBytes) continue;
      if (!co.tryLock()) yield "lock";
      const zero = isZeroCow(img, m);
      co.unlock();
      if (!zero) continue;
      if (!zeroWriteWithoutFallback(img, m.allocOffset + m.cowStartOffset, m.cowEndOffset + m.cowEndBytes - m.cowStartOffset)) continue;
      yield* writeInFlight(img, false, () => writeZeroesToData(img, m.allocOffset + m.cowStartOffset, m.cowEndOffset + m.cowEndBytes - m.cowStartOffset));
      img.events.emit(EventKind.SkipCow, img.node, CACHE_NONE, -1, m.offset, m.nbClusters, 0);
      m.skipCow = true;
    }
  }
  if (!mergeCow(pos, chunk.length, chunk, metas)) {
    img.events.emit(EventKind.WritevData, img.node, CACHE_NONE, -1, host, 0, 0);
    yield* writeInFlight(img, true, () => dataWrite(img, host, chunk, EventKind.DataWrite, true));
  }
  if (!co.tryLock()) yield "lock";
  for (let i = 0; i < metas.length; i++) {
    try {
      yield* linkL2Task(img, co, metas[i]!);
    } catch (e) {
      // As linkAll: perform_cow re-takes s->lock before failing, so the aborts run under it.
      if (e instanceof GuestIoError) for (let j = i; j < metas.length; j++) abortMeta(img, metas[j]!);
      co.unlock();
      throw e;
    }
  }
  co.unlock();
}

const scratchMetas: L2Meta[] = [];
let metasBusy = false;

export function rangeMask(from: number, to: number): number {
  let m = 0;
  for (let i = from; i < to; i++) m |= 1 << i;
  return m >>> 0;
}

/**
 * qcow2_co_pwritev_part. A request that needs several chunks gets an aio task pool in QEMU: its chunks then run as
 * concurrent coroutines, which the coroutine model replays in QEMU's order.
 */
export function qcow2Write(img: Qcow2Image, data: Uint8Array, offset: number): void {
  // The common one-cluster write, its work done once (fast-write.ts); it declines anything else. (An empty write,
  // which only the VM state's write -b makes, is a request start and end.)
  if (!metasBusy && data.length !== 0 && tryFastWrite(img, data, offset)) return;
  const ev = img.events;
  ev.emit(EventKind.WritevStartReq, img.node, CACHE_NONE, -1, offset, data.length, 0);
  let done = 0;
  let co: CoroutineModel | null = null;
  let ret = 0;
  // One array for the metas of every part (a part is done with them when it ends; a task gets a copy), unless a
  // write further up the stack holds it.
  const ownsMetas = !metasBusy;
  metasBusy = true;
  try {
    // As qcow2_co_pwritev_part: no further chunk once a chunk's task has failed (aio_task_pool_status).
    while (done < data.length && !co?.failed) {
      ev.emit(EventKind.WritevStartPart, img.node, CACHE_NONE, -1, 0, 0, 0);
      const metas = ownsMetas ? scratchMetas : [];
      // (Setting length is a runtime call; pop() is inline, and there is mostly one meta to drop.)
      while (metas.length !== 0) metas.pop();
      const pos = offset + done;
      co?.mainLock();
      const run = allocHostOffset(img, pos, data.length - done, metas);
      const host = run.host, bytes = run.bytes;
      co?.mainUnlock();
      const chunk = done === 0 && bytes === data.length ? data : data.subarray(done, done + bytes);
      if (!co && bytes !== data.length - done) img.co = co = new CoroutineModel();
      // d: the chunk's qiov_offset, and whether the request has an AIO task pool (see EngineEvent.d).
      ev.emit(EventKind.AddTask, img.node, ADD_TASK_WRITE, 0, host, pos, bytes, done * 2 + (co ? 1 : 0));
      if (co) co.enter(writeTask(img, co, host, pos, chunk, metas === scratchMetas ? metas.slice() : metas));
      else {
        handleAllocSpace(img, metas);
        if (!mergeCow(pos, bytes, chunk, metas)) {
          ev.emit(EventKind.WritevData, img.node, CACHE_NONE, -1, host, 0, 0);
          dataWrite(img, host, chunk, EventKind.DataWrite);
        }
        linkAll(img, metas);
      }
      done += bytes;
      ev.emit(EventKind.WritevDonePart, img.node, CACHE_NONE, -1, bytes, 0, 0);
    }
    if (co) {
      co.mainLock();
      co.mainUnlock();
      co.waitAll();
    }
  } catch (e) {
    // A failed request still ends with its qcow2_writev_done_req, carrying the error (corruption: -EIO).
    if (!(e instanceof GuestIoError)) throw e;
    ret = e.ret;
    throw e;
  } finally {
    if (ownsMetas) {
      while (scratchMetas.length !== 0) scratchMetas.pop();
      metasBusy = false;
    }
    img.co = null;
    if (ret) ev.emit(EventKind.WritevDoneReq, img.node, CACHE_NONE, -1, ret, 0, 0);
  }
  ev.emit(EventKind.WritevDoneReq, img.node, CACHE_NONE, -1, 0, 0, 0);
}

