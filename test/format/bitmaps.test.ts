import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { put32, put64, type ReadAt } from "../../engine/format/bytes.js";
import {
  type BitmapDirEntry,
  bitmapEntryProblems,
  bitmapFlagNames,
  bitmapsConsistent,
  BitmapTableKind,
  bitmapTableSizeFor,
  checkBitmapsExtension,
  decodeBitmapDirectory,
  decodeBitmapTable,
  encodeBitmapDirectory,
} from "../../engine/format/bitmaps.js";
import { EXT_BITMAPS, type Extensions } from "../../engine/format/extensions.js";
import { FormatError } from "../../engine/format/format-error.js";
import { AUTOCLEAR_BITMAPS, type Qcow2Header } from "../../engine/format/header.js";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";
import { infoJson, type LoadedImage, loadImage, qemuImg, qemuIo, tmpDir } from "./qemu-images.js";
import { v3Header } from "../shared/header.js";

const FILE = "b.qcow2";
const DIR = 0x20000;

const header = (over: Partial<Qcow2Header> = {}): Qcow2Header => v3Header({ autoclearFeatures: BigInt(AUTOCLEAR_BITMAPS), ...over });

type Entry = Omit<BitmapDirEntry, "index" | "offset">;
const entry = (over: Partial<Entry> = {}): Entry => ({
  tableOffset: 0x40000,
  tableSize: 1,
  flags: 2,
  type: 1,
  granularityBits: 16,
  name: "b0",
  extra: new Uint8Array(0),
  ...over,
});

function reader(at: number, bytes: Uint8Array): ReadAt {
  const m = new MemoryStorage(FILE, new Uint8Array(0x100000));
  m.write(bytes, at);
  return (b, o) => m.read(b, o);
}

function decodeDir(entries: Entry[], opts: { nb?: number; size?: number; lenient?: boolean } = {}): BitmapDirEntry[] {
  const dir = encodeBitmapDirectory(entries);
  return decodeBitmapDirectory(reader(DIR, dir), header(), { nbBitmaps: opts.nb ?? entries.length, directoryOffset: DIR, directorySize: opts.size ?? dir.length }, FILE, {
    lenient: opts.lenient,
  });
}

function error(f: () => unknown): FormatError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    expect((e as Error).message).toContain(FILE);
    return e as FormatError;
  }
  throw new Error("did not throw");
}

