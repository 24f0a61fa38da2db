// The corrupted-image corpus: byte edits of the committed samples (samples/images) that break one thing each,
// plus seeded random byte flips in metadata clusters. Tests run every face of qcowdbg over it: nothing may hang,
// crash with a stack trace or touch the source; what qemu-img 7.2 does with each case is recorded alongside.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { prng } from "../shared/prng.js";

export const SAMPLE_IMAGES = fileURLToPath(new URL("../../samples/images/", import.meta.url));

/** "error": must exit non-zero with one `qcowdbg: ` line. "either": may succeed, or fail the same clean way. */
export type Verdict = "error" | "either";

/** An exit code, or "hang": qemu-img 7.2 recurses on backing loops and does not finish. */
export type QemuOutcome = number | "hang";

export interface QemuVerdict {
  /** Exit codes of `qemu-img info|map|check -f qcow2 --output=json` and `qemu-img convert -f qcow2 -O raw`. */
  info: QemuOutcome;
  map: QemuOutcome;
  check: QemuOutcome;
  convert: QemuOutcome;
}

export interface BadCase {
  name: string;
  /** The corrupted image (the top of the chain for backing cases). */
  path: string;
  /** The sample it was derived from, relative to samples/images. */
  source: string;
  why: string;
  /** What qemu-img 7.2 did (null for random flips); test/bad-input/qemu-agrees.test.ts holds qemu-img to it. */
  qemu: QemuVerdict | null;
  /** What qcowdbg must do. `check` may always answer with qemu-img's exit codes (0-3) instead of an error. */
  expect: { info: Verdict; map: Verdict; dump: Verdict; export: Verdict };
}

export interface CorpusOptions {
  /** Number of random-flip cases (default 200). */
  flips?: number;
  seed?: number;
}

/** Header fields and the metadata they point at, read without trusting anything beyond the source samples. */
interface Layout {
  clusterSize: number;
  l1Offset: number;
  l1Size: number;
  reftableOffset: number;
  reftableClusters: number;
  snapshotsOffset: number;
  nbSnapshots: number;
  headerLength: number;
  backingOffset: number;
  backingSize: number;
}

function layout(b: Buffer): Layout {
  const version = b.readUInt32BE(4);
  return {
    clusterSize: 2 ** b.readUInt32BE(20),
    l1Size: b.readUInt32BE(36),
    l1Offset: Number(b.readBigUInt64BE(40)),
    reftableOffset: Number(b.readBigUInt64BE(48)),
    reftableClusters: b.readUInt32BE(56),
    nbSnapshots: b.readUInt32BE(60),
    snapshotsOffset: Number(b.readBigUInt64BE(64)),
    headerLength: version >= 3 ? b.readUInt32BE(100) : 72,
    backingOffset: Number(b.readBigUInt64BE(8)),
    backingSize: b.readUInt32BE(16),
  };
}

/** Bits 9-55 of an L1/L2/refcount-table entry. */
const OFFSET_MASK = 0x00fffffffffffe00n;
const COPIED = 1n << 63n;

function entry(b: Buffer, at: number): bigint {
  return b.readBigUInt64BE(at);
}

/** Table offsets of allocated L2 tables / refcount blocks, in table order. */
function pointedTables(b: Buffer, tableOffset: number, entries: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < entries; i++) {
    const off = Number(entry(b, tableOffset + 8 * i) & OFFSET_MASK);
    if (off !== 0) out.push(off);
  }
  return out;
}

/** Byte ranges holding metadata: header cluster, L1, refcount table and blocks, L2 tables, snapshot table. */
function metadataRanges(b: Buffer): [number, number][] {
  const L = layout(b);
  const cs = L.clusterSize;
  const ranges: [number, number][] = [[0, cs]];
  ranges.push([L.l1Offset, L.l1Offset + L.l1Size * 8]);
  ranges.push([L.reftableOffset, L.reftableOffset + L.reftableClusters * cs]);
  for (const rb of pointedTables(b, L.reftableOffset, (L.reftableClusters * cs) / 8)) ranges.push([rb, rb + cs]);
  for (const l2 of pointedTables(b, L.l1Offset, L.l1Size)) ranges.push([l2, l2 + cs]);
  if (L.nbSnapshots > 0) ranges.push([L.snapshotsOffset, L.snapshotsOffset + cs]);
  return ranges.map(([s, e]) => [s, Math.min(e, b.length)] as [number, number]).filter(([s, e]) => e > s);
}

