// The qcow2 header (v2 and v3): decode with every field checked against QEMU's limits, and encode.
// Decoding never allocates more than the header itself; table sizes are validated before anyone reads tables.
import { readU64, u32, u64big, put32, put64, put64hl, type U64 } from "./bytes.js";
import { FormatError } from "./format-error.js";

export const QCOW2_MAGIC = 0x514649fb;
export const V2_HEADER_LENGTH = 72;
export const V3_HEADER_LENGTH = 104;

export const INCOMPAT_DIRTY = 1;
export const INCOMPAT_CORRUPT = 2;
export const INCOMPAT_DATA_FILE = 4;
export const INCOMPAT_COMPRESSION = 8;
export const INCOMPAT_EXTL2 = 16;
export const INCOMPAT_KNOWN_MASK = 0x1f;
export const COMPAT_LAZY_REFCOUNTS = 1;
export const AUTOCLEAR_BITMAPS = 1;
export const AUTOCLEAR_DATA_FILE_RAW = 2;

export const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;
export const MAX_SNAPSHOTS = 65536;
/** QEMU refuses virtual sizes above 2^61 (QCOW_MAX_IMAGE_SIZE 32 EiB); we must also stay below 2^53. */
export const MAX_VIRTUAL_SIZE = 2 ** 53 - 2 ** 30;

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  /** Feature bitmaps as two halves: only the low 32 bits carry defined features today. */
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
}

/** The 64-bit fields, which a raw header keeps as exact halves. */
type U64Field = "backingFileOffset" | "size" | "l1TableOffset" | "refcountTableOffset" | "snapshotsOffset";

/**
 * The header's fields as they lie on disk, before any check: the one reader behind decodeHeader (open, dump,
 * inspect) and openForCheck (qemu-img check's open, which words its refusals as QEMU does). 64-bit fields keep
 * exact halves, so either caller can judge values past 2^53. `buf` must hold 72 bytes (104 for version 3, whose
 * fields a version 2 header leaves at their v2 meaning: no features, 16-bit refcounts, 72 bytes long).
 */
export type RawHeader = Omit<Qcow2Header, U64Field | "version"> &
  Record<U64Field, U64> & {
    magic: number;
    /** Any number: callers refuse what is not 2 or 3, each in its own words. */
    version: number;
  };

export function readHeaderFields(buf: Uint8Array): RawHeader {
  const version = u32(buf, 4);
  const v3 = version === 3;
  const headerLength = v3 ? u32(buf, 100) : V2_HEADER_LENGTH;
  return {
    magic: u32(buf, 0),
    version,
    backingFileOffset: readU64(buf, 8),
    backingFileSize: u32(buf, 16),
    clusterBits: u32(buf, 20),
    size: readU64(buf, 24),
    cryptMethod: u32(buf, 32),
    l1Size: u32(buf, 36),
    l1TableOffset: readU64(buf, 40),
    refcountTableOffset: readU64(buf, 48),
    refcountTableClusters: u32(buf, 56),
    nbSnapshots: u32(buf, 60),
    snapshotsOffset: readU64(buf, 64),
    incompatibleFeatures: v3 ? u64big(buf, 72) : 0n,
    compatibleFeatures: v3 ? u64big(buf, 80) : 0n,
    autoclearFeatures: v3 ? u64big(buf, 88) : 0n,
    refcountOrder: v3 ? u32(buf, 96) : 4,
    headerLength,
    compressionType: v3 && headerLength > 104 && buf.length > 104 ? buf[104]! : 0,
  };
}

/** The decoded header of raw fields (64-bit ones as numbers, rounded past 2^53: callers judged them first). */
export function headerOf(r: RawHeader): Qcow2Header {
  return {
    version: r.version as 2 | 3,
    backingFileOffset: r.backingFileOffset.n,
    backingFileSize: r.backingFileSize,
    clusterBits: r.clusterBits,
    size: r.size.n,
    cryptMethod: r.cryptMethod,
    l1Size: r.l1Size,
    l1TableOffset: r.l1TableOffset.n,
    refcountTableOffset: r.refcountTableOffset.n,
    refcountTableClusters: r.refcountTableClusters,
    nbSnapshots: r.nbSnapshots,
    snapshotsOffset: r.snapshotsOffset.n,
    incompatibleFeatures: r.incompatibleFeatures,
    compatibleFeatures: r.compatibleFeatures,
    autoclearFeatures: r.autoclearFeatures,
    refcountOrder: r.refcountOrder,
    headerLength: r.headerLength,
    compressionType: r.compressionType,
  };
}

