// Persistent dirty bitmaps: the bitmaps header extension's limits, the bitmap directory and bitmap tables,
// validated as QEMU 7.2 does when it loads them (block/qcow2-bitmap.c, qcow2_read_extensions).
import { type ReadAt, cstr, put16, put32, put64, u16, u32, u64, u8 } from "./bytes.js";
import type { BitmapsExtension, Extensions } from "./extensions.js";
import { EXT_BITMAPS } from "./extensions.js";
import { FormatError } from "./format-error.js";
import { AUTOCLEAR_BITMAPS, type Qcow2Header } from "./header.js";

export const MAX_BITMAPS = 65535;
export const MAX_BITMAP_DIRECTORY_SIZE = 1024 * MAX_BITMAPS;
export const BITMAP_DIR_ENTRY_BYTES = 24;
export const MAX_BITMAP_TABLE_SIZE = 0x8000000;
/** Bitmap data QEMU is willing to hold in memory (BME_MAX_PHYS_SIZE). */
export const MAX_BITMAP_PHYS_SIZE = 0x20000000;
export const MIN_GRANULARITY_BITS = 9;
export const MAX_GRANULARITY_BITS = 31;
export const MAX_BITMAP_NAME_SIZE = 1023;

export const BITMAP_FLAG_IN_USE = 1;
export const BITMAP_FLAG_AUTO = 2;
export const BITMAP_FLAG_EXTRA_DATA_COMPATIBLE = 4;
/** QEMU 7.2 knows in_use and auto only: extra_data_compatible counts as reserved there. */
export const BITMAP_RESERVED_FLAGS = 0xfffffffc;
export const BITMAP_TYPE_DIRTY_TRACKING = 1;

export interface BitmapDirEntry {
  index: number;
  /** File offset of the directory entry. */
  offset: number;
  tableOffset: number;
  /** Entries (u64 each) of the bitmap table. */
  tableSize: number;
  flags: number;
  type: number;
  granularityBits: number;
  name: string;
  extra: Uint8Array;
}

export const enum BitmapTableKind {
  AllZeros = 0,
  AllOnes = 1,
  Data = 2,
}

export interface BitmapTableEntry {
  index: number;
  hi: number;
  lo: number;
  kind: BitmapTableKind;
  /** Data cluster offset (Data only). */
  dataOffset: number;
}

/** Names of the flags set, as qemu-img info shows them ("in-use", "auto") plus ours for the rest. */
export function bitmapFlagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & BITMAP_FLAG_IN_USE) out.push("in-use");
  if (flags & BITMAP_FLAG_AUTO) out.push("auto");
  if (flags & BITMAP_FLAG_EXTRA_DATA_COMPATIBLE) out.push("extra-data-compatible");
  for (let bit = 3; bit < 32; bit++) if ((flags >>> bit) & 1) out.push(`bit ${bit}`);
  return out;
}

/** Without the autoclear bit a program lacking bitmap support wrote the image: QEMU then ignores the extension. */
export function bitmapsConsistent(h: Qcow2Header): boolean {
  return (h.autoclearFeatures & BigInt(AUTOCLEAR_BITMAPS)) !== 0n;
}

/** Table entries a bitmap of this granularity needs to cover `size` bytes of guest disk. */
export function bitmapTableSizeFor(size: number, granularityBits: number, clusterSize: number): number {
  const bits = Math.ceil(size / 2 ** granularityBits);
  return Math.ceil(Math.ceil(bits / 8) / clusterSize);
}

/** QEMU's checks on the extension itself (qcow2_read_extensions); past the length, skipped like QEMU when the autoclear bit is clear. */
export function checkBitmapsExtension(ext: Extensions, header: Qcow2Header, file: string): BitmapsExtension | undefined {
  const raw = ext.list.filter((e) => e.type === EXT_BITMAPS).pop();
  if (!raw || !ext.bitmaps) return undefined;
  const err = (field: string, rel: number, detail: string) => new FormatError("bitmaps extension", field, raw.offset + 8 + rel, file, detail);
  if (raw.length !== 24) throw err("length", -4, `${raw.length} bytes, QEMU requires exactly 24`);
  if (!bitmapsConsistent(header)) return undefined;
  if (u32(raw.data, 4) !== 0) throw err("reserved32", 4, "reserved field is not zero");
  const b = ext.bitmaps;
  if (b.nbBitmaps > MAX_BITMAPS) throw err("nb_bitmaps", 0, `${b.nbBitmaps} bitmaps exceed QEMU's maximum of ${MAX_BITMAPS}`);
  if (b.nbBitmaps === 0) throw err("nb_bitmaps", 0, "bitmaps extension with zero bitmaps");
  if (b.directoryOffset % 2 ** header.clusterBits !== 0)
    throw err("bitmap_directory_offset", 16, `0x${b.directoryOffset.toString(16)} is not cluster aligned`);
  if (b.directorySize > MAX_BITMAP_DIRECTORY_SIZE)
    throw err("bitmap_directory_size", 8, `${b.directorySize} bytes exceed QEMU's maximum of ${MAX_BITMAP_DIRECTORY_SIZE}`);
  return b;
}