/** First L2 entry (file offset) describing a standard allocated cluster, or a compressed one. */
function findL2Entry(b: Buffer, want: "normal" | "compressed"): number {
  const L = layout(b);
  for (const l2 of pointedTables(b, L.l1Offset, L.l1Size)) {
    for (let at = l2; at < l2 + L.clusterSize; at += 8) {
      const e = entry(b, at);
      const compressed = (e & (1n << 62n)) !== 0n;
      if (want === "compressed" ? compressed : !compressed && (e & OFFSET_MASK) !== 0n) return at;
    }
  }
  throw new Error(`corpus: no ${want} L2 entry in source`);
}

/** Host byte range of the compressed cluster an L2 entry describes (QCOW2.md: compressed descriptor). */
function compressedRange(b: Buffer, at: number): [number, number] {
  const clusterBits = b.readUInt32BE(20);
  const x = 62n - BigInt(clusterBits - 8);
  const d = entry(b, at) & ((1n << 62n) - 1n);
  const offset = Number(d & ((1n << x) - 1n));
  const sectors = Number(d >> x);
  return [offset, Math.min(b.length, offset + (sectors + 1) * 512 - (offset & 511))];
}

function put64(b: Buffer, at: number, v: bigint): void {
  b.writeBigUInt64BE(BigInt.asUintN(64, v), at);
}

/** Rewrites the backing file name in place (the bytes after the header area are zero in the samples). */
function setBackingName(b: Buffer, name: string): void {
  const L = layout(b);
  const bytes = Buffer.from(name, "utf8");
  if (L.backingOffset === 0 || L.backingOffset + Math.max(bytes.length, L.backingSize) > L.clusterSize)
    throw new Error("corpus: backing name does not fit in cluster 0");
  b.fill(0, L.backingOffset, L.backingOffset + L.backingSize);
  bytes.copy(b, L.backingOffset);
  b.writeUInt32BE(bytes.length, 16);
}

/** Overwrites the first header extension's length (the samples' first extension follows the header). */
function firstExtension(b: Buffer): number {
  return layout(b).headerLength;
}


interface Spec {
  name: string;
  source: string;
  why: string;
  qemu: QemuVerdict;
  /** Byte edits on a copy of the source; may return a replacement buffer (truncation). */
  edit: (b: Buffer, L: Layout) => Buffer | void;
  /** Where qcowdbg refuses what qemu-img accepts (json: names, deep chains). */
  stricter?: Partial<BadCase["expect"]>;
}

const q = (info: QemuOutcome, map: QemuOutcome, check: QemuOutcome, convert: QemuOutcome): QemuVerdict => ({ info, map, check, convert });
/** QEMU refuses to open it. */
const FAIL_ALL = q(1, 1, 1, 1);
/** QEMU opens and reads it and finds nothing wrong. */
const OPENS = q(0, 0, 0, 0);
/** QEMU opens and reads it; check finds corruption. */
const CORRUPT = q(0, 0, 2, 0);
/** QEMU opens it, but reading data fails (map and convert). */
const READ_FAILS = q(0, 1, 2, 1);

const B = "cluster-4k.qcow2";

