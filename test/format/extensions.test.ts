import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { put32, put64 } from "../../engine/format/bytes.js";
import {
  decodeExtensions,
  EXT_BACKING_FORMAT,
  EXT_BITMAPS,
  EXT_CRYPTO,
  EXT_DATA_FILE,
  EXT_FEATURE_TABLE,
  featureNames,
} from "../../engine/format/extensions.js";
import { FormatError } from "../../engine/format/format-error.js";
import { decodeHeader } from "../../engine/format/header.js";
import { infoJson, qemuImg, tmpDir } from "./qemu-images.js";

const FILE = "e.qcow2";
const START = 104;

/** Lays out extensions from START as QEMU does: type, length, data padded to 8; then an end marker. */
function area(exts: [number, Uint8Array][], size = 4096, end = true): Uint8Array {
  const b = new Uint8Array(size);
  let o = START;
  for (const [type, data] of exts) {
    put32(b, o, type);
    put32(b, o + 4, data.length);
    b.set(data, o + 8);
    o += 8 + Math.ceil(data.length / 8) * 8;
  }
  if (!end) b.fill(0xaa, o);
  return b;
}

const text = (s: string) => new TextEncoder().encode(s);

function feature(type: number, bit: number, name: string): Uint8Array {
  const e = new Uint8Array(48);
  e[0] = type;
  e[1] = bit;
  e.set(text(name), 2);
  return e;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function throwsField(f: () => unknown, structure: string, field: string, offset: number): FormatError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FormatError);
  const fe = err as FormatError;
  expect([fe.structure, fe.field, fe.offset]).toEqual([structure, field, offset]);
  expect(fe.message).toContain(`${FILE}: ${structure}.${field} at offset 0x${offset.toString(16)}`);
  return fe;
}

describe("header extensions", () => {
  it("decodes every known type with its offset and keeps unknown ones", () => {
    const bitmaps = new Uint8Array(24);
    put32(bitmaps, 0, 2);
    put64(bitmaps, 8, 64);
    put64(bitmaps, 16, 0xc0000);
    const crypto = new Uint8Array(16);
    put64(crypto, 0, 0x40000);
    put64(crypto, 8, 0x1f9000);
    const unknown = text("hello, extension");
    const b = area([
      [EXT_BACKING_FORMAT, text("raw")],
      [EXT_DATA_FILE, text("data.img")],
      [0x12345678, unknown],
      [EXT_BITMAPS, bitmaps],
      [EXT_CRYPTO, crypto],
      [EXT_FEATURE_TABLE, concat(feature(0, 0, "dirty bit"), feature(7, 3, "bogus type"), feature(2, 1, "raw external data"))],
    ]);
    const e = decodeExtensions(b, START, 4096, FILE);
    expect(e.list.map((x) => [x.type, x.offset, x.length])).toEqual([
      [EXT_BACKING_FORMAT, 104, 3],
      [EXT_DATA_FILE, 120, 8],
      [0x12345678, 136, 16],
      [EXT_BITMAPS, 160, 24],
      [EXT_CRYPTO, 192, 16],
      [EXT_FEATURE_TABLE, 216, 144],
    ]);
    expect(e.backingFormat).toBe("raw");
    expect(e.dataFile).toBe("data.img");
    expect(e.list[2]!.data).toEqual(unknown);
    expect(e.bitmaps).toEqual({ nbBitmaps: 2, directorySize: 64, directoryOffset: 0xc0000 });
    expect(e.crypto).toEqual({ offset: 0x40000, length: 0x1f9000 });
    // Entries of an unknown feature type are skipped.
    expect(e.featureNames).toEqual([
      { type: 0, bit: 0, name: "dirty bit" },
      { type: 2, bit: 1, name: "raw external data" },
    ]);
  });

  it("stops at the end marker or where the area ends; an extension header cut by the area's end is refused", () => {
    const b = area([[0x1111, text("x")]], 4096);
    put32(b, START + 16, 0x2222);
    put32(b, START + 20, 0);
    expect(decodeExtensions(b, START, START + 16, FILE).list.map((x) => x.type)).toEqual([0x1111]);
    // qcow2_read_extensions reads the 8-byte header first: fewer than 8 bytes left is "Header extension too large"
    // (qemu-io refuses an image whose backing file name starts 4 bytes after the header, end marker or not).
    throwsField(() => decodeExtensions(b, START, START + 20, FILE), "header extension", "type", START + 16);
  });

  it("accepts repeated types as QEMU does; the last known one wins", () => {
    const b = area([
      [EXT_BACKING_FORMAT, text("raw")],
      [0x77, text("a")],
      [0x77, text("b")],
      [EXT_BACKING_FORMAT, text("qcow2")],
    ]);
    const e = decodeExtensions(b, START, 4096, FILE);
    expect(e.list.length).toBe(4);
    expect(e.backingFormat).toBe("qcow2");
  });

  it("refuses an extension running past the area, even an end marker (QEMU checks the length first)", () => {
    const b = area([[0x77, new Uint8Array(8)]]);
    throwsField(() => decodeExtensions(b, START, START + 15, FILE), "header extension", "length", START + 4);
    const end = new Uint8Array(4096);
    put32(end, START + 4, 0x10000);
    throwsField(() => decodeExtensions(end, START, 4096, FILE), "header extension", "length", START + 4);
  });

  it("validates the known layouts", () => {
    throwsField(() => decodeExtensions(area([[EXT_BITMAPS, new Uint8Array(16)]]), START, 4096, FILE), "bitmaps extension", "length", START + 4);
    throwsField(() => decodeExtensions(area([[EXT_CRYPTO, new Uint8Array(8)]]), START, 4096, FILE), "full disk encryption header pointer extension", "length", START + 4);
    throwsField(() => decodeExtensions(area([[EXT_BACKING_FORMAT, text("sixteen-bytes-xx")]]), START, 4096, FILE), "backing format extension", "length", START + 4);
    const big = new Uint8Array(24);
    put32(big, 16, 0x00200000);
    throwsField(() => decodeExtensions(area([[EXT_BITMAPS, big]]), START, 4096, FILE), "bitmaps extension", "bitmap_directory_offset", START + 8 + 16);
    const c = new Uint8Array(16);
    put32(c, 8, 0xffffffff);
    throwsField(() => decodeExtensions(area([[EXT_CRYPTO, c]]), START, 4096, FILE), "full disk encryption header pointer extension", "length", START + 8 + 8);
  });
});