export interface BitmapDirectoryOptions {
  /** Keep entries that break QEMU's per-bitmap constraints (list them with bitmapEntryProblems) instead of throwing. */
  lenient?: boolean;
}

/**
 * Reads and parses the bitmap directory the extension points to. A directory whose entries do not tile it exactly,
 * or whose count differs from nb_bitmaps, is refused; so is (unless lenient) an entry QEMU would refuse to load.
 */
export function decodeBitmapDirectory(
  read: ReadAt,
  header: Qcow2Header,
  ext: BitmapsExtension,
  file: string,
  opts: BitmapDirectoryOptions = {},
): BitmapDirEntry[] {
  const base = ext.directoryOffset;
  const size = ext.directorySize;
  const err = (field: string, off: number, detail: string) => new FormatError("bitmap directory", field, off, file, detail);
  if (size === 0) throw err("bitmap_directory_size", base, "directory size is zero");
  if (size > MAX_BITMAP_DIRECTORY_SIZE) throw err("bitmap_directory_size", base, `${size} bytes exceed QEMU's maximum of ${MAX_BITMAP_DIRECTORY_SIZE}`);
  const dir = new Uint8Array(size);
  read(dir, base);
  const out: BitmapDirEntry[] = [];
  let o = 0;
  while (o < size) {
    const off = base + o;
    if (o + BITMAP_DIR_ENTRY_BYTES > size) throw err("bitmap_directory_size", off, "broken bitmap directory: entry header runs past its end");
    if (out.length + 1 > ext.nbBitmaps) throw err("nb_bitmaps", off, `more bitmaps found than the ${ext.nbBitmaps} the extension declares`);
    const tableOffset = u64(dir, o);
    if (Number.isNaN(tableOffset)) throw err("bitmap_table_offset", off, `entry ${out.length}: value >= 2^53 is out of range`);
    const nameSize = u16(dir, o + 18);
    const extraSize = u32(dir, o + 20);
    const entryBytes = Math.ceil((BITMAP_DIR_ENTRY_BYTES + nameSize + extraSize) / 8) * 8;
    if (o + entryBytes > size) throw err("name_size", off + 18, `broken bitmap directory: entry ${out.length} runs past its end`);
    const e: BitmapDirEntry = {
      index: out.length,
      offset: off,
      tableOffset,
      tableSize: u32(dir, o + 8),
      flags: u32(dir, o + 12),
      type: u8(dir, o + 16),
      granularityBits: u8(dir, o + 17),
      extra: dir.slice(o + BITMAP_DIR_ENTRY_BYTES, o + BITMAP_DIR_ENTRY_BYTES + extraSize),
      name: cstr(dir, o + BITMAP_DIR_ENTRY_BYTES + extraSize, nameSize),
    };
    if (!opts.lenient) {
      const p = bitmapEntryProblems(e, header, file);
      if (p.length > 0) throw p[0];
    }
    out.push(e);
    o += entryBytes;
  }
  if (out.length !== ext.nbBitmaps) throw err("nb_bitmaps", base, `less bitmaps found (${out.length}) than the ${ext.nbBitmaps} the extension declares`);
  return out;
}

/** QEMU's check_dir_entry() and its refusal of extra data, one error per broken rule. */
export function bitmapEntryProblems(e: BitmapDirEntry, header: Qcow2Header, file: string): FormatError[] {
  const out: FormatError[] = [];
  const cs = 2 ** header.clusterBits;
  const who = `bitmap '${e.name}'`;
  const err = (field: string, rel: number, detail: string) => out.push(new FormatError("bitmap directory", field, e.offset + rel, file, `${who}: ${detail}`));
  if (e.extra.length !== 0) err("extra_data_size", 20, `${e.extra.length} bytes of extra data (QEMU supports none)`);
  if (e.tableSize === 0) err("bitmap_table_size", 8, "table size is zero");
  if (e.tableSize > MAX_BITMAP_TABLE_SIZE) err("bitmap_table_size", 8, `${e.tableSize} entries exceed QEMU's maximum of ${MAX_BITMAP_TABLE_SIZE}`);
  if (e.tableOffset === 0) err("bitmap_table_offset", 0, "table offset is zero");
  else if (e.tableOffset % cs !== 0) err("bitmap_table_offset", 0, `0x${e.tableOffset.toString(16)} is not cluster aligned`);
  if (e.granularityBits < MIN_GRANULARITY_BITS || e.granularityBits > MAX_GRANULARITY_BITS)
    err("granularity_bits", 17, `${e.granularityBits} is outside ${MIN_GRANULARITY_BITS}..${MAX_GRANULARITY_BITS}`);
  if (e.flags & BITMAP_RESERVED_FLAGS) err("flags", 12, `reserved flag bits 0x${((e.flags & BITMAP_RESERVED_FLAGS) >>> 0).toString(16)} set`);
  if (e.type !== BITMAP_TYPE_DIRTY_TRACKING) err("type", 16, `type ${e.type} is not 1 (dirty tracking)`);
  const nameBytes = Buffer.byteLength(e.name, "utf8");
  if (nameBytes > MAX_BITMAP_NAME_SIZE) err("name_size", 18, `name of ${nameBytes} bytes exceeds ${MAX_BITMAP_NAME_SIZE}`);
  const phys = e.tableSize * cs;
  if (phys > MAX_BITMAP_PHYS_SIZE) err("bitmap_table_size", 8, `${phys} bytes of bitmap data exceed QEMU's maximum of ${MAX_BITMAP_PHYS_SIZE}`);
  else if (!(e.flags & BITMAP_FLAG_IN_USE) && e.granularityBits <= MAX_GRANULARITY_BITS && header.size > phys * 8 * 2 ** e.granularityBits)
    err("bitmap_table_size", 8, `${e.tableSize} entries cover less than the virtual size ${header.size}`);
  return out;
}