function headerSpecs(): Spec[] {
  const u32 = (at: number, v: number) => (b: Buffer) => void b.writeUInt32BE(v >>> 0, at);
  const u64 = (at: number, v: bigint) => (b: Buffer) => void put64(b, at, v);
  const s = (name: string, why: string, qemu: QemuVerdict, edit: Spec["edit"], source = B): Spec => ({ name, source, why, qemu, edit });
  return [
    s("magic-zero", "magic is 0", FAIL_ALL, u32(0, 0)),
    s("magic-qcow1", "magic of qcow (version 1) images, QFI\\0", FAIL_ALL, u32(0, 0x51464900)),
    s("version-0", "version 0", FAIL_ALL, u32(4, 0)),
    s("version-1", "version 1 (qcow, not qcow2)", FAIL_ALL, u32(4, 1)),
    s("version-4", "version 4", FAIL_ALL, u32(4, 4)),
    s("version-max", "version 0xffffffff", FAIL_ALL, u32(4, 0xffffffff)),
    s("cluster-bits-0", "cluster_bits 0", FAIL_ALL, u32(20, 0)),
    s("cluster-bits-8", "cluster_bits 8 (256 B clusters, below QEMU's 512 B)", FAIL_ALL, u32(20, 8)),
    s("cluster-bits-22", "cluster_bits 22 (4 MiB clusters, above QEMU's 2 MiB)", FAIL_ALL, u32(20, 22)),
    s("cluster-bits-max", "cluster_bits 0xffffffff", FAIL_ALL, u32(20, 0xffffffff)),
    s("size-2e53", "virtual size 2^53 with an 8-entry L1 table", FAIL_ALL, u64(24, 1n << 53n)),
    s("size-2e61-plus", "virtual size 2^61 + 512, above QEMU's maximum", FAIL_ALL, u64(24, (1n << 61n) + 512n)),
    s("size-max", "virtual size 2^64 - 1", FAIL_ALL, u64(24, (1n << 64n) - 1n)),
    s("crypt-method-3", "crypt_method 3 (unknown)", FAIL_ALL, u32(32, 3)),
    s("l1-size-0", "l1_size 0 for a 16 MiB disk (needs 8)", FAIL_ALL, u32(36, 0)),
    s("l1-size-1", "l1_size 1 for a 16 MiB disk (needs 8)", FAIL_ALL, u32(36, 1)),
    s("l1-size-over-32mib", "l1_size one entry above QEMU's 32 MiB L1 limit", FAIL_ALL, u32(36, 4 * 1024 * 1024 + 1)),
    s("l1-size-max", "l1_size 0xffffffff", FAIL_ALL, u32(36, 0xffffffff)),
    s("l1-offset-unaligned", "L1 table offset not cluster aligned", FAIL_ALL, (b, L) => put64(b, 40, BigInt(L.l1Offset + 8))),
    s("l1-offset-in-header", "L1 table offset 0: the L1 table is the header", CORRUPT, u64(40, 0n)),
    s("l1-offset-beyond-eof", "L1 table at 1 GiB, past the end of the file (QEMU reads zeroes)", CORRUPT, u64(40, 1n << 30n)),
    s("l1-offset-huge", "L1 table at 2^60 (QEMU reads zeroes)", CORRUPT, u64(40, 1n << 60n)),
    s("reftable-offset-unaligned", "refcount table offset not cluster aligned", FAIL_ALL, (b, L) => put64(b, 48, BigInt(L.reftableOffset + 8))),
    s("reftable-offset-in-header", "refcount table offset 0: the refcount table is the header", CORRUPT, u64(48, 0n)),
    s("reftable-offset-beyond-eof", "refcount table at 1 GiB, past the end of the file", CORRUPT, u64(48, 1n << 30n)),
    s("reftable-offset-huge", "refcount table at 2^60", CORRUPT, u64(48, 1n << 60n)),
    s("reftable-equals-l1", "refcount table and L1 table at the same offset (overlapping tables)", q(0, 0, 1, 0), (b, L) => put64(b, 48, BigInt(L.l1Offset))),
    s("reftable-clusters-0", "refcount_table_clusters 0", q(1, 1, 2, 1), u32(56, 0)),
    s("reftable-clusters-over-8mib", "refcount table one cluster above QEMU's 8 MiB limit", FAIL_ALL, u32(56, 2049)),
    s("reftable-clusters-max", "refcount_table_clusters 0xffffffff", FAIL_ALL, u32(56, 0xffffffff)),
    s("nb-snapshots-65537", "nb_snapshots 65537, above QEMU's limit", FAIL_ALL, u32(60, 65537)),
    s("nb-snapshots-max", "nb_snapshots 0xffffffff with snapshots_offset 0", FAIL_ALL, u32(60, 0xffffffff)),
    s("nb-snapshots-huge-real", "nb_snapshots 0x7fffffff on an image with a snapshot table", FAIL_ALL, u32(60, 0x7fffffff), "snapshots.qcow2"),
    s("snapshots-offset-unaligned", "snapshots_offset not cluster aligned", FAIL_ALL, (b, L) => put64(b, 64, BigInt(L.snapshotsOffset + 8)), "snapshots.qcow2"),
    s("snapshots-offset-beyond-eof", "snapshot table at 1 GiB, past the end of the file", CORRUPT, u64(64, 1n << 30n), "snapshots.qcow2"),
    s("incompat-unknown-bit5", "incompatible feature bit 5 (unknown)", FAIL_ALL, u64(72, 1n << 5n)),
    s("incompat-unknown-bit63", "incompatible feature bit 63 (unknown)", FAIL_ALL, u64(72, 1n << 63n)),
    s("incompat-data-file-no-name", "external data file bit without a data file name", q(0, 1, 1, 1), u64(72, 4n)),
    s("incompat-extl2-small-clusters", "extended L2 bit with 4 KiB clusters (needs >= 16 KiB)", FAIL_ALL, u64(72, 16n)),
    s("incompat-corrupt", "the corrupt bit: QEMU opens it read-only only", OPENS, u64(72, 2n)),
    s("refcount-order-7", "refcount_order 7 (128-bit refcounts)", FAIL_ALL, u32(96, 7)),
    s("refcount-order-max", "refcount_order 0xffffffff", FAIL_ALL, u32(96, 0xffffffff)),
    s("header-length-0", "header_length 0", FAIL_ALL, u32(100, 0)),
    s("header-length-100", "header_length 100 (< 104)", FAIL_ALL, u32(100, 100)),
    s("header-length-105", "header_length 105 (not a multiple of 8; QEMU 7.2 accepts it)", OPENS, u32(100, 105)),
    s("header-length-over-cluster", "header_length 0x10000, larger than the 4 KiB cluster", FAIL_ALL, u32(100, 0x10000)),
    s("compression-type-unknown", "compression_type 2 with the compression-type bit set", FAIL_ALL, (b) => {
      b[104] = 2;
      put64(b, 72, 8n);
    }),
    s("compression-type-zstd-without-bit", "compression_type 1 (zstd) without the incompatible bit", FAIL_ALL, (b) => void (b[104] = 1)),
    s("compression-type-zlib-with-bit", "compression_type 0 with the compression-type bit set", FAIL_ALL, u64(72, 8n)),
    s("extension-length-huge", "first header extension claims 0xffffff00 bytes", FAIL_ALL, (b) => {
      const at = firstExtension(b);
      b.writeUInt32BE(0x6803f857, at);
      b.writeUInt32BE(0xffffff00, at + 4);
    }),
    s("extension-unterminated", "header extensions of an unknown type run to the end of cluster 0 without an end marker (QEMU accepts it)", OPENS, (b, L) => {
      for (let at = firstExtension(b); at + 8 <= L.clusterSize; at += 16) {
        b.writeUInt32BE(0x12345678, at);
        b.writeUInt32BE(8, at + 4);
      }
    }),
    s("backing-offset-outside-cluster0", "backing file name starts in cluster 1", FAIL_ALL, (b, L) => put64(b, 8, BigInt(L.clusterSize)), "chain-mid.qcow2"),
    s("backing-name-crosses-cluster0", "backing file name runs past the end of cluster 0", FAIL_ALL, (b, L) => put64(b, 8, BigInt(L.clusterSize - 4)), "chain-mid.qcow2"),
    s("backing-size-1024", "backing_file_size 1024 (QEMU's limit is 1023)", FAIL_ALL, u32(16, 1024), "chain-mid.qcow2"),
  ];
}

