// qcow2_get_host_offset: guest offset -> subcluster type and host offset, for a run of same-type contiguous
// subclusters that ends at an L2 slice boundary. One L2 cache get per call, as QEMU does.
import { mod2 } from "./pow2.js";
import { FormatError } from "../format/format-error.js";
import { COMPRESSED_HI, entryOffset, SubclusterType, subclusterType } from "../format/l2-entry.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { signalCorruption } from "./overlap-check.js";

export interface Lookup {
  type: SubclusterType;
  /** Host offset of `offset` (standard clusters), or the raw entry halves for compressed clusters. */
  host: number;
  entryHi: number;
  entryLo: number;
  /** Bytes from `offset` with this type (<= requested). */
  bytes: number;
  l2Offset: number;
  l2Index: number;
}

/**
 * qcow2_signal_corruption: on a writable image it is fatal, as QEMU's (the corrupt bit is written, the request
 * fails with EIO, the node becomes unusable); on a read-only one the error names structure, field and offset.
 */
export function corruption(img: Qcow2Image, structure: string, field: string, offset: number, detail: string): Error {
  if (img.writable) return signalCorruption(img, detail.charAt(0).toUpperCase() + detail.slice(1));
  img.rt.corrupt = true;
  return new FormatError(structure, field, offset, img.filename, detail);
}

/** printf("%#" PRIx64): how QEMU prints offsets and indexes in its corruption reports (0 without the 0x). */
export function hx(n: number): string {
  return n === 0 ? "0" : `0x${n.toString(16)}`;
}

/** Reads entry `i` of an L2 slice held in cache slot `slot`: [hi, lo, alloc, zero]. */
function entryAt(img: Qcow2Image, slot: number, i: number, out: Uint32Array): void {
  const dv = img.l2Cache.dataView;
  const o = slot * img.l2Cache.tableSize + i * img.geo.l2EntryBytes;
  out[0] = dv.getUint32(o);
  out[1] = dv.getUint32(o + 4);
  if (img.geo.extendedL2) {
    out[3] = dv.getUint32(o + 8);
    out[2] = dv.getUint32(o + 12);
  } else {
    out[2] = 0;
    out[3] = 0;
  }
}

const ent = new Uint32Array(4);

/** The L2 slice that maps `offset`: file offset of the slice. */
export function sliceOffset(img: Qcow2Image, l2Offset: number, offset: number): number {
  const l2Index = mod2(Math.floor(offset / img.clusterSize), img.geo.l2Entries);
  const sliceIndex = mod2(l2Index, img.sliceEntries);
  return l2Offset + (l2Index - sliceIndex) * img.geo.l2EntryBytes;
}

/** Where the L2 entry for `offset` lies in the file (for corruption reports only: not on the lookup's path). */
function entryFileOffset(img: Qcow2Image, l2Offset: number, offset: number, sliceIndex: number): number {
  return sliceOffset(img, l2Offset, offset) + sliceIndex * img.geo.l2EntryBytes;
}

// The lookup's corruption reports, built out of line: getHostOffset stays small enough for V8 to inline its helpers.
function badL1Entry(img: Qcow2Image, l1Index: number, l2Offset: number, pastEnd: boolean): Error {
  const detail = pastEnd ? `L2 table offset 0x${l2Offset.toString(16)} is beyond the end of the file` : `L2 table offset ${hx(l2Offset)} unaligned (L1 index: ${hx(l1Index)})`;
  return corruption(img, "L1 table", `entry[${l1Index}]`, img.header.l1TableOffset + l1Index * 8, detail);
}

const BAD_ZERO_V2 = 0;
const BAD_COMPRESSED_DATA_FILE = 1;
const BAD_UNALIGNED = 2;
const BAD_DATA_FILE_OFFSET = 3;
const BAD_INVALID = 4;

function badL2Entry(img: Qcow2Image, what: number, l2Offset: number, offset: number, sliceIndex: number, hostCluster: number): Error {
  const where = `(L2 offset: ${hx(l2Offset)}, L2 index: ${hx(sliceIndex)})`;
  const inCluster = offset - Math.floor(offset / img.clusterSize) * img.clusterSize;
  const detail =
    what === BAD_ZERO_V2
      ? `zero cluster entry found in pre-v3 image ${where}`
      : what === BAD_COMPRESSED_DATA_FILE
        ? `compressed cluster entry found in image with external data file ${where}`
        : what === BAD_UNALIGNED
          ? `cluster allocation offset ${hx(hostCluster)} unaligned ${where}`
          : what === BAD_DATA_FILE_OFFSET
            ? `external data file host cluster offset ${hx(hostCluster)} does not match guest cluster offset: ${hx(offset - inCluster)}, L2 index: ${hx(sliceIndex)})`
            : `invalid cluster entry found  ${where}`;
  return corruption(img, "L2 table", "entry", entryFileOffset(img, l2Offset, offset, sliceIndex), detail);
}