describe("bitmap directory", () => {
  it("decodes entries with their offsets; names and extra data round trip", () => {
    const d = decodeDir([entry(), entry({ name: "a-much-longer-bitmap-name", flags: 0, granularityBits: 9, tableOffset: 0x50000, tableSize: 4 })]);
    expect(d.map((e) => [e.index, e.offset, e.name, e.flags, e.granularityBits, e.tableOffset, e.tableSize])).toEqual([
      [0, DIR, "b0", 2, 16, 0x40000, 1],
      [1, DIR + 32, "a-much-longer-bitmap-name", 0, 9, 0x50000, 4],
    ]);
    const lenient = decodeDir([entry({ extra: new Uint8Array([1, 2, 3]) })], { lenient: true });
    expect(Array.from(lenient[0]!.extra)).toEqual([1, 2, 3]);
    expect(lenient[0]!.name).toBe("b0");
  });

  it.each([
    ["granularity_bits", entry({ granularityBits: 8 }), 17, /outside 9\.\.31/],
    ["granularity_bits", entry({ granularityBits: 32 }), 17, /outside 9\.\.31/],
    ["flags", entry({ flags: 4 }), 12, /reserved flag bits 0x4/],
    ["type", entry({ type: 2 }), 16, /type 2/],
    ["name_size", entry({ name: "n".repeat(1024) }), 18, /1024 bytes exceeds 1023/],
    ["bitmap_table_size", entry({ tableSize: 0 }), 8, /zero/],
    ["bitmap_table_size", entry({ tableSize: 0x8000001 }), 8, /exceed QEMU's maximum/],
    ["bitmap_table_size", entry({ tableSize: 8193 }), 8, /bytes of bitmap data exceed/],
    ["bitmap_table_offset", entry({ tableOffset: 0 }), 0, /zero/],
    ["bitmap_table_offset", entry({ tableOffset: 0x40200 }), 0, /not cluster aligned/],
    ["extra_data_size", entry({ extra: new Uint8Array(8) }), 20, /QEMU supports none/],
    ["bitmap_table_size", entry({ granularityBits: 9, tableSize: 1 }), 8, /cover less than the virtual size/],
  ])("refuses %s as check_dir_entry does (%#)", (field, e, rel, detail) => {
    const err = error(() => decodeDir([e]));
    expect([err.structure, err.field, err.offset]).toEqual(["bitmap directory", field, DIR + rel]);
    expect(err.message).toMatch(detail);
    expect(err.message).toContain(`bitmap '${e.name}'`);
    // Lenient decoding keeps the entry and lists the same problem.
    const [kept] = decodeDir([e], { lenient: true });
    expect(bitmapEntryProblems(kept!, header(), FILE).map((p) => p.field)).toContain(field);
  });

  it("an in-use bitmap may be too small for the disk (it was not saved after a resize)", () => {
    expect(decodeDir([entry({ flags: 1, granularityBits: 9, tableSize: 1 })])).toHaveLength(1);
  });

  it("refuses a broken directory and a count that differs from the extension's", () => {
    expect(error(() => decodeDir([entry()], { size: 24 })).message).toMatch(/broken bitmap directory/);
    expect(error(() => decodeDir([entry()], { size: 20 })).message).toMatch(/broken bitmap directory/);
    expect(error(() => decodeDir([entry(), entry({ name: "b1" })], { nb: 1 })).message).toMatch(/more bitmaps found/);
    expect(error(() => decodeDir([entry()], { nb: 2 })).message).toMatch(/less bitmaps found/);
    expect(error(() => decodeDir([entry()], { size: 0 })).field).toBe("bitmap_directory_size");
    expect(error(() => decodeDir([entry()], { size: 1024 * 65535 + 8 })).field).toBe("bitmap_directory_size");
  });

  it("flag names and table sizes", () => {
    expect(bitmapFlagNames(0)).toEqual([]);
    expect(bitmapFlagNames(3)).toEqual(["in-use", "auto"]);
    expect(bitmapFlagNames(4 | (1 << 31))).toEqual(["extra-data-compatible", "bit 31"]);
    expect(bitmapTableSizeFor(2 ** 30, 16, 65536)).toBe(1);
    expect(bitmapTableSizeFor(2 ** 30, 9, 65536)).toBe(4);
    expect(bitmapTableSizeFor(2 ** 30 + 1, 9, 65536)).toBe(5);
  });
});

describe("bitmap tables (check_table_entry)", () => {
  const e = (tableSize: number): BitmapDirEntry => ({ ...entry({ tableSize, tableOffset: 0x40000 }), index: 0, offset: DIR });
  function table(...raw: [number, number][]): Uint8Array {
    const t = new Uint8Array(raw.length * 8);
    raw.forEach(([hi, lo], i) => {
      put32(t, i * 8, hi);
      put32(t, i * 8 + 4, lo);
    });
    return t;
  }

  it("all zeros, all ones, data clusters", () => {
    const t = decodeBitmapTable(reader(0x40000, table([0, 0], [0, 1], [0, 0x70000], [1, 0])), e(4), header(), FILE);
    expect(t.map((x) => [x.kind, x.dataOffset])).toEqual([
      [BitmapTableKind.AllZeros, 0],
      [BitmapTableKind.AllOnes, 0],
      [BitmapTableKind.Data, 0x70000],
      [BitmapTableKind.Data, 2 ** 32],
    ]);
  });

  it.each([
    ["reserved bits 1..8", [0, 0x70002], /reserved bits/],
    ["reserved bits 56..63", [0x01000000, 0x70000], /reserved bits/],
    ["a data offset with the all-ones bit", [0, 0x70001], /all-ones bit/],
    ["an unaligned data offset", [0, 0x70200], /not cluster aligned/],
  ] as const)("refuses %s", (_n, raw, detail) => {
    const err = error(() => decodeBitmapTable(reader(0x40000, table([0, 0], [raw[0], raw[1]])), e(2), header(), FILE));
    expect([err.structure, err.field, err.offset]).toEqual(["bitmap table", "entry", 0x40008]);
    expect(err.message).toMatch(detail);
  });
});

describe("the bitmaps extension (qcow2_read_extensions)", () => {
  function ext(data: Uint8Array): Extensions {
    return {
      list: [{ type: EXT_BITMAPS, offset: 0x70, length: data.length, data }],
      featureNames: [],
      bitmaps: { nbBitmaps: new DataView(data.buffer).getUint32(0), directorySize: 64, directoryOffset: Number(new DataView(data.buffer).getBigUint64(16)) },
    };
  }
  const raw = (nb: number, reserved: number, off: number, len = 24) => {
    const d = new Uint8Array(len);
    put32(d, 0, nb);
    put32(d, 4, reserved);
    put64(d, 8, 64);
    put64(d, 16, off);
    return d;
  };

  it("passes a good one and names the field of a bad one", () => {
    expect(checkBitmapsExtension(ext(raw(2, 0, 0x30000)), header(), FILE)).toEqual({ nbBitmaps: 2, directorySize: 64, directoryOffset: 0x30000 });
    const field = (d: Uint8Array) => error(() => checkBitmapsExtension(ext(d), header(), FILE)).field;
    expect(field(raw(0, 0, 0x30000))).toBe("nb_bitmaps");
    expect(field(raw(65536, 0, 0x30000))).toBe("nb_bitmaps");
    expect(field(raw(1, 1, 0x30000))).toBe("reserved32");
    expect(field(raw(1, 0, 0x30008))).toBe("bitmap_directory_offset");
    expect(field(raw(1, 0, 0x30000, 32))).toBe("length");
  });

  it("is ignored without the autoclear bit, as QEMU does (after the length check)", () => {
    const h = header({ autoclearFeatures: 0n });
    expect(bitmapsConsistent(h)).toBe(false);
    expect(checkBitmapsExtension(ext(raw(0, 1, 0x30008)), h, FILE)).toBeUndefined();
    expect(error(() => checkBitmapsExtension(ext(raw(1, 0, 0x30000, 32)), h, FILE)).field).toBe("length");
  });
});

describe("bitmaps written by qemu-img", () => {
  const tmp = tmpDir();
  const f = tmp.path("bitmaps.qcow2");
  let img: LoadedImage;
  beforeAll(() => {
    qemuImg("create", "-q", "-f", "qcow2", f, "64M");
    qemuImg("bitmap", "--add", f, "b0");
    qemuImg("bitmap", "--add", "-g", "512", "--disable", f, "second");
    qemuIo(f, "write -P 1 0 64k", "write -P 1 1M 4k");
    img = loadImage(f);
  });
  afterAll(() => tmp.cleanup());

  it("directory matches qemu-img info; the written ranges are set in the data cluster", () => {
    const ext = checkBitmapsExtension(img.ext, img.header, f)!;
    const dir = decodeBitmapDirectory(img.read, img.header, ext, f);
    const info = infoJson(f)["format-specific"].data.bitmaps as { name: string; granularity: number; flags: string[] }[];
    expect(dir.map((e) => ({ flags: bitmapFlagNames(e.flags), name: e.name, granularity: 2 ** e.granularityBits }))).toEqual(info);
    for (const e of dir) expect(e.tableSize).toBe(bitmapTableSizeFor(img.header.size, e.granularityBits, 65536));

    const [b0, second] = dir.map((e) => decodeBitmapTable(img.read, e, img.header, f));
    expect(second!.every((x) => x.kind === BitmapTableKind.AllZeros)).toBe(true);
    expect(b0![0]!.kind).toBe(BitmapTableKind.Data);
    const data = img.bytes.subarray(b0![0]!.dataOffset, b0![0]!.dataOffset + 65536);
    // Granularity 64 KiB: bit 0 covers the first write, bit 16 (byte 2) the one at 1 MiB; nothing else.
    expect(data[0]).toBe(1);
    expect(data[2]).toBe(1);
    expect(data.reduce((n, b) => n + (b ? 1 : 0), 0)).toBe(2);
  });
});