function tableSpecs(): Spec[] {
  const l1 = (value: (b: Buffer, L: Layout) => bigint) => (b: Buffer, L: Layout) => put64(b, L.l1Offset, value(b, L));
  const l2 = (value: (e: bigint, b: Buffer, L: Layout) => bigint) => (b: Buffer, L: Layout) => {
    const at = findL2Entry(b, "normal");
    put64(b, at, value(entry(b, at), b, L));
  };
  const firstRefblock = (b: Buffer, L: Layout) => pointedTables(b, L.reftableOffset, L.clusterSize / 8)[0]!;
  const s = (name: string, why: string, qemu: QemuVerdict, edit: Spec["edit"], source = B): Spec => ({ name, source, why, qemu, edit });
  return [
    s("l2-beyond-eof", "L1[0] points at an L2 table at 256 MiB, past the end of the file", CORRUPT, l1(() => COPIED | (1n << 28n))),
    s("l2-unaligned", "L1[0] points at an L2 table offset that is not cluster aligned", READ_FAILS, l1((b, L) => COPIED | (entry(b, L.l1Offset) & OFFSET_MASK) + 0x800n)),
    s("l2-offset-2e55", "L1[0] points at an L2 table at 2^55", CORRUPT, l1(() => COPIED | (1n << 55n))),
    s("l1-entry-in-header", "L1[0] points into the header cluster (offset 0x200)", READ_FAILS, l1(() => COPIED | 0x200n)),
    s("l1-entry-at-l1", "L1[0] points at the L1 table itself (L2 overlaps L1)", CORRUPT, l1((_b, L) => COPIED | BigInt(L.l1Offset))),
    s("l1-entry-at-reftable", "L1[0] points at the refcount table (L2 overlaps the refcount table)", CORRUPT, l1((_b, L) => COPIED | BigInt(L.reftableOffset))),
    s("l1-entry-at-refblock", "L1[0] points at the first refcount block", CORRUPT, l1((b, L) => COPIED | BigInt(firstRefblock(b, L)))),
    s("l1-entry-reserved-bits", "L1[0] has reserved bits 0-8 set", CORRUPT, l1((b, L) => entry(b, L.l1Offset) | 0x1ffn)),
    s("reftable-entry-beyond-eof", "refcount table entry 0 points past the end of the file", CORRUPT, (b, L) => put64(b, L.reftableOffset, 1n << 28n)),
    s("reftable-entry-unaligned", "refcount table entry 0 not cluster aligned", q(0, 0, 1, 0), (b, L) => put64(b, L.reftableOffset, BigInt(firstRefblock(b, L) + 0x200))),
    s("reftable-entry-in-header", "refcount table entry 0 points into the header (offset 0x200)", q(0, 0, 1, 0), (b, L) => put64(b, L.reftableOffset, 0x200n)),
    s("refblock-at-l1", "refcount table entry 0 points at the L1 table (overlapping tables)", CORRUPT, (b, L) => put64(b, L.reftableOffset, BigInt(L.l1Offset))),
    s("data-beyond-eof", "an L2 entry maps a data cluster at 256 MiB, past the end of the file", CORRUPT, l2(() => COPIED | (1n << 28n))),
    s("data-unaligned", "an L2 entry's data offset is not cluster aligned", READ_FAILS, l2((e) => e + 0x200n)),
    s("data-in-header", "an L2 entry maps its data cluster onto the header (offset 0x200)", READ_FAILS, l2(() => COPIED | 0x200n)),
    s("data-at-l1", "an L2 entry maps its data cluster onto the L1 table", CORRUPT, l2((_e, _b, L) => COPIED | BigInt(L.l1Offset))),
    s("data-reserved-bits", "an L2 entry has reserved bits 1-8 set", CORRUPT, l2((e) => e | 0x1fen)),
    s("data-offset-2e55", "an L2 entry maps data at 2^55", CORRUPT, l2(() => COPIED | (1n << 55n))),
    s("compressed-garbage", "a compressed cluster's deflate stream is overwritten with 0xff", q(0, 0, 0, 1), (b) => {
      const [from, to] = compressedRange(b, findL2Entry(b, "compressed"));
      b.fill(0xff, from, to);
    }, "compressed-zlib.qcow2"),
    s("compressed-zeroed-tail", "the second half of a compressed cluster's deflate stream is zeroed", q(0, 0, 0, 1), (b) => {
      const [from, to] = compressedRange(b, findL2Entry(b, "compressed"));
      b.fill(0, from + Math.floor((to - from) / 2), to);
    }, "compressed-zlib.qcow2"),
    s("compressed-beyond-eof", "a compressed descriptor points past the end of the file", q(0, 0, 2, 1), (b) => {
      put64(b, findL2Entry(b, "compressed"), (1n << 62n) | (1n << 28n));
    }, "compressed-zlib.qcow2"),
    s("compressed-zstd-garbage", "a compressed cluster's zstd frame is overwritten with 0xff", q(0, 0, 0, 1), (b) => {
      const [from, to] = compressedRange(b, findL2Entry(b, "compressed"));
      b.fill(0xff, from, to);
    }, "compressed-zstd.qcow2"),
    s("extl2-alloc-and-zero", "an extended L2 entry marks subcluster 0 both allocated and zero", READ_FAILS, (b, L) => {
      const l2off = Number(entry(b, L.l1Offset) & OFFSET_MASK);
      const bitmap = b.readUInt32BE(l2off + 12);
      b.writeUInt32BE((bitmap | 1) >>> 0, l2off + 12);
      b.writeUInt32BE((b.readUInt32BE(l2off + 8) | 1) >>> 0, l2off + 8);
    }, "extended-l2.qcow2"),
    s("extl2-alloc-bits-unallocated", "an unallocated extended L2 entry has allocation bits", READ_FAILS, (b, L) => {
      const l2off = Number(entry(b, L.l1Offset) & OFFSET_MASK);
      b.writeUInt32BE(0xffff, l2off + 16 * 2 + 12);
    }, "extended-l2.qcow2"),
    s("snapshot-l1-size-huge", "the first snapshot's l1_size is 0x7fffffff", CORRUPT, (b, L) => void b.writeUInt32BE(0x7fffffff, L.snapshotsOffset + 8), "snapshots.qcow2"),
    s("snapshot-l1-unaligned", "the first snapshot's L1 table offset is not cluster aligned", CORRUPT, (b, L) => put64(b, L.snapshotsOffset, entry(b, L.snapshotsOffset) + 8n), "snapshots.qcow2"),
    s("snapshot-extra-data-huge", "the first snapshot's extra_data_size is 0xffff0000", FAIL_ALL, (b, L) => void b.writeUInt32BE(0xffff0000, L.snapshotsOffset + 36), "snapshots.qcow2"),
    s("snapshot-id-len-huge", "the first snapshot's id and name lengths run far past the table", CORRUPT, (b, L) => {
      b.writeUInt16BE(0xffff, L.snapshotsOffset + 12);
      b.writeUInt16BE(0xffff, L.snapshotsOffset + 14);
    }, "snapshots.qcow2"),
  ];
}

