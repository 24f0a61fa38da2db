// Raw reads of the two top-level tables, the L1 table and the refcount table, as (hi, lo) halves with the
// entry decoding both need; and the runs of equal refcounts in a refcount block. Sizes are bounded before reading.
import { type ReadAt, u32 } from "./bytes.js";
import { FormatError } from "./format-error.js";
import { MAX_L1_BYTES, MAX_REFTABLE_BYTES, type Qcow2Header } from "./header.js";
import { L1_RESERVED_HI, L1_RESERVED_LO } from "./l2-entry.js";
import { getRefcount } from "./refcount-entry.js";

/** Reserved bits of a refcount table entry: 0x1ff. */
export const REFT_RESERVED_LO = 0x1ff;

/** A table of 64-bit entries as two parallel arrays of 32-bit halves. */
export interface RawTable {
  /** File offset of entry 0. */
  offset: number;
  hi: Uint32Array;
  lo: Uint32Array;
}

/** Reads `entries` u64 entries at `offset`; bytes past the end of the file read as zeros, as QEMU reads them. */
export function readRawTable(read: ReadAt, offset: number, entries: number): RawTable {
  const buf = new Uint8Array(entries * 8);
  if (entries > 0) read(buf, offset);
  const hi = new Uint32Array(entries);
  const lo = new Uint32Array(entries);
  for (let i = 0; i < entries; i++) {
    hi[i] = u32(buf, i * 8);
    lo[i] = u32(buf, i * 8 + 4);
  }
  return { offset, hi, lo };
}

/** An L1 table (the active one, or a snapshot's: pass its offset and size), bounded to QEMU's 32 MiB. */
export function readL1Table(read: ReadAt, offset: number, entries: number, clusterBits: number, file: string, what = "L1 table"): RawTable {
  if (entries * 8 > MAX_L1_BYTES) throw new FormatError(what, "l1_size", offset, file, `${entries} entries exceed 32 MiB`);
  if (entries > 0 && offset % 2 ** clusterBits !== 0) throw new FormatError(what, "l1_table_offset", offset, file, "not cluster aligned");
  if (offset + entries * 8 > 2 ** 53) throw new FormatError(what, "l1_table_offset", offset, file, "table ends beyond 2^53");
  return readRawTable(read, offset, entries);
}

/** The refcount table the header points to, bounded to QEMU's 8 MiB. */
export function readRefcountTable(read: ReadAt, header: Qcow2Header, file: string): RawTable {
  const bytes = header.refcountTableClusters * 2 ** header.clusterBits;
  if (bytes > MAX_REFTABLE_BYTES) throw new FormatError("header", "refcount_table_clusters", 56, file, `refcount table of ${bytes} bytes exceeds 8 MiB`);
  if (header.refcountTableOffset + bytes > 2 ** 53) throw new FormatError("header", "refcount_table_offset", 48, file, "refcount table ends beyond 2^53");
  return readRawTable(read, header.refcountTableOffset, bytes / 8);
}

/** Refcount block offset of a refcount table entry (bits 9..63); NaN when it is >= 2^53. */
export function reftableEntryOffset(hi: number, lo: number): number {
  if (hi >= 0x200000) return NaN;
  return hi * 0x100000000 + ((lo & ~REFT_RESERVED_LO) >>> 0);
}

export function l1HasReservedBits(hi: number, lo: number): boolean {
  return (hi & L1_RESERVED_HI) !== 0 || (lo & L1_RESERVED_LO) !== 0;
}

export function reftableHasReservedBits(lo: number): boolean {
  return (lo & REFT_RESERVED_LO) !== 0;
}

/** Where the refcount of host cluster `cluster` lives: refcount table index and index inside the block. */
export function refcountIndex(cluster: number, clusterBits: number, refcountOrder: number): { table: number; block: number } {
  const perBlock = 2 ** (clusterBits + 3 - refcountOrder);
  return { table: Math.floor(cluster / perBlock), block: cluster % perBlock };
}

export interface RefcountRun {
  /** First host cluster of the run. */
  cluster: number;
  count: number;
  refcount: number;
}

/** Maximal runs of equal non-zero refcounts in one block; `firstCluster` is the host cluster of entry 0. */
export function refcountRuns(block: Uint8Array, refcountOrder: number, firstCluster: number): RefcountRun[] {
  const n = (block.length * 8) >>> refcountOrder;
  const runs: RefcountRun[] = [];
  let cur: RefcountRun | undefined;
  for (let i = 0; i < n; i++) {
    const r = getRefcount(block, i, refcountOrder);
    if (cur && (r === cur.refcount || (Number.isNaN(r) && Number.isNaN(cur.refcount)))) {
      cur.count++;
      continue;
    }
    cur = undefined;
    if (r !== 0) {
      cur = { cluster: firstCluster + i, count: 1, refcount: r };
      runs.push(cur);
    }
  }
  return runs;
}
