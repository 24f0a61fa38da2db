// L1 and L2 entries, read as two 32-bit halves (hi, lo) so the hot path never touches BigInt.
// Standard, zero, compressed and extended-L2 (subcluster bitmap) entries.
import { u32 } from "./bytes.js";

export const enum ClusterKind {
  Unallocated = 0,
  ZeroPlain = 1,
  ZeroAlloc = 2,
  Normal = 3,
  Compressed = 4,
}

export const COPIED_HI = 0x80000000;
export const COMPRESSED_HI = 0x40000000;
/** Reserved bits of an L1 entry: 0x7f000000000001ff. */
export const L1_RESERVED_HI = 0x7f000000;
export const L1_RESERVED_LO = 0x1ff;
/** Reserved bits of a standard L2 entry: 0x3f000000000001fe. */
export const L2_RESERVED_HI = 0x3f000000;
export const L2_RESERVED_LO = 0x1fe;

/** Bits 9..55 of an entry as a host offset. */
export function entryOffset(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * 0x100000000 + ((lo & 0xfffffe00) >>> 0);
}

export function l1Offset(hi: number, lo: number): number {
  return entryOffset(hi, lo);
}

export function isCopied(hi: number): boolean {
  return (hi & COPIED_HI) !== 0;
}

/**
 * The kind of an L2 entry's cluster, as qcow2_get_cluster_type() decides it. With extended L2 bit 0 is not a zero
 * flag (the subcluster bitmap says what reads as zero); ZeroAlloc needs a real offset, even with a data file.
 */
export function l2Kind(hi: number, lo: number, hasDataFile = false, extended = false): ClusterKind {
  if (hi & COMPRESSED_HI) return ClusterKind.Compressed;
  const off = entryOffset(hi, lo);
  if (lo & 1 && !extended) return off !== 0 ? ClusterKind.ZeroAlloc : ClusterKind.ZeroPlain;
  if (off === 0) return hasDataFile && isCopied(hi) ? ClusterKind.Normal : ClusterKind.Unallocated;
  return ClusterKind.Normal;
}

export function encodeEntry(offset: number, copied: boolean, zero = false): [number, number] {
  return [entryHi(offset, copied), entryLo(offset, zero)];
}
/** encodeEntry's words one at a time, for hot paths that should not allocate a pair. */
export function entryHi(offset: number, copied: boolean): number {
  return ((Math.floor(offset / 0x100000000) & 0x00ffffff) | (copied ? COPIED_HI : 0)) >>> 0;
}
export function entryLo(offset: number, zero: boolean): number {
  return ((offset >>> 0) | (zero ? 1 : 0)) >>> 0;
}

export interface CompressedDescriptor {
  hostOffset: number;
  /** Bytes to read from hostOffset (the last sector may hold less). */
  length: number;
  sectors: number;
}

/** Decodes the compressed cluster descriptor (bits 0..61) for a cluster_bits value. */
export function compressedDescriptor(hi: number, lo: number, clusterBits: number): CompressedDescriptor {
  const x = 62 - (clusterBits - 8);
  const hiOffBits = x - 32;
  const hostOffset = (hi & ((1 << hiOffBits) - 1)) * 0x100000000 + (lo >>> 0);
  const sectors = ((hi & 0x3fffffff) >>> hiOffBits) + 1;
  return { hostOffset, sectors: sectors - 1, length: sectors * 512 - (hostOffset & 511) };
}

export function encodeCompressed(hostOffset: number, additionalSectors: number, clusterBits: number): [number, number] {
  const x = 62 - (clusterBits - 8);
  const hiOffBits = x - 32;
  const hi = (COMPRESSED_HI | (additionalSectors << hiOffBits) | Math.floor(hostOffset / 0x100000000)) >>> 0;
  return [hi, hostOffset >>> 0];
}

/** Reads entry `i` of a table (8 or 16 bytes per entry) as [hi, lo, bitmapHi, bitmapLo]. */
export function readEntry(table: Uint8Array, i: number, entryBytes: number): [number, number] {
  const o = i * entryBytes;
  return [u32(table, o), u32(table, o + 4)];
}

/** Extended L2: subcluster bitmap word (bits 0..31 allocated, 32..63 zero). */
export function readBitmap(table: Uint8Array, i: number): { alloc: number; zero: number } {
  const o = i * 16 + 8;
  return { zero: u32(table, o), alloc: u32(table, o + 4) };
}

/** QEMU's QCow2SubclusterType, with its numeric values (they appear in qcow2_add_task trace lines). */
export const enum SubclusterType {
  UnallocatedPlain = 0,
  UnallocatedAlloc = 1,
  ZeroPlain = 2,
  ZeroAlloc = 3,
  Normal = 4,
  Compressed = 5,
  Invalid = 6,
}

/**
 * qcow2_get_subcluster_type: `alloc` is bitmap bits 0..31, `zero` bits 32..63 of the second word of an extended
 * entry (pass 0, 0 and extended=false for standard entries).
 */
export function subclusterType(hi: number, lo: number, alloc: number, zero: number, sc: number, extended: boolean, hasDataFile = false): SubclusterType {
  if (hi & COMPRESSED_HI) return SubclusterType.Compressed;
  const off = entryOffset(hi, lo);
  if (!extended) {
    if (lo & 1) return off ? SubclusterType.ZeroAlloc : SubclusterType.ZeroPlain;
    if (!off) return hasDataFile && isCopied(hi) ? SubclusterType.Normal : SubclusterType.UnallocatedPlain;
    return SubclusterType.Normal;
  }
  const normal = off !== 0 || (hasDataFile && isCopied(hi));
  if (normal) {
    if ((zero & alloc) !== 0) return SubclusterType.Invalid;
    if ((zero >>> sc) & 1) return SubclusterType.ZeroAlloc;
    if ((alloc >>> sc) & 1) return SubclusterType.Normal;
    return SubclusterType.UnallocatedAlloc;
  }
  if (alloc !== 0) return SubclusterType.Invalid;
  if ((zero >>> sc) & 1) return SubclusterType.ZeroPlain;
  return SubclusterType.UnallocatedPlain;
}