/** Truncations of the 4 KiB-cluster sample at points inside each structure, and one of a compressed image. */
function truncationSpecs(): Spec[] {
  const src = readFileSync(join(SAMPLE_IMAGES, B));
  const L = layout(src);
  const l2 = pointedTables(src, L.l1Offset, L.l1Size)[0]!;
  const rb = pointedTables(src, L.reftableOffset, L.clusterSize / 8)[0]!;
  // QEMU reads past the end of the file as zeroes: most truncations open, and check finds the damage.
  const points: [string, number, QemuVerdict][] = [
    ["empty", 0, FAIL_ALL],
    ["1", 1, FAIL_ALL],
    ["50", 50, FAIL_ALL],
    ["103", 103, FAIL_ALL],
    ["111", 111, CORRUPT],
    ["512", 512, CORRUPT],
    ["in-reftable", L.reftableOffset + 4, CORRUPT],
    ["in-refblock", rb + 100, OPENS],
    ["in-l1", L.l1Offset + 4, CORRUPT],
    ["in-l2", l2 + 8, CORRUPT],
    ["half", Math.floor(src.length / 2), CORRUPT],
    ["last-byte", src.length - 1, OPENS],
  ];
  const specs: Spec[] = points.map(([tag, at, qemu]) => ({
    name: `truncated-${tag}`,
    source: B,
    why: `file cut to ${at} bytes`,
    qemu,
    edit: (b: Buffer) => b.subarray(0, at),
  }));
  specs.push({
    name: "truncated-in-compressed",
    source: "compressed-zlib.qcow2",
    why: "file cut in the middle of the last compressed cluster",
    qemu: q(0, 0, 2, 1),
    edit: (b: Buffer) => {
      const [from, to] = compressedRange(b, findL2Entry(b, "compressed"));
      return b.subarray(0, Math.max(from + 1, Math.min(b.length - 1, from + Math.floor((to - from) / 2))));
    },
  });
  return specs;
}

