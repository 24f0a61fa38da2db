// QEMU's metadata overlap check (qcow2_check_metadata_overlap / qcow2_pre_write_overlap_check in
// block/qcow2-refcount.c): before a host write, the range is held against the image's metadata as the driver
// knows it in memory; a hit makes the write fail with EIO, marks the image corrupt and makes it unusable.
import { put32, u32 } from "../format/bytes.js";
import { AUTOCLEAR_BITMAPS, INCOMPAT_CORRUPT } from "../format/header.js";
import { GuestIoError } from "./guest-io-error.js";
import type { Qcow2Image } from "./qcow2-image.js";

/** QCOW2_OL_*: one bit per structure, in QEMU's bit order (the lowest hit bit names the structure). */
export const OL_MAIN_HEADER = 1 << 0;
export const OL_ACTIVE_L1 = 1 << 1;
export const OL_ACTIVE_L2 = 1 << 2;
export const OL_REFCOUNT_TABLE = 1 << 3;
export const OL_REFCOUNT_BLOCK = 1 << 4;
export const OL_SNAPSHOT_TABLE = 1 << 5;
export const OL_INACTIVE_L1 = 1 << 6;
export const OL_INACTIVE_L2 = 1 << 7;
export const OL_BITMAP_DIRECTORY = 1 << 8;

const NAMES = ["qcow2_header", "active L1 table", "active L2 table", "refcount table", "refcount block", "snapshot table", "inactive L1 table", "inactive L2 table", "bitmap directory"];

/** The overlap-check=... modes (qcow2.c): what each checks. "cached" is QEMU's default. */
const CONSTANT = OL_MAIN_HEADER | OL_ACTIVE_L1 | OL_REFCOUNT_TABLE | OL_SNAPSHOT_TABLE | OL_BITMAP_DIRECTORY;
const CACHED = CONSTANT | OL_ACTIVE_L2 | OL_REFCOUNT_BLOCK | OL_INACTIVE_L1;
const ALL = CACHED | OL_INACTIVE_L2;
export const OVERLAP_CHECK_MODES = { none: 0, constant: CONSTANT, cached: CACHED, all: ALL } as const;
export type OverlapCheckMode = keyof typeof OVERLAP_CHECK_MODES;

/** OVERLAP_CHECK_MODES[mode], default "cached" (a switch: a keyed load by a string costs more on every write). */
function modeBits(mode: OverlapCheckMode | undefined): number {
  switch (mode) {
    case undefined:
    case "cached":
      return CACHED;
    case "none":
      return 0;
    case "constant":
      return CONSTANT;
    case "all":
      return ALL;
  }
  return OVERLAP_CHECK_MODES[mode];
}

/** A fatal corruption was signalled (the request fails with EIO); `report` is QEMU's stderr line. */
export class CorruptionSignal extends GuestIoError {
  constructor(readonly report: string) {
    super("EIO", report);
    this.name = "CorruptionSignal";
  }
}

/** The offset field of an L1 or refcount table entry (L1E_OFFSET_MASK, REFT_OFFSET_MASK: bits 9..55). */
function entryAt(t: Uint8Array, i: number): number {
  return (u32(t, i * 8) & 0x00ffffff) * 0x100000000 + ((u32(t, i * 8 + 4) & 0xfffffe00) >>> 0);
}

/** overlaps_with(): [ofs, ofs + sz) meets the cluster-aligned range [start, end). */
function hits(start: number, end: number, ofs: number, sz: number): boolean {
  return sz > 0 && ofs < end && start < ofs + sz;
}

/**
 * qcow2_check_metadata_overlap: the first structure (in QEMU's order) the range overlaps, as its bit, or 0.
 * `ign` holds the structures the caller is legitimately writing (an L2 table write-back ignores active L2s).
 */
