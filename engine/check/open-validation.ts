// What qemu-img check does before checking: qcow2_do_open() in check mode (BDRV_O_CHECK, read-only), with its
// refusals worded as QEMU words them ("Could not open 'x': <reason>"), plus the tables it keeps in memory
// (active L1, refcount table) and the header extensions the check needs (crypto header, bitmaps, data file).
import * as fs from "node:fs";
import * as path from "node:path";
import { readU64, u32, type U64 } from "../format/bytes.js";
import {
  AUTOCLEAR_BITMAPS,
  AUTOCLEAR_DATA_FILE_RAW,
  INCOMPAT_COMPRESSION,
  INCOMPAT_DATA_FILE,
  INCOMPAT_EXTL2,
  INCOMPAT_KNOWN_MASK,
  QCOW2_MAGIC,
  headerOf,
  readHeaderFields,
} from "../format/header.js";
import { EXT_BACKING_FORMAT, EXT_BITMAPS, EXT_CRYPTO, EXT_DATA_FILE, EXT_FEATURE_TABLE, walkExtensions } from "../format/extensions.js";
import type { Qcow2Header } from "../format/header.js";
import type { Storage } from "../storage/storage.js";
import { failsToRead, refcountMax, type CheckGeometry, type CheckMessageSink } from "./check-context.js";

/** qemu-img could not open the image; `reason` is QEMU's message after "Could not open 'FILE': ". */
export class QemuOpenError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`Could not open '${file}': ${reason}`);
    this.name = "QemuOpenError";
  }
}

const QCOW_HEADER_SIZE = 112;
const MAX_L1_BYTES = 0x2000000;
const MAX_REFTABLE_BYTES = 0x800000;
const MAX_BITMAPS = 65535;
const MAX_BITMAP_DIRECTORY_SIZE = 1024 * MAX_BITMAPS;

/** INT64_MAX - bytes >= offset, exactly (qcow2_validate_table() compares as unsigned 64-bit). */
export function fitsInt64(offset: U64, bytes: number): boolean {
  return (BigInt(offset.hi >>> 0) << 32n) + BigInt(offset.lo >>> 0) <= 2n ** 63n - 1n - BigInt(bytes);
}

export { readU64, type U64 };

export interface OpenedForCheck {
  file: string;
  fileSize: number;
  header: Qcow2Header;
  g: CheckGeometry;
  /** floor(virtual size / 512), as bs->total_sectors (approximate above 2^53 bytes). */
  totalSectors: number;
  /** Clusters the virtual disk spans (BlockFragInfo.total_clusters). */
  totalClusters: number;
  l1TableOffset: U64;
  /** Active L1 table as read at open (l1_size * 8 bytes). */
  l1: Uint8Array;
  reftableOffset: U64;
  /** Refcount table as read at open (refcount_table_clusters * cluster_size bytes). */
  reftable: Uint8Array;
  /** Raw snapshot table pointer from the header (check mode re-reads and validates it). */
  nbSnapshots: number;
  snapshotsOffset: U64;
  crypto?: { offset: number; length: number; at: U64 };
  bitmaps?: { nbBitmaps: number; directoryOffset: number; directorySize: number; directory: U64 };
  dataFile?: string;
  backingFile?: string;
}

export interface OpenOptions {
  /** Whether a path exists (backing file, external data file); QEMU opens them and fails if they are missing. */
  exists?: (p: string) => boolean;
  /**
   * Check an encrypted image without its key. qemu-img cannot (it opens the encryption layer and wants
   * encrypt.key-secret); the check itself never needs the key.
   */
  withoutKey?: boolean;
}

/** BDRV_MAX_LENGTH: INT64_MAX aligned down to BDRV_MAX_ALIGNMENT (1 GiB). */
const BDRV_MAX_LENGTH = 2n ** 63n - 2n ** 30n;

/** What file-posix opens as a 'file': regular files and devices; not directories, FIFOs or sockets. */
function regularOrDevice(p: string): boolean {
  try {
    const st = fs.statSync(p);
    return st.isFile() || st.isBlockDevice() || st.isCharacterDevice();
  } catch {
    return true;
  }
}

function defaultExists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch {
    return false;
  }
}

function readAt(storage: Storage, offset: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  if (length > 0 && offset < storage.size()) storage.read(b, offset);
  return b;
}

/** qcow2_validate_table(): the size limit first, then the offset (signed 64-bit range, cluster alignment). */
function validateTable(offset: U64, entries: number, entryLen: number, maxBytes: number, clusterSize: number, name: string): string | undefined {
  if (entries > Math.floor(maxBytes / entryLen)) return `${name} too large`;
  if (!fitsInt64(offset, entries * entryLen) || (offset.lo & (clusterSize - 1)) !== 0) return `${name} offset invalid`;
  return undefined;
}