function writeSpec(dir: string, spec: Spec): BadCase {
  const src = readFileSync(join(SAMPLE_IMAGES, spec.source));
  const out = Buffer.from(src);
  const replaced = spec.edit(out, layout(src));
  const bytes = replaced ?? out;
  if (bytes.equals(src)) throw new Error(`corpus: ${spec.name} did not change ${spec.source}`);
  const path = join(dir, `${spec.name}.qcow2`);
  writeFileSync(path, bytes);
  return finish(spec.name, path, spec.source, spec.why, spec.qemu, spec.stricter);
}

function finish(name: string, path: string, source: string, why: string, qemu: QemuVerdict | null, stricter: Partial<BadCase["expect"]> = {}): BadCase {
  const infoFails = qemu !== null && qemu.info !== 0;
  const mapFails = qemu !== null && qemu.map !== 0;
  const convertFails = qemu !== null && qemu.convert !== 0;
  return {
    name,
    path,
    source,
    why,
    qemu,
    expect: {
      info: infoFails ? "error" : "either",
      map: mapFails ? "error" : "either",
      dump: "either",
      export: convertFails ? "error" : "either",
      ...stricter,
    },
  };
}

/** Backing-file cases: each lives in its own directory with the files its chain names. */
function backingCases(dir: string): BadCase[] {
  const cases: BadCase[] = [];
  const top = readFileSync(join(SAMPLE_IMAGES, "chain-top.qcow2"));
  const overlay = (name: string) => {
    const b = Buffer.from(top);
    setBackingName(b, name);
    return b;
  };
  const caseDir = (name: string) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const withChain = (d: string) => {
    copyFileSync(join(SAMPLE_IMAGES, "chain-mid.qcow2"), join(d, "chain-mid.qcow2"));
    copyFileSync(join(SAMPLE_IMAGES, "chain-base.raw"), join(d, "chain-base.raw"));
  };

  let d = caseDir("backing-self");
  writeFileSync(join(d, "self.qcow2"), overlay("self.qcow2"));
  cases.push(finish("backing-self", join(d, "self.qcow2"), "chain-top.qcow2", "the backing file is the image itself", q(0, "hang", "hang", "hang")));

  d = caseDir("backing-loop");
  writeFileSync(join(d, "a.qcow2"), overlay("b.qcow2"));
  writeFileSync(join(d, "b.qcow2"), overlay("a.qcow2"));
  cases.push(finish("backing-loop", join(d, "a.qcow2"), "chain-top.qcow2", "a.qcow2 -> b.qcow2 -> a.qcow2", q(0, "hang", "hang", "hang")));

  d = caseDir("backing-deep");
  withChain(d);
  const depth = 70;
  for (let i = 0; i < depth; i++) {
    const next = i + 1 < depth ? `deep-${String(i + 1).padStart(2, "0")}.qcow2` : "chain-mid.qcow2";
    writeFileSync(join(d, `deep-${String(i).padStart(2, "0")}.qcow2`), overlay(next));
  }
  cases.push(
    finish("backing-deep", join(d, "deep-00.qcow2"), "chain-top.qcow2", `${depth} qcow2 overlays over chain-mid.qcow2 and chain-base.raw: deeper than qcowdbg's chain limit`,
      OPENS, { map: "error", export: "error" }),
  );

  d = caseDir("backing-json");
  writeFileSync(join(d, "json.qcow2"), overlay('json:{"driver":"raw","file":{"driver":"file","filename":"/etc/hostname"}}'));
  cases.push(
    finish("backing-json", join(d, "json.qcow2"), "chain-top.qcow2", "the backing name is a json: pseudo-protocol that points at a host file",
      q(0, 1, 1, 1), { map: "error", export: "error" }),
  );

  d = caseDir("backing-missing");
  writeFileSync(join(d, "orphan.qcow2"), overlay("no-such-file.qcow2"));
  cases.push(finish("backing-missing", join(d, "orphan.qcow2"), "chain-top.qcow2", "the backing file does not exist", q(0, 1, 1, 1)));

  d = caseDir("backing-directory");
  writeFileSync(join(d, "dir.qcow2"), overlay("."));
  cases.push(finish("backing-directory", join(d, "dir.qcow2"), "chain-top.qcow2", "the backing file name is a directory", q(0, 1, 1, 1)));

  d = caseDir("backing-format-unknown");
  withChain(d);
  const unknown = Buffer.from(top);
  const ext = firstExtension(unknown);
  if (unknown.readUInt32BE(ext) !== 0xe2792aca) throw new Error("corpus: chain-top has no backing format extension first");
  unknown.write("bogus", ext + 8, "latin1");
  writeFileSync(join(d, "fmt.qcow2"), unknown);
  cases.push(finish("backing-format-unknown", join(d, "fmt.qcow2"), "chain-top.qcow2", "the backing format extension names format 'bogus'", q(0, 1, 1, 1)));

  d = caseDir("data-file-missing");
  copyFileSync(join(SAMPLE_IMAGES, "data-file.qcow2"), join(d, "data-file.qcow2"));
  cases.push(finish("data-file-missing", join(d, "data-file.qcow2"), "data-file.qcow2", "the external data file data-file.data is not there", q(0, 1, 1, 1)));

  return cases;
}

