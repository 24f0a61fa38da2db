import { afterAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { put32 } from "../../engine/format/bytes.js";
import { FormatError } from "../../engine/format/format-error.js";
import {
  AUTOCLEAR_BITMAPS,
  COMPAT_LAZY_REFCOUNTS,
  decodeHeader,
  encodeHeader,
  geometry,
  INCOMPAT_COMPRESSION,
  INCOMPAT_DIRTY,
  INCOMPAT_EXTL2,
  l1SizeFor,
  type Qcow2Header,
} from "../../engine/format/header.js";
import { infoJson, qemuImg, tmpDir } from "./qemu-images.js";

const FILE = "t.qcow2";

const v3: Qcow2Header = {
  version: 3,
  backingFileOffset: 0x1f0,
  backingFileSize: 9,
  clusterBits: 16,
  size: 10 * 2 ** 30,
  cryptMethod: 0,
  l1Size: 24,
  l1TableOffset: 0x30000,
  refcountTableOffset: 0x10000,
  refcountTableClusters: 2,
  nbSnapshots: 3,
  snapshotsOffset: 0x50000,
  incompatibleFeatures: BigInt(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION),
  compatibleFeatures: BigInt(COMPAT_LAZY_REFCOUNTS),
  autoclearFeatures: BigInt(AUTOCLEAR_BITMAPS),
  refcountOrder: 5,
  headerLength: 112,
  compressionType: 1,
};

const v2: Qcow2Header = {
  ...v3,
  version: 2,
  incompatibleFeatures: 0n,
  compatibleFeatures: 0n,
  autoclearFeatures: 0n,
  refcountOrder: 4,
  headerLength: 72,
  compressionType: 0,
};

/** A header buffer as big as a cluster, so that header_length and backing name checks see a whole cluster 0. */
function bytesOf(h: Qcow2Header, clusterBytes = 4096): Uint8Array {
  const b = new Uint8Array(clusterBytes);
  b.set(encodeHeader(h));
  return b;
}

function fails(b: Uint8Array, field: string, offset: number, detail?: RegExp): void {
  let err: unknown;
  try {
    decodeHeader(b, FILE);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FormatError);
  const fe = err as FormatError;
  expect(fe.structure).toBe("header");
  expect(fe.field).toBe(field);
  expect(fe.offset).toBe(offset);
  expect(fe.message).toContain(`${FILE}: header.${field} at offset 0x${offset.toString(16)}`);
  if (detail) expect(fe.message).toMatch(detail);
}

function withField(h: Partial<Qcow2Header>, base = v3): Uint8Array {
  return bytesOf({ ...base, ...h });
}

describe("header round trip", () => {
  it("v3: every field survives encode and decode", () => {
    const b = encodeHeader(v3);
    expect(b.length).toBe(112);
    expect(decodeHeader(b, FILE)).toEqual(v3);
  });

  it("v2: 72 bytes, v3 fields take their implied values", () => {
    const b = encodeHeader(v2);
    expect(b.length).toBe(72);
    expect(decodeHeader(b, FILE)).toEqual(v2);
  });

  it("fields sit at the offsets of the spec", () => {
    const b = encodeHeader(v3);
    const dv = new DataView(b.buffer);
    expect(dv.getUint32(0)).toBe(0x514649fb);
    expect(dv.getUint32(4)).toBe(3);
    expect(dv.getBigUint64(8)).toBe(0x1f0n);
    expect(dv.getUint32(16)).toBe(9);
    expect(dv.getUint32(20)).toBe(16);
    expect(dv.getBigUint64(24)).toBe(10n * 2n ** 30n);
    expect(dv.getUint32(36)).toBe(24);
    expect(dv.getBigUint64(40)).toBe(0x30000n);
    expect(dv.getBigUint64(48)).toBe(0x10000n);
    expect(dv.getUint32(56)).toBe(2);
    expect(dv.getUint32(60)).toBe(3);
    expect(dv.getBigUint64(64)).toBe(0x50000n);
    expect(dv.getBigUint64(72)).toBe(9n);
    expect(dv.getBigUint64(80)).toBe(1n);
    expect(dv.getBigUint64(88)).toBe(1n);
    expect(dv.getUint32(96)).toBe(5);
    expect(dv.getUint32(100)).toBe(112);
    expect(b[104]).toBe(1);
  });

  it("keeps feature bits above 2^53 exactly", () => {
    const h = { ...v3, compatibleFeatures: (1n << 63n) | 1n, autoclearFeatures: 1n << 62n };
    expect(decodeHeader(encodeHeader(h), FILE)).toEqual(h);
  });

  it("geometry follows cluster bits, extended L2 and refcount order", () => {
    expect(geometry(v3)).toEqual({ clusterSize: 65536, extendedL2: false, l2EntryBytes: 8, l2Entries: 8192, refcountBits: 32, refblockEntries: 16384 });
    const g = geometry({ ...v3, incompatibleFeatures: BigInt(INCOMPAT_EXTL2), compressionType: 0, refcountOrder: 0 });
    expect(g).toEqual({ clusterSize: 65536, extendedL2: true, l2EntryBytes: 16, l2Entries: 4096, refcountBits: 1, refblockEntries: 524288 });
  });

  it("l1SizeFor is the minimum number of L1 entries", () => {
    expect(l1SizeFor(0, 16, 8)).toBe(0);
    expect(l1SizeFor(1, 16, 8)).toBe(1);
    expect(l1SizeFor(512 * 2 ** 20, 16, 8)).toBe(1);
    expect(l1SizeFor(512 * 2 ** 20 + 1, 16, 8)).toBe(2);
    expect(l1SizeFor(512 * 2 ** 20, 16, 16)).toBe(2);
  });
});

describe("header validation names the field", () => {
  it("magic", () => {
    const b = bytesOf(v3);
    b[0] = 0x51 ^ 1;
    fails(b, "magic", 0, /not a qcow2 image/);
    fails(new Uint8Array(3), "magic", 0, /too short/);
  });
  it("truncated headers", () => {
    fails(encodeHeader(v3).subarray(0, 60), "version", 4, /truncated header/);
    fails(encodeHeader(v3).subarray(0, 100), "header_length", 100, /truncated v3 header/);
  });
  it("version", () => {
    for (const v of [0, 1, 4]) {
      const b = bytesOf(v3);
      put32(b, 4, v);
      fails(b, "version", 4, new RegExp(`unsupported qcow2 version ${v}`));
    }
  });
  it("64-bit fields of 2^53 and more", () => {
    for (const [field, off] of [["backing_file_offset", 8], ["size", 24], ["l1_table_offset", 40], ["refcount_table_offset", 48], ["snapshots_offset", 64]] as const) {
      const b = bytesOf(v3);
      put32(b, off, 0x00200000);
      fails(b, field, off, /2\^53/);
    }
  });
  it("header_length", () => {
    fails(withField({ headerLength: 96 }), "header_length", 100, /less than 104/);
    fails(withField({ headerLength: 108 }), "header_length", 100, /multiple of 8/);
    const big = bytesOf({ ...v3, clusterBits: 12, headerLength: 4104, l1Size: 2 ** 12, l1TableOffset: 0x3000, refcountTableOffset: 0x1000, snapshotsOffset: 0x5000, backingFileOffset: 0 }, 8192);
    fails(big, "header_length", 100, /exceeds the first cluster/);
  });
  it("cluster_bits", () => {
    fails(withField({ clusterBits: 8 }), "cluster_bits", 20, /outside 9\.\.21/);
    fails(withField({ clusterBits: 22 }), "cluster_bits", 20, /outside 9\.\.21/);
    const ext = { incompatibleFeatures: BigInt(INCOMPAT_EXTL2), compressionType: 0, clusterBits: 13, l1TableOffset: 0x2000 * 3, refcountTableOffset: 0x2000, snapshotsOffset: 0x2000 * 5, l1Size: 2 ** 12, backingFileOffset: 0 };
    fails(withField(ext), "cluster_bits", 20, /extended L2/);
  });
  it("refcount_order", () => fails(withField({ refcountOrder: 7 }), "refcount_order", 96, /greater than 6/));
  it("size", () => fails(withField({ size: 2 ** 53 - 1 }), "size", 24, /too large/));
  it("crypt_method", () => {
    fails(withField({ cryptMethod: 3 }), "crypt_method", 32, /unknown encryption method 3/);
    fails(withField({ cryptMethod: 2 }, v2), "crypt_method", 32, /version 3/);
  });
  it("incompatible_features", () => {
    fails(withField({ incompatibleFeatures: 1n << 5n }), "incompatible_features", 72, /0x20/);
    fails(withField({ incompatibleFeatures: 1n << 40n }), "incompatible_features", 72, /0x10000000000/);
  });
  it("compression_type", () => {
    fails(withField({ compressionType: 0 }), "compression_type", 104, /deflate/);
    fails(withField({ incompatibleFeatures: 0n, compressionType: 1 }), "compression_type", 104, /without the incompatible compression bit/);
    fails(withField({ compressionType: 2 }), "compression_type", 104, /unknown compression type 2/);
  });
  it("backing file name", () => {
    fails(withField({ backingFileSize: 1024 }), "backing_file_size", 16, /1023/);
    fails(withField({ backingFileOffset: 65530, backingFileSize: 10 }), "backing_file_offset", 8, /outside cluster 0/);
  });
  it("l1_size", () => {
    fails(withField({ l1Size: 4 * 2 ** 20 + 1 }), "l1_size", 36, /exceeds 32 MiB/);
    fails(withField({ l1Size: 19 }), "l1_size", 36, /cannot map the virtual size/);
  });
  it("l1_table_offset, also for an empty table (QEMU refuses it)", () => {
    fails(withField({ l1TableOffset: 0x30200 }), "l1_table_offset", 40, /not cluster aligned/);
    fails(withField({ size: 0, l1Size: 0, l1TableOffset: 0x1200 }), "l1_table_offset", 40, /not cluster aligned/);
    fails(withField({ l1TableOffset: 2 ** 53 - 65536, l1Size: 16384 }), "l1_table_offset", 40, /beyond 2\^53/);
  });
  it("refcount table", () => {
    fails(withField({ refcountTableClusters: 0 }), "refcount_table_clusters", 56, /no refcount table/);
    fails(withField({ refcountTableClusters: 129 }), "refcount_table_clusters", 56, /exceeds 8 MiB/);
    fails(withField({ refcountTableOffset: 0x10200 }), "refcount_table_offset", 48, /not cluster aligned/);
  });
  it("snapshots", () => {
    fails(withField({ nbSnapshots: 65537 }), "nb_snapshots", 60, /65536/);
    fails(withField({ snapshotsOffset: 0x50008 }), "snapshots_offset", 64, /not cluster aligned/);
    fails(withField({ nbSnapshots: 0, snapshotsOffset: 0x8 }), "snapshots_offset", 64, /not cluster aligned/);
  });
});

describe("headers written by qemu-img", () => {
  const tmp = tmpDir();
  afterAll(() => tmp.cleanup());

  it.each([
    ["v3 defaults", ["-o", "compat=1.1"]],
    ["v2", ["-o", "compat=0.10"]],
    ["4k clusters, 64-bit refcounts, lazy refcounts", ["-o", "cluster_size=4096,refcount_bits=64,lazy_refcounts=on"]],
    ["extended L2, zstd", ["-o", "extended_l2=on,compression_type=zstd,cluster_size=32768"]],
  ])("%s", (_name, opts) => {
    const f = tmp.path(`h-${Math.random().toString(36).slice(2)}.qcow2`);
    qemuImg("create", "-q", "-f", "qcow2", ...opts, f, "100M");
    const info = infoJson(f);
    const h = decodeHeader(new Uint8Array(readFileSync(f)), f);
    const g = geometry(h);
    expect(h.size).toBe(info["virtual-size"]);
    expect(g.clusterSize).toBe(info["cluster-size"]);
    const data = info["format-specific"].data;
    expect(h.version).toBe(data.compat === "0.10" ? 2 : 3);
    if (h.version === 3) {
      expect(g.refcountBits).toBe(data["refcount-bits"]);
      expect(g.extendedL2).toBe(data["extended-l2"]);
      expect((h.compatibleFeatures & 1n) === 1n).toBe(data["lazy-refcounts"]);
      expect(h.compressionType === 1 ? "zstd" : "zlib").toBe(data["compression-type"]);
    }
    expect(h.l1Size).toBeGreaterThanOrEqual(l1SizeFor(h.size, h.clusterBits, g.l2EntryBytes));
  });
});
