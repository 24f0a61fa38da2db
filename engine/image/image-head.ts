// What opening a qcow2 image reads and checks before any of its tables (qcow2_do_open's first part): the first
// cluster (header, extensions, backing file name), then the snapshot table and the crypto and bitmaps extensions.
// Qcow2Image opens through it, and `info`, which needs no table, uses it alone: the same checks in the same order,
// without loading the engine (start-up: info loads a fifth of the code it did).
import { decodeSnapshotTable, type Snapshot } from "../format/snapshot-table.js";
import { bitmapsConsistent, checkBitmapsExtension } from "../format/bitmaps.js";
import { u32 } from "../format/bytes.js";
import { decodeExtensions, type Extensions } from "../format/extensions.js";
import { FormatError } from "../format/format-error.js";
import { AUTOCLEAR_DATA_FILE_RAW, COMPAT_LAZY_REFCOUNTS, decodeHeader, geometry, hasIncompat, INCOMPAT_DATA_FILE, QCOW2_MAGIC, type HeaderGeometry, type Qcow2Header } from "../format/header.js";
import { checkCryptoExtension } from "../format/luks.js";
import type { Storage } from "../storage/storage.js";

/** What the first cluster says, checked. */
export interface ImageHead {
  header: Qcow2Header;
  geo: HeaderGeometry;
  ext: Extensions;
  /** The backing file name as stored (cut at a NUL), or null for none. */
  backingName: string | null;
  /** Lazy refcounts in effect (`lazyRefcounts` given, else the header's compatible feature bit). */
  lazyRefcounts: boolean;
}

/** The first cluster of the file (or its first 104 bytes when they are not a qcow2 header with a sane cluster size). */
export function readFirstCluster(file: Storage): Uint8Array {
  const head = new Uint8Array(Math.min(file.size(), 104));
  file.read(head, 0);
  if (head.length >= 24 && u32(head, 0) === QCOW2_MAGIC) {
    const bits = u32(head, 20);
    if (bits >= 9 && bits <= 21) {
      const first = new Uint8Array(Math.min(file.size(), 2 ** bits));
      file.read(first, 0);
      return first;
    }
  }
  return head;
}

/**
 * The header, geometry, extensions and backing name of `first` (readFirstCluster), and the checks that need nothing
 * else: lazy refcounts on a version 2 image (`lazyRefcounts` overrides the header's bit, as the engine option does)
 * and a refcount table ending past 2^53.
 */
export function decodeHead(first: Uint8Array, filename: string, lazyRefcounts?: boolean): ImageHead {
  const h = decodeHeader(first, filename);
  const geo = geometry(h);
  const extEnd = h.backingFileOffset !== 0 ? h.backingFileOffset : geo.clusterSize;
  const ext = decodeExtensions(first, h.headerLength, extEnd, filename);
  let backingName: string | null = null;
  if (h.backingFileOffset !== 0) {
    if (h.backingFileOffset + h.backingFileSize > first.length)
      throw new FormatError("header", "backing_file_offset", 8, filename, "backing file name lies beyond the end of the file");
    const raw = Buffer.from(first.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize)).toString("utf8");
    // QEMU keeps the name as a C string (cut at a NUL); an empty name means no backing file at all.
    const name = raw.includes("\0") ? raw.slice(0, raw.indexOf("\0")) : raw;
    if (name !== "") backingName = name;
  }
  const lazy = lazyRefcounts ?? (h.compatibleFeatures & BigInt(COMPAT_LAZY_REFCOUNTS)) !== 0n;
  if (lazy && h.version < 3) throw new FormatError("header", "compatible_features", 80, filename, "lazy refcounts require a version 3 image");
  if (h.refcountTableOffset + h.refcountTableClusters * geo.clusterSize > 2 ** 53)
    throw new FormatError("header", "refcount_table_offset", 48, filename, "refcount table ends beyond 2^53");
  return { header: h, geo, ext, backingName, lazyRefcounts: lazy };
}

/** An external data file: whether the header says so (and its name extension is there), and whether it is raw. */
export function dataFileOf(head: ImageHead, filename: string): { hasDataFile: boolean; dataFileRaw: boolean } {
  if (!hasIncompat(head.header, INCOMPAT_DATA_FILE)) return { hasDataFile: false, dataFileRaw: false };
  if (!head.ext.dataFile) throw new FormatError("header", "incompatible_features", 72, filename, "external data file bit set but no data file name extension");
  return { hasDataFile: true, dataFileRaw: (head.header.autoclearFeatures & BigInt(AUTOCLEAR_DATA_FILE_RAW)) !== 0n };
}

/**
 * What QEMU validates at open after the tables: the snapshot table, the crypto and the bitmaps extensions. Returns
 * the snapshots, and whether the image carries consistent persistent dirty bitmaps.
 */
export function checkHeadTables(head: Pick<ImageHead, "header" | "ext">, file: Storage, filename: string): { snapshots: Snapshot[]; persistentBitmaps: boolean } {
  const read = (buf: Uint8Array, off: number) => file.read(buf, off);
  const snapshots = decodeSnapshotTable(read, head.header, file.size(), filename);
  checkCryptoExtension(head.ext, head.header, filename);
  const bitmaps = checkBitmapsExtension(head.ext, head.header, filename);
  return { snapshots, persistentBitmaps: bitmaps !== undefined && bitmaps.nbBitmaps > 0 && bitmapsConsistent(head.header) };
}
