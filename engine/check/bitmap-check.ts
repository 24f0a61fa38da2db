// Persistent bitmaps in a check: what qcow2_load_dirty_bitmaps() refuses at open (worded as QEMU words it),
// and the references qcow2_check_bitmaps_refcounts() counts (directory, bitmap tables, bitmap data clusters).
// The directory walk follows bitmap_list_load() step by step, because the first failing rule decides the message;
// unlike the format module's decoder it accepts table offsets past 2^53 (QEMU then finds them past the file end).
import { u16, u32, u8 } from "../format/bytes.js";
import {
  BITMAP_DIR_ENTRY_BYTES,
  BITMAP_FLAG_IN_USE,
  BITMAP_RESERVED_FLAGS,
  BITMAP_TYPE_DIRTY_TRACKING,
  MAX_BITMAP_DIRECTORY_SIZE,
  MAX_BITMAP_NAME_SIZE,
  MAX_BITMAP_PHYS_SIZE,
  MAX_BITMAP_TABLE_SIZE,
  MAX_GRANULARITY_BITS,
  MIN_GRANULARITY_BITS,
  bitmapTableSizeFor,
} from "../format/bitmaps.js";
import type { Storage } from "../storage/storage.js";
import { CheckAborted, failsToRead, type CheckContext } from "./check-context.js";
import { QemuOpenError, readU64, type OpenedForCheck, type U64 } from "./open-validation.js";

interface CheckBitmap {
  name: string;
  tableOffset: U64;
  tableSize: number;
  flags: number;
  granularityBits: number;
}

/** check_dir_entry(): the bitmap's fields against QEMU's limits and the disk length. */
function entryOk(d: Uint8Array, o: number, img: OpenedForCheck): boolean {
  const cs = img.g.clusterSize;
  const tableOffset = readU64(d, o);
  const tableSize = u32(d, o + 8);
  const flags = u32(d, o + 12);
  const granularityBits = u8(d, o + 17);
  const fail =
    tableSize === 0 ||
    (tableOffset.hi === 0 && tableOffset.lo === 0) ||
    (tableOffset.lo & (cs - 1)) !== 0 ||
    tableSize > MAX_BITMAP_TABLE_SIZE ||
    granularityBits > MAX_GRANULARITY_BITS ||
    granularityBits < MIN_GRANULARITY_BITS ||
    (flags & BITMAP_RESERVED_FLAGS) !== 0 ||
    u16(d, o + 18) > MAX_BITMAP_NAME_SIZE ||
    u8(d, o + 16) !== BITMAP_TYPE_DIRTY_TRACKING;
  if (fail) return false;
  const phys = tableSize * cs;
  if (phys > MAX_BITMAP_PHYS_SIZE) return false;
  return (flags & BITMAP_FLAG_IN_USE) !== 0 || img.totalSectors * 512 <= phys * 8 * 2 ** granularityBits;
}

/** A C string of at most n bytes (printf "%.*s"). */
function cname(d: Uint8Array, o: number, n: number): string {
  const end = d.subarray(o, o + n).indexOf(0);
  return Buffer.from(d.subarray(o, end < 0 ? o + n : o + end)).toString("utf8");
}

/** bitmap_list_load(): the directory, or QEMU's reason for refusing it. */
function loadDirectory(storage: Storage, img: OpenedForCheck): CheckBitmap[] | string {
  const b = img.bitmaps!;
  if (b.directorySize === 0) return "Requested bitmap directory size is zero";
  if (b.directorySize > MAX_BITMAP_DIRECTORY_SIZE) return "Requested bitmap directory size is too big";
  if (failsToRead(b.directory.hi, b.directory.lo, b.directorySize)) return "Failed to read bitmap directory: Input/output error";
  const d = new Uint8Array(b.directorySize);
  storage.read(d, b.directoryOffset);
  const out: CheckBitmap[] = [];
  const end = d.length;
  let o = 0;
  while (o < end) {
    if (o + BITMAP_DIR_ENTRY_BYTES > end) return "Broken bitmap directory";
    if (out.length + 1 > b.nbBitmaps) return "More bitmaps found than specified in header extension";
    const nameSize = u16(d, o + 18);
    const extra = u32(d, o + 20);
    // calc_dir_entry_size() computes in a C int: a huge extra_data_size wraps around.
    const size = ((((BITMAP_DIR_ENTRY_BYTES + nameSize + extra) | 0) + 7) & -8) | 0;
    if (o + size > end) return "Broken bitmap directory";
    if (extra !== 0) return "Bitmap extra data is not supported";
    if (!entryOk(d, o, img)) return `Bitmap '${cname(d, o + BITMAP_DIR_ENTRY_BYTES, nameSize)}' doesn't satisfy the constraints`;
    out.push({
      name: cname(d, o + BITMAP_DIR_ENTRY_BYTES, nameSize),
      tableOffset: readU64(d, o),
      tableSize: u32(d, o + 8),
      flags: u32(d, o + 12),
      granularityBits: u8(d, o + 17),
    });
    o += size;
  }
  if (out.length !== b.nbBitmaps) return "Less bitmaps found than specified in header extension";
  if (o !== end) return "Broken bitmap directory";
  return out;
}