export function getHostOffset(img: Qcow2Image, offset: number, bytes: number): Lookup {
  const cs = img.clusterSize;
  // The remainders written out (mod2's formula, exact for powers of two): this function is too big for V8 to
  // inline the calls, and the write path makes two lookups per request.
  const clusterIndex = Math.floor(offset / cs);
  const inCluster = offset - clusterIndex * cs;
  let needed = bytes + inCluster;
  const l2Entries = img.geo.l2Entries;
  const l1Index = Math.floor(clusterIndex / l2Entries);
  const l2Index = clusterIndex - l1Index * l2Entries;
  const sliceEntries = img.sliceEntries;
  const sliceIndex = l2Index - Math.floor(l2Index / sliceEntries) * sliceEntries;
  let available = (sliceEntries - sliceIndex) * cs;
  if (needed > available) needed = available;
  // One result object per image, overwritten by the next call: callers consume it at once (no allocation per lookup).
  const res = img.lookupResult;
  res.type = SubclusterType.UnallocatedPlain;
  res.host = res.entryHi = res.entryLo = res.bytes = res.l2Offset = res.l2Index = 0;
  if (l1Index < img.header.l1Size) {
    const l2Offset = img.l1Offset(l1Index);
    if (l2Offset !== 0) {
      if (l2Offset - Math.floor(l2Offset / cs) * cs !== 0) throw badL1Entry(img, l1Index, l2Offset, false);
      // QEMU reads an L2 table past the end of the file as zeros (and a write then puts it there); only the
      // read-only inspection tools refuse it, naming the entry.
      if (!img.writable && l2Offset >= img.file.size()) throw badL1Entry(img, l1Index, l2Offset, true);
      const slot = img.l2Cache.get(l2Offset + (l2Index - sliceIndex) * img.geo.l2EntryBytes, true);
      try {
        const scPerCluster = img.geo.extendedL2 ? 32 : 1;
        const scIndex = img.geo.extendedL2 ? Math.floor(inCluster / img.subclusterSize) : 0;
        entryAt(img, slot, sliceIndex, ent);
        const hi = ent[0]!, lo = ent[1]!;
        const type = subclusterType(hi, lo, ent[2]!, ent[3]!, scIndex, img.geo.extendedL2, img.hasDataFile);
        res.l2Offset = l2Offset;
        res.l2Index = sliceIndex;
        if (img.header.version < 3 && (type === SubclusterType.ZeroPlain || type === SubclusterType.ZeroAlloc)) throw badL2Entry(img, BAD_ZERO_V2, l2Offset, offset, sliceIndex, 0);
        switch (type) {
          case SubclusterType.Compressed:
            if (img.hasDataFile) throw badL2Entry(img, BAD_COMPRESSED_DATA_FILE, l2Offset, offset, sliceIndex, 0);
            res.entryHi = hi;
            res.entryLo = lo;
            break;
          case SubclusterType.ZeroAlloc:
          case SubclusterType.Normal:
          case SubclusterType.UnallocatedAlloc: {
            const hostCluster = entryOffset(hi, lo);
            res.host = hostCluster + inCluster;
            if (hostCluster - Math.floor(hostCluster / cs) * cs !== 0) throw badL2Entry(img, BAD_UNALIGNED, l2Offset, offset, sliceIndex, hostCluster);
            if (img.hasDataFile && res.host !== offset) throw badL2Entry(img, BAD_DATA_FILE_OFFSET, l2Offset, offset, sliceIndex, hostCluster);
            break;
          }
        }
        const nbClusters = Math.ceil(needed / cs);
        const sc = countContiguousSubclusters(img, slot, nbClusters, scIndex, sliceIndex, scPerCluster);
        // The report names the invalid entry itself, which may be a later cluster's (iotest 271).
        if (sc < 0) throw badL2Entry(img, BAD_INVALID, l2Offset, offset, sliceIndex - 1 - sc, 0);
        available = (sc + scIndex) * img.subclusterSize;
        res.type = type;
      } finally {
        img.l2Cache.put(slot);
      }
    }
  }
  if (available > needed) available = needed;
  res.bytes = available - inCluster;
  return res;
}

function rangeType(img: Qcow2Image, hi: number, lo: number, alloc: number, zero: number, scFrom: number, scPer: number, out: { type: SubclusterType }): number {
  const type = subclusterType(hi, lo, alloc, zero, scFrom, img.geo.extendedL2, img.hasDataFile);
  out.type = type;
  if (type === SubclusterType.Invalid) return -1;
  if (!img.geo.extendedL2 || type === SubclusterType.Compressed) return scPer - scFrom;
  const below = scFrom === 0 ? 0 : scFrom >= 32 ? 0xffffffff : (2 ** scFrom - 1) >>> 0;
  switch (type) {
    case SubclusterType.Normal:
      return cto32((alloc | below) >>> 0) - scFrom;
    case SubclusterType.ZeroPlain:
    case SubclusterType.ZeroAlloc:
      return cto32((zero | below) >>> 0) - scFrom;
    default:
      return ctz32(((zero | alloc) & ~below) >>> 0) - scFrom;
  }
}