/** Seeded random byte flips inside metadata clusters of a few samples. */
function flipCases(dir: string, count: number, seed: number): BadCase[] {
  const sources = ["cluster-4k.qcow2", "compressed-zlib.qcow2", "snapshots.qcow2", "extended-l2.qcow2", "bitmaps.qcow2", "refcount-1.qcow2", "v2-compat010.qcow2", "zero-discard.qcow2"];
  const bytes = sources.map((s) => readFileSync(join(SAMPLE_IMAGES, s)));
  const ranges = bytes.map(metadataRanges);
  const rand = prng(seed);
  const pick = (n: number) => Math.floor(rand() * n);
  const cases: BadCase[] = [];
  for (let i = 0; i < count; i++) {
    const k = i % sources.length;
    const b = Buffer.from(bytes[k]!);
    const flips: string[] = [];
    const n = 1 + pick(3);
    for (let j = 0; j < n; j++) {
      // Half the flips land in the header's first 128 bytes, where every byte is a field.
      const [from, to] = rand() < 0.5 ? [0, 128] : ranges[k]![pick(ranges[k]!.length)]!;
      const at = from + pick(to - from);
      const mask = 1 + pick(255);
      b[at] = b[at]! ^ mask;
      flips.push(`0x${at.toString(16)}^0x${mask.toString(16)}`);
    }
    const name = `flip-${String(i).padStart(3, "0")}`;
    const path = join(dir, `${name}.qcow2`);
    writeFileSync(path, b);
    cases.push(finish(name, path, sources[k]!, `seed ${seed}: bytes ${flips.join(" ")}`, null));
  }
  return cases;
}

/** Writes the corpus into `dir` (which must exist) and describes every case. Deterministic for given options. */
export function buildCorpus(dir: string, opts: CorpusOptions = {}): BadCase[] {
  const specs = [...headerSpecs(), ...tableSpecs(), ...truncationSpecs()];
  return [
    ...specs.map((s) => writeSpec(dir, s)),
    ...backingCases(dir),
    ...flipCases(dir, opts.flips ?? 200, opts.seed ?? 0x9c0d),
  ];
}