/**
 * bitmap_table_load(): the table's entries as (hi, lo) pairs; "invalid" when one breaks check_table_entry(),
 * "eio" when the table lies where QEMU cannot read.
 */
function loadTable(storage: Storage, bm: CheckBitmap, clusterSize: number): Uint32Array | "invalid" | "eio" {
  if (failsToRead(bm.tableOffset.hi, bm.tableOffset.lo, bm.tableSize * 8)) return "eio";
  const bytes = new Uint8Array(bm.tableSize * 8); // at most 8 MiB: tableSize * clusterSize <= 512 MiB
  if (bm.tableOffset.n < storage.size()) storage.read(bytes, bm.tableOffset.n);
  const words = new Uint32Array(bm.tableSize * 2);
  for (let i = 0; i < bm.tableSize; i++) {
    const hi = u32(bytes, i * 8);
    const lo = u32(bytes, i * 8 + 4);
    if (hi & 0xff000000 || lo & 0x1fe) return "invalid";
    const offHi = hi & 0x00ffffff;
    const offLo = (lo & 0xfffffe00) >>> 0;
    if ((offHi !== 0 || offLo !== 0) && (lo & 1 || offLo & (clusterSize - 1))) return "invalid";
    words[2 * i] = offHi;
    words[2 * i + 1] = offLo;
  }
  return words;
}

/** What opening the image does with bitmaps: QEMU loads every bitmap not marked in-use and fails if it cannot. */
export function loadBitmapsAtOpen(storage: Storage, img: OpenedForCheck): void {
  if (!img.bitmaps) return;
  const dir = loadDirectory(storage, img);
  if (typeof dir === "string") throw new QemuOpenError(img.file, dir);
  const names = new Set<string>();
  for (const bm of dir) {
    const inUse = (bm.flags & BITMAP_FLAG_IN_USE) !== 0;
    // An in-use bitmap whose name is already loaded is skipped; any other duplicate cannot be created.
    if (names.has(bm.name)) {
      if (inUse) continue;
      throw new QemuOpenError(img.file, `Bitmap already exists: ${bm.name}`);
    }
    names.add(bm.name);
    if (inUse) continue; // its data is unusable: QEMU does not read its table
    const table = loadTable(storage, bm, img.g.clusterSize);
    if (typeof table === "string")
      throw new QemuOpenError(
        img.file,
        `Could not read bitmap_table table from image for bitmap '${bm.name}': ${table === "eio" ? "Input/output error" : "Invalid argument"}`,
      );
    if (bitmapTableSizeFor(img.totalSectors * 512, bm.granularityBits, img.g.clusterSize) !== bm.tableSize)
      throw new QemuOpenError(img.file, `Could not read bitmap '${bm.name}' from image: Invalid argument`);
  }
}

/** qcow2_check_bitmaps_refcounts(). */
export function countBitmapReferences(ctx: CheckContext, img: OpenedForCheck): void {
  const b = img.bitmaps;
  if (!b) return;
  ctx.inc(b.directoryOffset, b.directorySize, b.directory);
  const dir = loadDirectory(ctx.storage, img);
  if (typeof dir === "string") {
    ctx.res.corruptions++;
    throw new CheckAborted("Invalid argument");
  }
  const cs = ctx.g.clusterSize;
  for (const bm of dir) {
    ctx.inc(bm.tableOffset.n, bm.tableSize * 8, bm.tableOffset);
    const words = loadTable(ctx.storage, bm, cs);
    if (typeof words === "string") {
      ctx.res.corruptions++;
      throw new CheckAborted(words === "eio" ? "Input/output error" : "Invalid argument");
    }
    for (let i = 0; i < bm.tableSize; i++) {
      const hi = words[2 * i]!;
      const lo = words[2 * i + 1]!;
      if (hi !== 0 || lo !== 0) ctx.inc(hi * 0x100000000 + lo, cs, { hi, lo });
    }
  }
}