function featureTableNames(data: Uint8Array, mask: bigint): string {
  const names: string[] = [];
  let rest = mask;
  for (let i = 0; i + 48 <= data.length; i += 48) {
    const nameBytes = data.subarray(i + 2, i + 48);
    if (nameBytes[0] === 0) break;
    if (data[i] !== 0) continue;
    const bit = BigInt(data[i + 1]!);
    if (bit < 64n && (rest & (1n << bit)) !== 0n) {
      const end = nameBytes.indexOf(0);
      names.push(Buffer.from(nameBytes.subarray(0, end < 0 ? 46 : end)).toString("latin1"));
      rest &= ~(1n << bit);
    }
  }
  if (rest !== 0n) names.push(`Unknown incompatible feature: ${rest.toString(16)}`);
  return names.join(", ");
}

/**
 * Opens `storage` as qemu-img check does (read-only, check mode) and returns what the check needs.
 * Throws QemuOpenError with QEMU's reason when QEMU refuses to open the image.
 */
export function openForCheck(storage: Storage, file: string, emit: CheckMessageSink, opts: OpenOptions = {}): OpenedForCheck {
  const exists = opts.exists ?? defaultExists;
  const fail = (reason: string): never => {
    throw new QemuOpenError(file, reason);
  };
  const fileSize = storage.size();
  const raw = readHeaderFields(readAt(storage, 0, QCOW_HEADER_SIZE));
  if (fileSize < QCOW_HEADER_SIZE || raw.magic !== QCOW2_MAGIC) fail("Image is not in qcow2 format");
  const version = raw.version;
  if (version < 2 || version > 3) fail(`Unsupported qcow2 version ${version}`);
  const clusterBits = raw.clusterBits;
  if (clusterBits < 9 || clusterBits > 21) fail(`Unsupported cluster size: 2^${clusterBits}`);
  const clusterSize = 2 ** clusterBits;

  const { incompatibleFeatures: incompat, autoclearFeatures: autoclear, refcountOrder, headerLength } = raw;
  if (version === 3 && headerLength < 104) fail("qcow2 header too short");
  if (headerLength > clusterSize) fail("qcow2 header exceeds cluster size");
  const backingFileOffset = raw.backingFileOffset;
  if (backingFileOffset.n > clusterSize) fail("Invalid backing file offset");
  const extEnd = backingFileOffset.n !== 0 ? backingFileOffset.n : clusterSize;

  const compressionType = raw.compressionType;
  if (compressionType > 1) fail(`qcow2: unknown compression type: ${compressionType}`);
  const hasCompressionBit = (incompat & BigInt(INCOMPAT_COMPRESSION)) !== 0n;
  if (compressionType === 0 && hasCompressionBit) fail("qcow2: Compression type incompatible feature bit must not be set");
  if (compressionType !== 0 && !hasCompressionBit) fail("qcow2: Compression type incompatible feature bit must be set");

  const cluster0 = readAt(storage, 0, clusterSize);
  const unknownIncompat = incompat & ~BigInt(INCOMPAT_KNOWN_MASK);
  if (unknownIncompat !== 0n) {
    // QEMU reads the feature table with errors ignored; an area with any error gives no names here.
    const walk = walkExtensions(cluster0, headerLength, extEnd);
    const bad = walk.overrun !== undefined || walk.records.some((r) => r.type === EXT_BACKING_FORMAT && r.length >= 16);
    const table = bad ? new Uint8Array(0) : ([...walk.records].reverse().find((r) => r.type === EXT_FEATURE_TABLE)?.data ?? new Uint8Array(0));
    fail(`Unsupported qcow2 feature(s): ${featureTableNames(table, unknownIncompat)}`);
  }

  const extendedL2 = (incompat & BigInt(INCOMPAT_EXTL2)) !== 0n;
  if (extendedL2 && clusterSize / 32 < 512) fail(`Unsupported subcluster size: ${clusterSize / 32}`);
  if (refcountOrder > 6) fail("Reference count entry width too large; may not exceed 64 bits");
  const cryptMethod = raw.cryptMethod;
  const l2EntryBytes = extendedL2 ? 16 : 8;
  const l2Bits = clusterBits - (extendedL2 ? 4 : 3);
  const size = raw.size;
  const totalSectors = Math.floor(size.n / 512);
  // BlockFragInfo.total_clusters, exact even for sizes past 2^53 (it stays below 2^41 for sizes QEMU opens).
  const totalClusters = Number((((((BigInt(size.hi) << 32n) | BigInt(size.lo)) / 512n) * 512n) + BigInt(clusterSize) - 1n) / BigInt(clusterSize));

  const reftableOffset = raw.refcountTableOffset;
  const reftableClusters = raw.refcountTableClusters;
  const reftableErr = validateTable(reftableOffset, reftableClusters, clusterSize, MAX_REFTABLE_BYTES, clusterSize, "Reference count table");
  if (reftableErr) fail(reftableErr);

  const l1TableOffset = raw.l1TableOffset;
  const l1Size = raw.l1Size;
  const l1Err = validateTable(l1TableOffset, l1Size, 8, MAX_L1_BYTES, clusterSize, "Active L1 table");
  if (l1Err) fail(l1Err);
  // size_to_l1() in uint64 arithmetic (it wraps for sizes near 2^64, as in QEMU).
  const shift = BigInt(clusterBits + l2Bits);
  const sizeBig = (BigInt(size.hi) << 32n) | BigInt(size.lo);
  const l1VmStateIndex = BigInt.asUintN(64, sizeBig + (1n << shift) - 1n) >> shift;
  if (l1VmStateIndex > 0x7fffffffn) fail("Image is too big");
  if (BigInt(l1Size) < l1VmStateIndex) fail("L1 table is too small");
  if (l1Size > 0 && failsToRead(l1TableOffset.hi, l1TableOffset.lo, l1Size * 8)) fail("Could not read L1 table: Input/output error");
  const l1 = readAt(storage, l1TableOffset.n, l1Size * 8);
  if (cryptMethod > 2) fail(`Unsupported encryption method ${cryptMethod | 0}`);
  if (reftableClusters > 0 && failsToRead(reftableOffset.hi, reftableOffset.lo, reftableClusters * clusterSize))
    fail("Could not initialize refcount handling: Input/output error");
  const reftable = readAt(storage, reftableOffset.n, reftableClusters * clusterSize);

  // qcow2_read_extensions(): each extension is validated as the walk reaches it, so the first bad one decides.
  const out: Partial<OpenedForCheck> = {};
  const walk = walkExtensions(cluster0, headerLength, extEnd);
  let dataFile: string | undefined;
  for (const { type, length: len, data } of walk.records) {
    if (type === EXT_BACKING_FORMAT) {
      if (len >= 16) fail(`ERROR: ext_backing_format: len=${len} too large (>=16)`);
    } else if (type === EXT_DATA_FILE) {
      const nul = data.indexOf(0);
      dataFile = Buffer.from(nul < 0 ? data : data.subarray(0, nul)).toString("utf8");
    } else if (type === EXT_CRYPTO) {
      if (cryptMethod !== 2) fail("CRYPTO header extension only expected with LUKS encryption method");
      if (data.length !== 16) fail(`CRYPTO header extension size ${data.length}, but expected size 16`);
      const off = readU64(data, 0);
      const len = readU64(data, 8);
      if ((off.lo & (clusterSize - 1)) !== 0)
        fail(`Encryption header offset '${BigInt(off.hi) * 0x100000000n + BigInt(off.lo)}' is not a multiple of cluster size '${clusterSize}'`);
      out.crypto = { offset: off.n, length: len.n, at: off };
      // Opening the LUKS header needs the key; the check itself does not.
      if (!opts.withoutKey) fail("Parameter 'encrypt.key-secret' is required for cipher");
    } else if (type === EXT_BITMAPS) {
      if (data.length !== 24) fail("bitmaps_ext: Invalid extension length");
      if ((autoclear & BigInt(AUTOCLEAR_BITMAPS)) === 0n) {
        emit(
          version < 3
            ? "warning: This qcow2 v2 image contains bitmaps, but they may have been modified by a program without persistent bitmap support; so now they must all be considered inconsistent"
            : "warning: a program lacking bitmap support modified this file, so all bitmaps are now considered inconsistent",
          "report",
        );
        // error_printf() without a newline: QEMU's next stderr line continues this one.
        emit("Some clusters may be leaked, run 'qemu-img check -r' on the image file to fix.", "partial");
        continue;
      }
      if (u32(data, 4) !== 0) fail("bitmaps_ext: Reserved field is not zero");
      const nb = u32(data, 0);
      const dirSize = readU64(data, 8);
      const dirOffset = readU64(data, 16);
      if (nb > MAX_BITMAPS) fail(`bitmaps_ext: Image has ${nb} bitmaps, exceeding the QEMU supported maximum of ${MAX_BITMAPS}`);
      if (nb === 0) fail("found bitmaps extension with zero bitmaps");
      if ((dirOffset.lo & (clusterSize - 1)) !== 0) fail("bitmaps_ext: invalid bitmap directory offset");
      if (dirSize.n > MAX_BITMAP_DIRECTORY_SIZE)
        fail(`bitmaps_ext: bitmap directory size (${BigInt(dirSize.hi) * 0x100000000n + BigInt(dirSize.lo)}) exceeds the maximum supported size (${MAX_BITMAP_DIRECTORY_SIZE})`);
      out.bitmaps = { nbBitmaps: nb, directoryOffset: dirOffset.n, directorySize: dirSize.n, directory: dirOffset };
    }
  }
  if (walk.overrun) fail("Header extension too large");

  const hasDataFile = (incompat & BigInt(INCOMPAT_DATA_FILE)) !== 0n;
  if (hasDataFile) {
    if (dataFile === undefined) fail("'data-file' is required for this image");
    // QEMU opens the data file name as given, relative to the working directory.
    if (!exists(dataFile!)) fail(`Could not open '${dataFile}': No such file or directory`);
    out.dataFile = dataFile;
  } else if ((autoclear & BigInt(AUTOCLEAR_DATA_FILE_RAW)) !== 0n) {
    fail("data-file-raw requires a data file");
  }
  if (cryptMethod === 1 && !opts.withoutKey) fail("Parameter 'encrypt.key-secret' is required for cipher");
  if (cryptMethod === 2 && !out.crypto) fail(`Missing CRYPTO header for crypt method ${cryptMethod}`);

  if (backingFileOffset.n !== 0) {
    const len = raw.backingFileSize;
    if (len > Math.min(1023, clusterSize - backingFileOffset.n) || len >= 4096) fail("Backing file name too long");
    const rawName = Buffer.from(cluster0.subarray(backingFileOffset.n, backingFileOffset.n + len)).toString("utf8");
    // A C string in QEMU: cut at the first NUL; empty means no backing file.
    const name = rawName.includes("\0") ? rawName.slice(0, rawName.indexOf("\0")) : rawName;
    out.backingFile = name;
    // bdrv_refresh_total_sectors() runs once the driver opened, before the backing file: sizes near 2^64 pass
    // size_to_l1() (it wraps) and fail here.
    if (sizeBig > BDRV_MAX_LENGTH) fail("Could not refresh total sector count: File too large");
    // path_has_protocol(): a ':' before any '/'.
    const proto = /^([^/:]*):/.exec(name)?.[1];
    if (name !== "" && proto !== undefined && proto !== "file") {
      if (proto === "json") {
        try {
          JSON.parse(name.slice(5));
        } catch (e) {
          fail(`Could not open backing file: Could not parse the JSON options: JSON parse error, ${(e as Error).message}`);
        }
        fail("Could not open backing file: json: backing file options are not opened by qcowdbg (qemu-img would open them)");
      }
      // nbd:, http:, ssh:, ... need a network server qemu-img would connect to; without one it cannot open.
      fail(`Could not open backing file: protocol '${proto}' is not opened by qcowdbg (qemu-img would connect to '${name}')`);
    }
    if (name !== "") {
      const plain = proto === "file" ? name.slice(5) : name;
      // path_combine(): relative names resolve against the directory of the image.
      const full = path.isAbsolute(plain) || !file.includes("/") ? plain : file.slice(0, file.lastIndexOf("/") + 1) + plain;
      if (!exists(full)) fail(`Could not open backing file: Could not open '${full}': No such file or directory`);
      if (!regularOrDevice(full)) fail(`Could not open backing file: 'file' driver requires '${full}' to be a regular file`);
    }
  } else if (sizeBig > BDRV_MAX_LENGTH) {
    fail("Could not refresh total sector count: File too large");
  }

  const header: Qcow2Header = headerOf(raw);
  return {
    ...out,
    file,
    fileSize,
    header,
    g: {
      clusterBits,
      clusterSize,
      extendedL2,
      l2EntryBytes,
      l2Entries: clusterSize / l2EntryBytes,
      refcountOrder,
      refblockBits: clusterBits - (refcountOrder - 3),
      refcountMax: refcountMax(refcountOrder),
      hasDataFile,
    },
    totalSectors,
    totalClusters,
    l1TableOffset,
    l1,
    reftableOffset,
    reftable,
    nbSnapshots: raw.nbSnapshots,
    snapshotsOffset: raw.snapshotsOffset,
  };
}