export function checkMetadataOverlap(img: Qcow2Image, ign: number, offset: number, size: number): number {
  const chk = modeBits(img.config.overlapCheck) & ~ign;
  if (!size || !chk) return 0;
  const cs = img.clusterSize;
  if (chk & OL_MAIN_HEADER && offset < cs) return OL_MAIN_HEADER;
  // Aligned to whole clusters, as QEMU compares.
  const start = Math.floor(offset / cs) * cs;
  const end = Math.ceil((offset + size) / cs) * cs;
  const h = img.header;
  if (chk & OL_ACTIVE_L1 && h.l1Size && hits(start, end, h.l1TableOffset, h.l1Size * 8)) return OL_ACTIVE_L1;
  if (chk & OL_REFCOUNT_TABLE && img.reftableSize && hits(start, end, h.refcountTableOffset, img.reftableSize * 8)) return OL_REFCOUNT_TABLE;
  if (chk & OL_SNAPSHOT_TABLE && img.snapshots.length) {
    const last = img.snapshots[img.snapshots.length - 1]!;
    if (hits(start, end, h.snapshotsOffset, last.offset + (last.size ?? 0) - h.snapshotsOffset)) return OL_SNAPSHOT_TABLE;
  }
  if (chk & OL_INACTIVE_L1) for (const s of img.snapshots) if (s.l1Size && hits(start, end, s.l1TableOffset, s.l1Size * 8)) return OL_INACTIVE_L1;
  if (chk & (OL_ACTIVE_L2 | OL_REFCOUNT_BLOCK)) {
    // QEMU walks the whole L1 and refcount tables on every write; an index of their clusters answers the same
    // question without making a replay pay for the table size on each request.
    const found = clusterStructures(img, start / cs, end / cs);
    if (chk & OL_ACTIVE_L2 && found & OL_ACTIVE_L2) return OL_ACTIVE_L2;
    if (chk & OL_REFCOUNT_BLOCK && found & OL_REFCOUNT_BLOCK) return OL_REFCOUNT_BLOCK;
  }
  if (chk & OL_INACTIVE_L2) {
    for (const s of img.snapshots) {
      // QEMU reads each snapshot's L1 table from the file for this; the size was bounded when it was opened.
      const l1 = new Uint8Array(s.l1Size * 8);
      img.file.read(l1, s.l1TableOffset);
      for (let j = 0; j < s.l1Size; j++) {
        const l2 = entryAt(l1, j);
        if (l2 && hits(start, end, l2, cs)) return OL_INACTIVE_L2;
      }
    }
  }
  const bm = img.ext.bitmaps;
  if (chk & OL_BITMAP_DIRECTORY && bm && (h.autoclearFeatures & BigInt(AUTOCLEAR_BITMAPS)) !== 0n && hits(start, end, bm.directoryOffset, bm.directorySize))
    return OL_BITMAP_DIRECTORY;
  return 0;
}

export interface ClusterIndex {
  l1: Uint8Array;
  reftable: Uint8Array;
  /** Host cluster index -> how many active L2 tables, and how many refcount blocks, touch it. */
  l2: Map<number, number>;
  refblocks: Map<number, number>;
  /** Host cluster index -> the OL_ bits of the structures touching it: one lookup per cluster on every write. */
  bits: Map<number, number>;
  /**
   * How many keys of `bits` fall in each bucket (cluster index mod FILTER): an empty bucket answers "nothing here"
   * without the Map, whose lookup of a random data cluster was a cache miss on every write.
   */
  filter: Uint32Array;
}

const FILTER = 1 << 14;

function bucket(c: number): number {
  return c - Math.floor(c / FILTER) * FILTER;
}

// Kept on the image (Qcow2Image.overlapIndex), which takes it along when closed; a WeakMap lookup on every write
// cost more than the check it led to.

/** A table was replaced or restored wholesale (time travel): rebuild the index at the next check. */
export function metadataTablesChanged(img: Qcow2Image): void {
  img.overlapIndex = null;
}

/** overlaps_with() compares a cluster-sized byte range: an unaligned table offset touches two clusters. */
function count(idx: ClusterIndex, which: typeof OL_ACTIVE_L2 | typeof OL_REFCOUNT_BLOCK, off: number, cs: number, by: number): void {
  const m = which === OL_ACTIVE_L2 ? idx.l2 : idx.refblocks;
  for (let c = Math.floor(off / cs); c <= Math.floor((off + cs - 1) / cs); c++) {
    const n = (m.get(c) ?? 0) + by;
    if (n) m.set(c, n);
    else m.delete(c);
    const b = (idx.l2.has(c) ? OL_ACTIVE_L2 : 0) | (idx.refblocks.has(c) ? OL_REFCOUNT_BLOCK : 0);
    const had = idx.bits.has(c);
    if (b) idx.bits.set(c, b);
    else idx.bits.delete(c);
    if (had !== (b !== 0)) idx.filter[bucket(c)]! += b ? 1 : -1;
  }
}