export interface HeaderGeometry {
  clusterSize: number;
  extendedL2: boolean;
  /** Bytes per L2 entry: 8, or 16 with extended L2. */
  l2EntryBytes: number;
  l2Entries: number;
  refcountBits: number;
  refblockEntries: number;
}

export function geometry(h: Qcow2Header): HeaderGeometry {
  const clusterSize = 2 ** h.clusterBits;
  const extendedL2 = (h.incompatibleFeatures & BigInt(INCOMPAT_EXTL2)) !== 0n;
  const l2EntryBytes = extendedL2 ? 16 : 8;
  const refcountBits = 2 ** h.refcountOrder;
  return {
    clusterSize,
    extendedL2,
    l2EntryBytes,
    l2Entries: clusterSize / l2EntryBytes,
    refcountBits,
    refblockEntries: (clusterSize * 8) / refcountBits,
  };
}

/** Minimum number of L1 entries QEMU requires for a virtual size. */
export function l1SizeFor(size: number, clusterBits: number, l2EntryBytes: number): number {
  const l2Entries = 2 ** clusterBits / l2EntryBytes;
  const clusters = Math.ceil(size / 2 ** clusterBits);
  return Math.ceil(clusters / l2Entries);
}

/**
 * Decodes and validates a header. `buf` holds at least the first cluster or the whole file if smaller;
 * `fileSize` bounds the table offsets (tables beyond EOF are reported by the read path, as QEMU does lazily,
 * except where QEMU refuses at open).
 */
export function decodeHeader(buf: Uint8Array, file: string): Qcow2Header {
  const err = (field: string, off: number, detail: string) => new FormatError("header", field, off, file, detail);
  if (buf.length < V2_HEADER_LENGTH) {
    if (buf.length < 4 || u32(buf, 0) !== QCOW2_MAGIC) throw err("magic", 0, "not a qcow2 image (file too short)");
    throw err("version", 4, `truncated header: ${buf.length} bytes, need at least ${V2_HEADER_LENGTH}`);
  }
  // A short v3 buffer reads as zeros past its end; the length check below refuses it before anything uses them.
  const raw = readHeaderFields(buf);
  const magic = raw.magic;
  if (magic !== QCOW2_MAGIC) throw err("magic", 0, `not a qcow2 image (magic 0x${magic.toString(16)}, want 0x${QCOW2_MAGIC.toString(16)})`);
  const version = raw.version;
  if (version !== 2 && version !== 3) throw err("version", 4, `unsupported qcow2 version ${version}`);

  // Field order as before: the first 64-bit field past 2^53 names itself.
  const num = (field: string, off: number, v: U64): void => {
    if (v.hi >= 0x200000) throw err(field, off, "value >= 2^53 is out of range");
  };
  num("backing_file_offset", 8, raw.backingFileOffset);
  num("size", 24, raw.size);
  num("l1_table_offset", 40, raw.l1TableOffset);
  num("refcount_table_offset", 48, raw.refcountTableOffset);
  num("snapshots_offset", 64, raw.snapshotsOffset);
  const h = headerOf(raw);
  if (version === 3) {
    if (buf.length < V3_HEADER_LENGTH) throw err("header_length", 100, `truncated v3 header: ${buf.length} bytes`);
    if (h.headerLength < V3_HEADER_LENGTH) throw err("header_length", 100, `${h.headerLength} is less than 104`);
    if (h.headerLength % 8 !== 0) throw err("header_length", 100, `${h.headerLength} is not a multiple of 8`);
    if (h.headerLength > 2 ** h.clusterBits || h.headerLength > buf.length)
      throw err("header_length", 100, `${h.headerLength} exceeds the first cluster or the file`);
  }

  if (h.clusterBits < 9 || h.clusterBits > 21) throw err("cluster_bits", 20, `${h.clusterBits} is outside 9..21 (512 B..2 MiB)`);
  const cs = 2 ** h.clusterBits;
  if (h.refcountOrder > 6) throw err("refcount_order", 96, `${h.refcountOrder} is greater than 6 (64-bit refcounts)`);
  if (h.size > MAX_VIRTUAL_SIZE) throw err("size", 24, `virtual size ${h.size} is too large`);
  if (h.cryptMethod > 2) throw err("crypt_method", 32, `unknown encryption method ${h.cryptMethod}`);
  if (h.cryptMethod === 2 && version === 2) throw err("crypt_method", 32, "LUKS encryption requires a version 3 image");

  const unknown = h.incompatibleFeatures & ~BigInt(INCOMPAT_KNOWN_MASK);
  if (unknown !== 0n) throw err("incompatible_features", 72, `unsupported incompatible feature bits 0x${unknown.toString(16)}`);
  const extL2 = (h.incompatibleFeatures & BigInt(INCOMPAT_EXTL2)) !== 0n;
  if (extL2 && h.clusterBits < 14) throw err("cluster_bits", 20, "extended L2 entries need clusters of at least 16 KiB");
  if ((h.incompatibleFeatures & BigInt(INCOMPAT_COMPRESSION)) !== 0n) {
    if (h.compressionType === 0) throw err("compression_type", 104, "compression type bit set but compression_type is deflate");
  } else if (h.compressionType !== 0) {
    throw err("compression_type", 104, `compression_type ${h.compressionType} without the incompatible compression bit`);
  }
  if (h.compressionType > 1) throw err("compression_type", 104, `unknown compression type ${h.compressionType}`);
  if ((h.autoclearFeatures & BigInt(AUTOCLEAR_DATA_FILE_RAW)) !== 0n && (h.incompatibleFeatures & BigInt(INCOMPAT_DATA_FILE)) === 0n) {
    // QEMU clears the bit silently on open (it is autoclear); not fatal.
  }

  if (h.backingFileOffset !== 0) {
    if (h.backingFileSize > 1023) throw err("backing_file_size", 16, `${h.backingFileSize} exceeds 1023 bytes`);
    if (h.backingFileOffset + h.backingFileSize > cs)
      throw err("backing_file_offset", 8, `backing file name (0x${h.backingFileOffset.toString(16)}+${h.backingFileSize}) lies outside cluster 0`);
  }

  const l2EntryBytes = extL2 ? 16 : 8;
  if (h.l1Size * 8 > MAX_L1_BYTES) throw err("l1_size", 36, `L1 table of ${h.l1Size} entries exceeds 32 MiB`);
  if (h.l1Size < l1SizeFor(h.size, h.clusterBits, l2EntryBytes))
    throw err("l1_size", 36, `${h.l1Size} entries cannot map the virtual size ${h.size}`);
  // QEMU (qcow2_validate_table) refuses an unaligned table offset even when the table is empty.
  if (h.l1TableOffset % cs !== 0) throw err("l1_table_offset", 40, `0x${h.l1TableOffset.toString(16)} is not cluster aligned`);
  if (h.l1Size > 0 && h.l1TableOffset + h.l1Size * 8 > 2 ** 53) throw err("l1_table_offset", 40, "table ends beyond 2^53");
  if (h.refcountTableClusters === 0) throw err("refcount_table_clusters", 56, "image has no refcount table");
  if (h.refcountTableClusters * cs > MAX_REFTABLE_BYTES) throw err("refcount_table_clusters", 56, `refcount table of ${h.refcountTableClusters} clusters exceeds 8 MiB`);
  if (h.refcountTableOffset % cs !== 0) throw err("refcount_table_offset", 48, `0x${h.refcountTableOffset.toString(16)} is not cluster aligned`);
  if (h.nbSnapshots > MAX_SNAPSHOTS) throw err("nb_snapshots", 60, `${h.nbSnapshots} snapshots exceed QEMU's limit of 65536`);
  if (h.snapshotsOffset % cs !== 0) throw err("snapshots_offset", 64, `0x${h.snapshotsOffset.toString(16)} is not cluster aligned`);
  return h;
}