/**
 * Reads a bitmap's table (at most 128 Mi entries, bounded by QEMU's 512 MiB of data). Each entry is checked as
 * check_table_entry() does: reserved bits clear; with a data offset, bit 0 clear and the offset cluster aligned.
 */
export function decodeBitmapTable(read: ReadAt, e: BitmapDirEntry, header: Qcow2Header, file: string): BitmapTableEntry[] {
  const cs = 2 ** header.clusterBits;
  const err = (field: string, off: number, detail: string) => new FormatError("bitmap table", field, off, file, `bitmap '${e.name}': ${detail}`);
  if (e.tableSize > MAX_BITMAP_TABLE_SIZE || e.tableSize * cs > MAX_BITMAP_PHYS_SIZE)
    throw err("bitmap_table_size", e.offset + 8, `${e.tableSize} entries exceed QEMU's limits`);
  if (e.tableOffset % cs !== 0) throw err("bitmap_table_offset", e.offset, `0x${e.tableOffset.toString(16)} is not cluster aligned`);
  const buf = new Uint8Array(e.tableSize * 8);
  read(buf, e.tableOffset);
  const out: BitmapTableEntry[] = new Array(e.tableSize);
  for (let i = 0; i < e.tableSize; i++) {
    const hi = u32(buf, i * 8);
    const lo = u32(buf, i * 8 + 4);
    const at = e.tableOffset + i * 8;
    if (hi & 0xff000000 || lo & 0x1fe) throw err("entry", at, `entry ${i} has reserved bits set (0x${hex64(hi, lo)})`);
    const dataOffset = (hi & 0x00ffffff) * 0x100000000 + ((lo & 0xfffffe00) >>> 0);
    let kind: BitmapTableKind;
    if (dataOffset !== 0) {
      if (lo & 1) throw err("entry", at, `entry ${i} has a data offset and the all-ones bit (0x${hex64(hi, lo)})`);
      if (dataOffset % cs !== 0) throw err("entry", at, `entry ${i}: data offset 0x${dataOffset.toString(16)} is not cluster aligned`);
      if (dataOffset > 2 ** 53) throw err("entry", at, `entry ${i}: data offset is out of range`);
      kind = BitmapTableKind.Data;
    } else {
      kind = lo & 1 ? BitmapTableKind.AllOnes : BitmapTableKind.AllZeros;
    }
    out[i] = { index: i, hi, lo, kind, dataOffset };
  }
  return out;
}

/** Encodes directory entries as QEMU writes them (each padded to 8). */
export function encodeBitmapDirectory(entries: Omit<BitmapDirEntry, "index" | "offset">[]): Uint8Array {
  const enc = new TextEncoder();
  const names = entries.map((e) => enc.encode(e.name));
  let size = 0;
  entries.forEach((e, i) => (size += Math.ceil((BITMAP_DIR_ENTRY_BYTES + e.extra.length + names[i]!.length) / 8) * 8));
  const out = new Uint8Array(size);
  let o = 0;
  entries.forEach((e, i) => {
    const name = names[i]!;
    put64(out, o, e.tableOffset);
    put32(out, o + 8, e.tableSize);
    put32(out, o + 12, e.flags);
    out[o + 16] = e.type;
    out[o + 17] = e.granularityBits;
    put16(out, o + 18, name.length);
    put32(out, o + 20, e.extra.length);
    out.set(e.extra, o + BITMAP_DIR_ENTRY_BYTES);
    out.set(name, o + BITMAP_DIR_ENTRY_BYTES + e.extra.length);
    o += Math.ceil((BITMAP_DIR_ENTRY_BYTES + e.extra.length + name.length) / 8) * 8;
  });
  return out;
}

function hex64(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}