function cto32(v: number): number {
  let n = 0;
  while (n < 32 && (v >>> n) & 1) n++;
  return n;
}
function ctz32(v: number): number {
  if (v === 0) return 32;
  let n = 0;
  while (!((v >>> n) & 1)) n++;
  return n;
}

const rt = { type: SubclusterType.Normal as SubclusterType };

/** Standard (8-byte) entries: the same count as below without per-entry helper calls (map walks millions). */
function countContiguousStandard(img: Qcow2Image, slot: number, nbClusters: number, l2Index: number): number {
  const dv = img.l2Cache.dataView;
  const o0 = slot * img.l2Cache.tableSize + l2Index * 8;
  const end = o0 + nbClusters * 8;
  const hasDataFile = img.hasDataFile;
  // Everything is a signed int32 (entries are read as such; only bit tests use them): values past 2^31, and a
  // branch first taken late, each cost a deoptimisation, and map runs these loops cold, millions of times.
  const hi0 = dv.getInt32(o0);
  const lo0 = dv.getInt32(o0 + 4);
  const type = standardType(hi0, lo0, hasDataFile);
  if (type === SubclusterType.Compressed) return 1;
  let count = 1;
  if (type === SubclusterType.Normal || type === SubclusterType.ZeroAlloc) {
    // Expected host offset as two 32-bit halves (bits 9..55), advanced by one cluster per entry; a carry is the
    // low half's sign going from negative to not. An entry at the expected (non-zero) offset is allocated, so
    // only its compressed and zero bits can change its type: one masked compare per half checks it all.
    let expHi = hi0 & 0x00ffffff;
    let expLo = lo0 & 0xfffffe00;
    const zeroBit = lo0 & 1;
    const cs = img.clusterSize;
    for (let o = o0 + 8; o < end; o += 8) {
      const next = (expLo + cs) | 0;
      expHi += (expLo >>> 31) & ~(next >>> 31);
      expLo = next;
      if ((dv.getInt32(o) & (COMPRESSED_HI | 0x00ffffff)) !== expHi || (dv.getInt32(o + 4) & 0xfffffe01) !== (expLo | zeroBit)) break;
      count++;
    }
    return count;
  }
  for (let o = o0 + 8; o < end; o += 8) {
    if (standardType(dv.getInt32(o), dv.getInt32(o + 4), hasDataFile) !== type) break;
    count++;
  }
  return count;
}

function standardType(hi: number, lo: number, hasDataFile: boolean): SubclusterType {
  if (hi & COMPRESSED_HI) return SubclusterType.Compressed;
  const allocated = (hi & 0x00ffffff) !== 0 || (lo & 0xfffffe00) !== 0;
  if (lo & 1) return allocated ? SubclusterType.ZeroAlloc : SubclusterType.ZeroPlain;
  if (!allocated) return hasDataFile && hi & 0x80000000 ? SubclusterType.Normal : SubclusterType.UnallocatedPlain;
  return SubclusterType.Normal;
}

function countContiguousSubclusters(img: Qcow2Image, slot: number, nbClusters: number, scIndex: number, l2Index: number, scPer: number): number {
  if (!img.geo.extendedL2) return countContiguousStandard(img, slot, nbClusters, l2Index);
  let count = 0;
  let expectedType = SubclusterType.Normal;
  let expectedOffset = 0;
  let checkOffset = false;
  for (let i = 0; i < nbClusters; i++) {
    const firstSc = i === 0 ? scIndex : 0;
    entryAt(img, slot, l2Index + i, ent);
    const hi = ent[0]!, lo = ent[1]!;
    const n = rangeType(img, hi, lo, ent[2]!, ent[3]!, firstSc, scPer, rt);
    // -1 - i: the i-th entry is invalid (count_contiguous_subclusters points l2_index at it).
    if (n < 0) return -1 - i;
    if (i === 0) {
      if (rt.type === SubclusterType.Compressed) return n;
      expectedType = rt.type;
      expectedOffset = entryOffset(hi, lo);
      checkOffset = rt.type === SubclusterType.Normal || rt.type === SubclusterType.ZeroAlloc || rt.type === SubclusterType.UnallocatedAlloc;
    } else if (rt.type !== expectedType) {
      break;
    } else if (checkOffset) {
      expectedOffset += img.clusterSize;
      if (expectedOffset !== entryOffset(hi, lo)) break;
    }
    count += n;
    if (firstSc + n < scPer) break;
  }
  return count;
}