export function hasIncompat(h: Qcow2Header, bit: number): boolean {
  return (h.incompatibleFeatures & BigInt(bit)) !== 0n;
}

/** Encodes the fixed part of the header (72 or header_length bytes). */
export function encodeHeader(h: Qcow2Header): Uint8Array {
  const len = h.version === 2 ? V2_HEADER_LENGTH : h.headerLength;
  const b = new Uint8Array(len);
  put32(b, 0, QCOW2_MAGIC);
  put32(b, 4, h.version);
  put64(b, 8, h.backingFileOffset);
  put32(b, 16, h.backingFileSize);
  put32(b, 20, h.clusterBits);
  put64(b, 24, h.size);
  put32(b, 32, h.cryptMethod);
  put32(b, 36, h.l1Size);
  put64(b, 40, h.l1TableOffset);
  put64(b, 48, h.refcountTableOffset);
  put32(b, 56, h.refcountTableClusters);
  put32(b, 60, h.nbSnapshots);
  put64(b, 64, h.snapshotsOffset);
  if (h.version === 3) {
    const big = (v: bigint, o: number) => put64hl(b, o, Number(v >> 32n), Number(v & 0xffffffffn));
    big(h.incompatibleFeatures, 72);
    big(h.compatibleFeatures, 80);
    big(h.autoclearFeatures, 88);
    put32(b, 96, h.refcountOrder);
    put32(b, 100, h.headerLength);
    if (len > 104) b[104] = h.compressionType;
  }
  return b;
}
