// Header extensions: a type/length/data list after the header, ended by type 0. Every type is kept,
// including unknown ones, with its file offset so `dump extensions` can show where it lives.
import { cstr, u32, u64, u8 } from "./bytes.js";
import { FormatError } from "./format-error.js";

export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

export const EXTENSION_NAMES: Record<number, string> = {
  [EXT_BACKING_FORMAT]: "backing format",
  [EXT_FEATURE_TABLE]: "feature name table",
  [EXT_BITMAPS]: "bitmaps",
  [EXT_CRYPTO]: "full disk encryption header pointer",
  [EXT_DATA_FILE]: "external data file",
};

export interface HeaderExtension {
  type: number;
  /** File offset of the extension's type field. */
  offset: number;
  length: number;
  data: Uint8Array;
}

export interface FeatureName {
  type: 0 | 1 | 2;
  bit: number;
  name: string;
}

export interface BitmapsExtension {
  nbBitmaps: number;
  directorySize: number;
  directoryOffset: number;
}

export interface CryptoExtension {
  offset: number;
  length: number;
}

export interface Extensions {
  list: HeaderExtension[];
  backingFormat?: string;
  featureNames: FeatureName[];
  bitmaps?: BitmapsExtension;
  crypto?: CryptoExtension;
  dataFile?: string;
}

/** One type/length record of the extension area; `data` is a view into the buffer walked. */
export interface ExtensionRecord {
  type: number;
  /** File offset of the record's type field. */
  offset: number;
  length: number;
  data: Uint8Array;
}

/** A record whose type/length header or data does not fit before the end of the area. */
export interface ExtensionOverrun {
  offset: number;
  type: number;
  length: number;
  /** Fewer than 8 bytes were left for the type/length header itself. */
  headerCut: boolean;
}

/**
 * qcow2_read_extensions()'s walk, the one behind decodeExtensions and qemu-img check's open: records from `start`
 * until the end marker or `end`, each padded to 8 bytes; bytes past the buffer read as zeros. QEMU checks the
 * length before the type, so even an end marker whose length runs past the area is an overrun.
 */
export function walkExtensions(buf: Uint8Array, start: number, end: number): { records: ExtensionRecord[]; overrun?: ExtensionOverrun } {
  const records: ExtensionRecord[] = [];
  let off = start;
  while (off < end) {
    const type = off + 8 <= buf.length ? u32(buf, off) : 0;
    const length = off + 8 <= buf.length ? u32(buf, off + 4) : 0;
    if (off + 8 > end || length > end - off - 8) return { records, overrun: { offset: off, type, length, headerCut: off + 8 > end } };
    if (type === EXT_END) break;
    records.push({ type, offset: off, length, data: buf.subarray(off + 8, off + 8 + length) });
    off += 8 + Math.ceil(length / 8) * 8;
  }
  return { records };
}

/** Parses extensions from `buf` (the first cluster) starting at `start` (the header length). */
export function decodeExtensions(buf: Uint8Array, start: number, end: number, file: string): Extensions {
  const out: Extensions = { list: [], featureNames: [] };
  const nameOf = (type: number) => (type === EXT_END ? "end" : (EXTENSION_NAMES[type] ?? `unknown 0x${type.toString(16)}`));
  const walk = walkExtensions(buf, start, Math.min(end, buf.length));
  for (const { type, offset: off, length, data: view } of walk.records) {
    const name = nameOf(type);
    // The spec allows each type once, but QEMU 7.2 accepts repeats (the last one of a known type wins): so do we.
    const data = view.slice();
    out.list.push({ type, offset: off, length, data });
    const fe = (field: string, rel: number, detail: string) => new FormatError(`${name} extension`, field, off + 8 + rel, file, detail);
    switch (type) {
      case EXT_BACKING_FORMAT:
        // QEMU keeps the name in a 16-byte buffer with its NUL.
        if (length >= 16) throw fe("length", -4, `backing format name of ${length} bytes is too long (QEMU allows 15)`);
        out.backingFormat = cstr(data, 0, length);
        break;
      case EXT_DATA_FILE:
        out.dataFile = cstr(data, 0, length);
        break;
      case EXT_FEATURE_TABLE:
        for (let i = 0; i + 48 <= length; i += 48) {
          const t = u8(data, i);
          if (t > 2) continue;
          out.featureNames.push({ type: t as 0 | 1 | 2, bit: u8(data, i + 1), name: cstr(data, i + 2, 46) });
        }
        break;
      case EXT_BITMAPS: {
        if (length < 24) throw fe("length", -4, `${length} bytes, need 24`);
        const directorySize = u64(data, 8);
        const directoryOffset = u64(data, 16);
        if (Number.isNaN(directorySize)) throw fe("bitmap_directory_size", 8, "out of range");
        if (Number.isNaN(directoryOffset)) throw fe("bitmap_directory_offset", 16, "out of range");
        out.bitmaps = { nbBitmaps: u32(data, 0), directorySize, directoryOffset };
        break;
      }
      case EXT_CRYPTO: {
        if (length < 16) throw fe("length", -4, `${length} bytes, need 16`);
        const o = u64(data, 0);
        const l = u64(data, 8);
        if (Number.isNaN(o)) throw fe("offset", 0, "out of range");
        if (Number.isNaN(l)) throw fe("length", 8, "out of range");
        out.crypto = { offset: o, length: l };
        break;
      }
    }
  }
  // qcow2_read_extensions refuses an extension whose 8-byte header or data passes the end of the area (the backing
  // file name's offset when there is one, else the first cluster), whatever its type, the end marker included.
  const o = walk.overrun;
  if (o && o.headerCut)
    throw new FormatError("header extension", "type", o.offset, file, `an extension header at ${o.offset} does not fit before the end of the extension area at ${end} (the backing file name's offset or the cluster size)`);
  if (o)
    throw new FormatError("header extension", "length", o.offset + 4, file, `${nameOf(o.type)} extension of ${o.length} bytes runs past the end of the extension area at ${end} (the backing file name's offset or the cluster size)`);
  return out;
}

const DEFAULT_FEATURE_NAMES: FeatureName[] = [
  { type: 0, bit: 0, name: "dirty bit" },
  { type: 0, bit: 1, name: "corrupt bit" },
  { type: 0, bit: 2, name: "external data file" },
  { type: 0, bit: 3, name: "compression type" },
  { type: 0, bit: 4, name: "extended L2 entries" },
  { type: 1, bit: 0, name: "lazy refcounts" },
  { type: 2, bit: 0, name: "bitmaps" },
  { type: 2, bit: 1, name: "raw external data" },
];

/** Names of the bits set in a feature bitmap: from the image's own table when present, else QEMU's names. */
export function featureNames(bits: bigint, type: 0 | 1 | 2, table: FeatureName[]): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if (((bits >> BigInt(bit)) & 1n) === 0n) continue;
    const f = table.find((t) => t.type === type && t.bit === bit) ?? DEFAULT_FEATURE_NAMES.find((t) => t.type === type && t.bit === bit);
    names.push(f ? f.name : `unknown bit ${bit}`);
  }
  return names;
}