describe("feature names", () => {
  it("prefer the image's table, fall back to QEMU's names, and name unknown bits", () => {
    const table = [{ type: 0 as const, bit: 0, name: "made dirty" }];
    expect(featureNames(0b10001n, 0, table)).toEqual(["made dirty", "extended L2 entries"]);
    expect(featureNames(1n, 1, [])).toEqual(["lazy refcounts"]);
    expect(featureNames(3n, 2, [])).toEqual(["bitmaps", "raw external data"]);
    expect(featureNames((1n << 63n) | (1n << 40n), 1, [])).toEqual(["unknown bit 40", "unknown bit 63"]);
    expect(featureNames(0n, 0, table)).toEqual([]);
  });
});

describe("extensions written by qemu-img", () => {
  const tmp = tmpDir();
  afterAll(() => tmp.cleanup());

  it("backing format and the feature name table", () => {
    const base = tmp.path("base.raw");
    const top = tmp.path("top.qcow2");
    qemuImg("create", "-q", "-f", "raw", base, "1M");
    qemuImg("create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", top);
    const bytes = new Uint8Array(readFileSync(top));
    const h = decodeHeader(bytes, top);
    const e = decodeExtensions(bytes, h.headerLength, h.backingFileOffset, top);
    const info = infoJson(top);
    expect(e.backingFormat).toBe(info["backing-filename-format"]);
    expect(new TextDecoder().decode(bytes.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize))).toBe(info["backing-filename"]);
    // QEMU 7.2 writes names for every feature it knows.
    expect(e.featureNames).toContainEqual({ type: 0, bit: 4, name: "extended L2 entries" });
    expect(e.featureNames).toContainEqual({ type: 1, bit: 0, name: "lazy refcounts" });
    expect(e.featureNames).toContainEqual({ type: 2, bit: 1, name: "raw external data" });
  });
});