function clusterIndex(img: Qcow2Image): ClusterIndex {
  const have = img.overlapIndex;
  if (have && have.l1 === img.l1 && have.reftable === img.reftable) return have;
  const cs = img.clusterSize;
  const idx: ClusterIndex = { l1: img.l1, reftable: img.reftable, l2: new Map(), refblocks: new Map(), bits: new Map(), filter: new Uint32Array(FILTER) };
  for (let i = 0; i < img.header.l1Size; i++) {
    const l2 = entryAt(img.l1, i);
    if (l2) count(idx, OL_ACTIVE_L2, l2, cs, 1);
  }
  for (let i = 0; i < img.reftableSize; i++) {
    const rb = entryAt(img.reftable, i);
    if (rb) count(idx, OL_REFCOUNT_BLOCK, rb, cs, 1);
  }
  img.overlapIndex = idx;
  return idx;
}

/**
 * Entry `i` of the L1 table (`which` = OL_ACTIVE_L2) or the refcount table (OL_REFCOUNT_BLOCK) is about to be set
 * to `bytes`: the index follows the one entry. Rebuilding it instead cost O(table size) per new L2 table, which
 * made 4 KiB-cluster images (a 51,200-entry L1 per 100 GiB) allocate quadratically.
 */
export function tableEntrySet(img: Qcow2Image, which: typeof OL_ACTIVE_L2 | typeof OL_REFCOUNT_BLOCK, i: number, bytes: Uint8Array): void {
  const table = which === OL_ACTIVE_L2 ? img.l1 : img.reftable;
  const idx = img.overlapIndex;
  if (idx && idx.l1 === img.l1 && idx.reftable === img.reftable) {
    const before = entryAt(table, i);
    const after = entryAt(bytes, 0);
    if (before) count(idx, which, before, img.clusterSize, -1);
    if (after) count(idx, which, after, img.clusterSize, 1);
  }
  table.set(bytes.subarray(0, 8), i * 8);
}

/** The structure bits of the per-cluster tables lying in host clusters [first, end). */
function clusterStructures(img: Qcow2Image, first: number, end: number): number {
  const idx = clusterIndex(img);
  const m = idx.bits;
  let bits = 0;
  if (end - first <= m.size) {
    for (let c = first; c < end; c++) if (idx.filter[bucket(c)] !== 0) bits |= m.get(c) ?? 0;
  } else {
    for (const [c, b] of m) if (c >= first && c < end) bits |= b;
  }
  return bits;
}

/**
 * qcow2_pre_write_overlap_check: refuses a host write that would overwrite metadata. `dataFile`: the write goes
 * to guest data, which an external data file keeps apart from the metadata (never checked then).
 */
export function preWriteOverlapCheck(img: Qcow2Image, ign: number, offset: number, size: number, dataFile: boolean): void {
  if (dataFile && img.hasDataFile) return;
  const hit = checkMetadataOverlap(img, ign, offset, size);
  if (!hit) return;
  const structure = NAMES[31 - Math.clz32(hit & -hit)]!;
  throw signalCorruption(img, `Preventing invalid write on metadata (overlaps with ${structure})`);
}

/**
 * qcow2_signal_corruption(fatal): the corrupt bit goes into the header on disk (bdrv_pwrite_sync, into the shadow
 * layer when the image is not written in place) and the node becomes unusable (bs->drv = NULL).
 */
export function signalCorruption(img: Qcow2Image, message: string): CorruptionSignal {
  const report = `qcow2: Marking image as corrupt: ${message}; further corruption events will be suppressed`;
  // QEMU reports once per image ("further corruption events will be suppressed").
  if (!img.corrupt) img.onCorruption(report);
  if (!img.corrupt) markCorrupt(img);
  img.rt.corrupt = true;
  img.rt.unusable = true;
  return new CorruptionSignal(report);
}

function markCorrupt(img: Qcow2Image): void {
  img.header.incompatibleFeatures |= BigInt(INCOMPAT_CORRUPT);
  // qcow2_update_header rewrites the header without a flush (the file node's close syncs it). A version 2
  // header has no feature fields: its bytes are written back as they were.
  if (img.header.version < 3) {
    const h = new Uint8Array(72);
    img.file.read(h, 0);
    img.file.write(h, 0);
    return;
  }
  const b = new Uint8Array(8);
  const v = img.header.incompatibleFeatures;
  put32(b, 0, Number(v >> 32n));
  put32(b, 4, Number(v & 0xffffffffn));
  img.file.write(b, 72);
}
