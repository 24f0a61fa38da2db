// Persistent bitmaps in a check: what qcow2_load_dirty_bitmaps() refuses at open (worded as QEMU words it),
// and the references qcow2_check_bitmaps_refcounts() counts (directory, bitmap tables, bitmap data clusters).
import {
  BITMAP_FLAG_IN_USE,
  bitmapEntryProblems,
  bitmapTableSizeFor,
  decodeBitmapDirectory,
  decodeBitmapTable,
  type BitmapDirEntry,
  MAX_BITMAP_DIRECTORY_SIZE,
} from "../format/bitmaps.js";
import { FormatError } from "../format/format-error.js";
import { CheckAborted, type CheckContext } from "./check-context.js";
import { QemuOpenError, type OpenedForCheck } from "./open-validation.js";
import type { Storage } from "../storage/storage.js";

/** bitmap_list_load(): the directory, with QEMU's reason when it is refused. */
function loadDirectory(storage: Storage, img: OpenedForCheck): BitmapDirEntry[] | string {
  const b = img.bitmaps!;
  if (b.directorySize === 0) return "Requested bitmap directory size is zero";
  if (b.directorySize > MAX_BITMAP_DIRECTORY_SIZE) return "Requested bitmap directory size is too big";
  let entries: BitmapDirEntry[];
  try {
    entries = decodeBitmapDirectory((buf, o) => storage.read(buf, o), img.header, b, img.file, { lenient: true });
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    if (/^more bitmaps/.test(e.detail)) return "More bitmaps found than specified in header extension";
    if (/^less bitmaps/.test(e.detail)) return "Less bitmaps found than specified in header extension";
    if (/broken bitmap directory/.test(e.detail)) return "Broken bitmap directory";
    return e.message;
  }
  for (const e of entries) {
    if (e.extra.length !== 0) return "Bitmap extra data is not supported";
    // check_dir_entry() measures against the device length, i.e. whole sectors.
    if (bitmapEntryProblems(e, { ...img.header, size: img.totalSectors * 512 }, img.file).length > 0)
      return `Bitmap '${e.name}' doesn't satisfy the constraints`;
  }
  return entries;
}

/** What opening the image does with bitmaps: QEMU loads every bitmap not marked in-use and fails if it cannot. */
export function loadBitmapsAtOpen(storage: Storage, img: OpenedForCheck): void {
  if (!img.bitmaps) return;
  const dir = loadDirectory(storage, img);
  if (typeof dir === "string") throw new QemuOpenError(img.file, dir);
  const names = new Set<string>();
  for (const e of dir) {
    if (names.has(e.name)) throw new QemuOpenError(img.file, `Bitmap already exists: ${e.name}`);
    names.add(e.name);
    if (e.flags & BITMAP_FLAG_IN_USE) continue;
    try {
      decodeBitmapTable((buf, o) => storage.read(buf, o), e, img.header, img.file);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      throw new QemuOpenError(img.file, `Could not read bitmap_table table from image for bitmap '${e.name}': Invalid argument`);
    }
    if (bitmapTableSizeFor(img.totalSectors * 512, e.granularityBits, img.g.clusterSize) !== e.tableSize)
      throw new QemuOpenError(img.file, `Could not read bitmap '${e.name}' from image: Invalid argument`);
  }
}

/** qcow2_check_bitmaps_refcounts(). */
export function countBitmapReferences(ctx: CheckContext, img: OpenedForCheck): void {
  const b = img.bitmaps;
  if (!b) return;
  ctx.inc(b.directoryOffset, b.directorySize);
  const dir = loadDirectory(ctx.storage, img);
  if (typeof dir === "string") {
    ctx.res.corruptions++;
    throw new CheckAborted("Invalid argument");
  }
  const cs = ctx.g.clusterSize;
  for (const e of dir) {
    ctx.inc(e.tableOffset, e.tableSize * 8);
    let table;
    try {
      table = decodeBitmapTable((buf, o) => ctx.storage.read(buf, o), e, img.header, img.file);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      ctx.res.corruptions++;
      throw new CheckAborted("Invalid argument");
    }
    for (const t of table) if (t.dataOffset !== 0) ctx.inc(t.dataOffset, cs);
  }
}
