// `qemu-img info` for qcow2 and raw, as QEMU 7.2 builds it (bdrv_query_image_info, qcow2_get_specific_info) and
// prints it (qobject_to_json_pretty, bdrv_image_info_dump), plus qcowdbg's verbose view of every header field and
// extension. Images are opened without their backing files, as qemu-img info does.
import * as fs from "node:fs";
import { hex, type ReadAt, u32, u64big } from "../format/bytes.js";
import { bitmapsConsistent, checkBitmapsExtension, decodeBitmapDirectory, BITMAP_FLAG_AUTO, BITMAP_FLAG_IN_USE } from "../format/bitmaps.js";
import { EXTENSION_NAMES, EXT_BACKING_FORMAT, EXT_BITMAPS, EXT_CRYPTO, EXT_DATA_FILE, EXT_FEATURE_TABLE, featureNames } from "../format/extensions.js";
import { UnsupportedError } from "../format/format-error.js";
import { hasIncompat, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, QCOW2_MAGIC } from "../format/header.js";
import { checkCryptoExtension, decodeLuksHeader, luksInfo } from "../format/luks.js";
import type { Snapshot } from "../format/snapshot-table.js";
import { checkHeadTables, dataFileOf, decodeHead, readFirstCluster, type ImageHead } from "../image/image-head.js";
import { FileStorage } from "../storage/file-storage.js";
import type { Storage } from "../storage/storage.js";
import { qdictOrder, qemuJsonPretty, type QemuJsonValue } from "./qemu-json.js";
import { escapeControl } from "../format/terminal-text.js";
import { sizeToStr } from "../units/size-text.js";

export { formatG, sizeToStr } from "../units/size-text.js";

type JsonObject = { [key: string]: QemuJsonValue | undefined };

/** QAPI ImageInfo, keys in schema order (QDict output order is derived from it). */
export interface ImageInfo extends JsonObject {
  filename: string;
  format: string;
  "dirty-flag"?: boolean;
  "actual-size"?: number;
  "virtual-size": number;
  "cluster-size"?: number;
  encrypted?: boolean;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  "backing-filename-format"?: string;
  snapshots?: JsonObject[];
  "format-specific"?: JsonObject;
}

export interface InfoOptions {
  /** "qcow2" or "raw"; undefined = probe as qemu-img does. */
  format?: string;
  /** Add qcowdbg's header and extension details (text: verboseText; JSON: extra keys). */
  verbose?: boolean;
}

export interface InfoResult {
  info: ImageInfo;
  /** Every header field and extension, as text lines (qcow2 only; empty for raw). */
  details: string[];
}

// Magics of formats qemu-img would recognise but qcowdbg does not open: naming them beats calling them raw.
const OTHER_FORMATS: [string, Uint8Array][] = [
  ["vmdk", Buffer.from("KDMV", "latin1")],
  ["vpc", Buffer.from("conectix", "latin1")],
  ["vhdx", Buffer.from("vhdxfile", "latin1")],
  ["qed", Buffer.from("QED\0", "latin1")],
  ["luks", Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe])],
  ["vdi", Buffer.from("<<< Oracle VM VirtualBox Disk Image >>>", "latin1")],
  ["vdi", Buffer.from("<<< Sun VirtualBox Disk Image >>>", "latin1")],
  ["vdi", Buffer.from("<<< Sun xVM VirtualBox Disk Image >>>", "latin1")],
  ["vdi", Buffer.from("<<< innotek VirtualBox Disk Image >>>", "latin1")],
];

/** The image format as qemu-img's probe decides between qcow2 and raw; other known formats are refused. */
export function probeFormat(filename: string): "qcow2" | "raw" {
  const f = new FileStorage(filename, false);
  try {
    const head = new Uint8Array(64);
    const n = f.read(head, 0);
    if (n >= 8 && u32(head, 0) === QCOW2_MAGIC) {
      const version = u32(head, 4);
      if (version === 2 || version === 3) return "qcow2";
      throw new UnsupportedError(filename, version === 1 ? "qcow (version 1) images are not supported" : `qcow2 header with unsupported version ${version}`);
    }
    for (const [name, magic] of OTHER_FORMATS)
      if (n >= magic.length && Buffer.compare(Buffer.from(head.subarray(0, magic.length)), magic) === 0)
        throw new UnsupportedError(filename, `this is a ${name} image; qcowdbg opens qcow2 and raw images (use -f raw to read it as raw)`);
    return "raw";
  } finally {
    f.close();
  }
}

/** The format to open `filename` as: `format` when given (qcow2 or raw), else the probe's. */
export function checkFormat(filename: string, format: string | undefined): "qcow2" | "raw" {
  const fmt = format ?? probeFormat(filename);
  if (fmt !== "qcow2" && fmt !== "raw") throw new UnsupportedError(filename, `format '${fmt}' is not supported (qcow2 and raw are)`);
  return fmt;
}

/** QEMU's path_has_protocol(): a ':' before any '/'. */
function pathHasProtocol(p: string): boolean {
  const m = /[:/]/.exec(p);
  return m !== null && m[0] === ":";
}

/** QEMU's path_combine(base, ""): the directory part of a file name, keeping its trailing '/'. */
function qemuDirname(base: string): string {
  const colon = base.indexOf(":");
  let p = colon >= 0 ? colon + 1 : 0;
  const slash = base.lastIndexOf("/");
  if (slash + 1 > p) p = slash + 1;
  return base.slice(0, p);
}

/** bdrv_get_full_backing_filename(): the backing name resolved against the overlay's name, without normalising. */
export function fullBackingFilename(overlay: string, backing: string): string {
  if (backing === "") return "";
  if (pathHasProtocol(backing) || backing.startsWith("/")) return backing;
  return qemuDirname(overlay) + backing;
}

function allocatedSize(filename: string): number | undefined {
  try {
    return fs.statSync(filename).blocks * 512;
  } catch {
    return undefined;
  }
}

/** The part of a C string before its first NUL (QEMU keeps names in NUL-terminated buffers). */
function cString(s: string): string {
  const nul = s.indexOf("\0");
  return nul < 0 ? s : s.slice(0, nul);
}

/** Collects qemu-img info's ImageInfo for one image (backing files are not opened). */
export function imageInfo(filename: string, opts: InfoOptions = {}): InfoResult {
  const fmt = checkFormat(filename, opts.format);
  if (fmt === "raw") {
    const f = new FileStorage(filename, false);
    try {
      const info: ImageInfo = {
        filename,
        format: "raw",
        "dirty-flag": false,
        "actual-size": allocatedSize(filename),
        // bdrv_getlength() counts whole 512-byte sectors: a raw file's tail sector is rounded up.
        "virtual-size": Math.ceil(f.size() / 512) * 512,
      };
      return { info, details: [] };
    } finally {
      f.close();
    }
  }
  // info reads no table: the checks of an open up to its tables (image-head.ts), as a read-only open without
  // backing files makes them (corrupt images open for inspection), without the engine.
  const file = new FileStorage(filename, false);
  try {
    const head = decodeHead(readFirstCluster(file), filename);
    const { dataFileRaw } = dataFileOf(head, filename);
    const { snapshots } = checkHeadTables(head, file, filename);
    const h = head.header;
    return qcow2Info({ ...head, file, dataFileRaw, snapshots, dirty: hasIncompat(h, INCOMPAT_DIRTY), corrupt: hasIncompat(h, INCOMPAT_CORRUPT) }, filename, opts);
  } finally {
    file.close();
  }
}

/** What info reads of a qcow2 image: its head, checked (with the snapshot table the check decoded), and the file. */
interface InfoImage extends ImageHead {
  file: Storage;
  snapshots: Snapshot[];
  dataFileRaw: boolean;
  dirty: boolean;
  corrupt: boolean;
}

function qcow2Info(img: InfoImage, filename: string, opts: InfoOptions): InfoResult {
  const h = img.header;
  const read: ReadAt = (buf, off) => img.file.read(buf, off);
  const info: ImageInfo = {
    filename,
    format: "qcow2",
    "dirty-flag": img.dirty,
    "actual-size": allocatedSize(filename),
    // bs->total_sectors = size / 512: a header size that is not a sector multiple is rounded down.
    "virtual-size": Math.floor(h.size / 512) * 512,
    "cluster-size": img.geo.clusterSize,
  };
  if (h.cryptMethod !== 0) info.encrypted = true;
  const backing = img.backingName === null ? "" : cString(img.backingName);
  if (backing !== "") {
    info["backing-filename"] = backing;
    info["full-backing-filename"] = fullBackingFilename(filename, backing);
    const bf = cString(img.ext.backingFormat ?? "");
    if (bf !== "") info["backing-filename-format"] = bf;
  }
  const snaps = img.snapshots;
  if (snaps.length > 0) {
    const fixed = new Uint8Array(8);
    info.snapshots = snaps.map((s) => {
      // vm_clock_nsec is a u64: split it exactly (the decoder rounds it above 2^53).
      read(fixed, s.offset + 24);
      const clock = u64big(fixed, 0);
      const o: JsonObject = {
        id: s.id,
        name: s.name,
        "vm-state-size": s.vmStateSizeLarge ?? s.vmStateSize,
        "date-sec": s.dateSec,
        "date-nsec": s.dateNsec,
        "vm-clock-sec": Number(clock / 1000000000n),
        "vm-clock-nsec": Number(clock % 1000000000n),
      };
      if (s.icount !== undefined) o.icount = s.icount;
      return o;
    });
  }
  info["format-specific"] = { type: "qcow2", data: qcow2SpecificData(img, filename, read) };
  const details = opts.verbose ? headerDetails(img) : [];
  return { info, details };
}

/** qcow2_get_specific_info(): ImageInfoSpecificQCow2, keys in schema order. */
function qcow2SpecificData(img: InfoImage, filename: string, read: ReadAt): JsonObject {
  const h = img.header;
  let encrypt: JsonObject | undefined;
  if (h.cryptMethod === 1) encrypt = { format: "aes" };
  else if (h.cryptMethod === 2) {
    const crypto = checkCryptoExtension(img.ext, h, filename);
    if (!crypto) throw new UnsupportedError(filename, "LUKS encryption without a crypto header extension");
    const l = luksInfo(decodeLuksHeader(read, crypto, filename), filename);
    encrypt = {
      format: "luks",
      "cipher-alg": l["cipher-alg"],
      "cipher-mode": l["cipher-mode"],
      "ivgen-alg": l["ivgen-alg"],
      "ivgen-hash-alg": l["ivgen-hash-alg"],
      "hash-alg": l["hash-alg"],
      "payload-offset": l["payload-offset"],
      "master-key-iters": l["master-key-iters"],
      uuid: l.uuid,
      slots: l.slots.map((s) => ({ active: s.active, iters: s.iters, stripes: s.stripes, "key-offset": s["key-offset"] })),
    };
  }
  const compression = h.compressionType === 1 ? "zstd" : "zlib";
  if (h.version === 2) return { compat: "0.10", "refcount-bits": img.geo.refcountBits, encrypt, "compression-type": compression };
  const dataFile = img.ext.dataFile !== undefined ? cString(img.ext.dataFile) : undefined;
  const hasDataFile = hasIncompat(h, INCOMPAT_DATA_FILE);
  return {
    compat: "1.1",
    "data-file": dataFile,
    "data-file-raw": hasDataFile ? img.dataFileRaw : undefined,
    "extended-l2": img.geo.extendedL2,
    "lazy-refcounts": (h.compatibleFeatures & 1n) !== 0n,
    corrupt: img.corrupt,
    "refcount-bits": img.geo.refcountBits,
    encrypt,
    bitmaps: bitmapInfo(img, filename, read),
    "compression-type": compression,
  };
}

/** qcow2_get_bitmap_info_list(): absent without bitmaps (or when the autoclear bit says they are stale). */
function bitmapInfo(img: InfoImage, filename: string, read: ReadAt): JsonObject[] | undefined {
  const ext = checkBitmapsExtension(img.ext, img.header, filename);
  if (!ext || !bitmapsConsistent(img.header) || ext.nbBitmaps === 0) return undefined;
  return decodeBitmapDirectory(read, img.header, ext, filename).map((e) => {
    const flags: string[] = [];
    if (e.flags & BITMAP_FLAG_IN_USE) flags.push("in-use");
    if (e.flags & BITMAP_FLAG_AUTO) flags.push("auto");
    return { name: e.name, granularity: 2 ** e.granularityBits, flags };
  });
}

/** `qemu-img info --backing-chain`: the image, then each backing file by its full name, loops refused. */
export function imageInfoChain(filename: string, opts: InfoOptions = {}, maxDepth = 64): InfoResult[] {
  const out: InfoResult[] = [];
  const seen = new Set<string>();
  let name: string | undefined = filename;
  let format = opts.format;
  while (name !== undefined) {
    const real = realpathOrSelf(name);
    if (seen.has(name) || seen.has(real)) throw new UnsupportedError(name, `backing file '${name}' creates an infinite loop`);
    if (out.length > maxDepth) throw new UnsupportedError(filename, `backing chain is deeper than ${maxDepth} images`);
    seen.add(name);
    seen.add(real);
    const r = imageInfo(name, { ...opts, format });
    out.push(r);
    name = r.info["full-backing-filename"];
    format = r.info["backing-filename-format"];
  }
  return out;
}

function realpathOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

// ---- output -------------------------------------------------------------------------------------------------

/** qemu-img info --output=json (one image, or a list with --backing-chain), with its trailing newline. */
export function infoJson(results: InfoResult | InfoResult[], verbose = false): string {
  const one = (r: InfoResult): QemuJsonValue => (verbose && r.details.length > 0 ? { ...r.info, "qcowdbg-details": r.details } : r.info);
  return qemuJsonPretty(Array.isArray(results) ? results.map(one) : one(results)) + "\n";
}

/** qemu-img info's human output (bdrv_image_info_dump); images of a chain are separated by a blank line. */
export function infoHuman(results: InfoResult | InfoResult[], verbose = false): string {
  const list = Array.isArray(results) ? results : [results];
  return list.map((r) => imageInfoDump(r.info) + (verbose && r.details.length > 0 ? r.details.map(escapeControl).join("\n") + "\n" : "")).join("\n");
}

function imageInfoDump(info: ImageInfo): string {
  const actual = info["actual-size"];
  let out =
    `image: ${escapeControl(info.filename)}\n` +
    `file format: ${escapeControl(info.format)}\n` +
    `virtual size: ${sizeToStr(info["virtual-size"])} (${info["virtual-size"]} bytes)\n` +
    `disk size: ${actual === undefined ? "unavailable" : sizeToStr(actual)}\n`;
  if (info.encrypted) out += "encrypted: yes\n";
  if (info["cluster-size"] !== undefined) out += `cluster_size: ${info["cluster-size"]}\n`;
  if (info["dirty-flag"]) out += "cleanly shut down: no\n";
  const bf = info["backing-filename"];
  if (bf !== undefined) {
    out += `backing file: ${escapeControl(bf)}`;
    const full = info["full-backing-filename"];
    if (full === undefined) out += " (cannot determine actual path)";
    else if (full !== bf) out += ` (actual path: ${escapeControl(full)})`;
    out += "\n";
    if (info["backing-filename-format"] !== undefined) out += `backing file format: ${escapeControl(info["backing-filename-format"])}\n`;
  }
  if (info.snapshots) {
    out += "Snapshot list:\n";
    out += `${"ID".padEnd(10)}${"TAG".padEnd(17)}${"VM SIZE".padStart(8)}${"DATE".padStart(20)}${"VM CLOCK".padStart(13)}${"ICOUNT".padStart(11)}\n`;
    for (const s of info.snapshots) out += snapshotLine(s) + "\n";
  }
  const spec = info["format-specific"];
  if (spec) {
    out += "Format specific information:\n";
    out += dumpValue(1, spec.data as QemuJsonValue);
  }
  return out;
}

/** bdrv_snapshot_dump() for one snapshot. */
function snapshotLine(s: JsonObject): string {
  const date = new Date((s["date-sec"] as number) * 1000);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const dateStr = `${date.getFullYear()}-${p2(date.getMonth() + 1)}-${p2(date.getDate())} ${p2(date.getHours())}:${p2(date.getMinutes())}:${p2(date.getSeconds())}`;
  const secs = s["vm-clock-sec"] as number;
  const msec = Math.floor((s["vm-clock-nsec"] as number) / 1000000) % 1000;
  const clock = `${p2(Math.floor(secs / 3600))}:${p2(Math.floor(secs / 60) % 60)}:${p2(secs % 60)}.${String(msec).padStart(3, "0")}`;
  const icount = s.icount === undefined ? "" : String(s.icount);
  return (
    `${escapeControl(String(s.id)).padEnd(9)} ${escapeControl(String(s.name)).padEnd(16)} ${sizeToStr(s["vm-state-size"] as number).padStart(8)}` +
    `${dateStr.padStart(20)}${clock.padStart(13)}${icount.padStart(11)}`
  );
}

/** dump_qobject(): dictionaries in QDict order, '-' in keys shown as ' ', lists as [i]. */
function dumpValue(indent: number, v: QemuJsonValue): string {
  if (Array.isArray(v)) {
    let out = "";
    v.forEach((item, i) => {
      const composite = typeof item === "object" && item !== null;
      out += `${" ".repeat(indent * 4)}[${i}]:${composite ? "\n" : " "}${dumpValue(indent + 1, item)}${composite ? "" : "\n"}`;
    });
    return out;
  }
  if (v !== null && typeof v === "object") {
    let out = "";
    const keys = qdictOrder(Object.keys(v).filter((k) => v[k] !== undefined));
    for (const k of keys) {
      const item = v[k]!;
      const composite = typeof item === "object" && item !== null;
      out += `${" ".repeat(indent * 4)}${k.replace(/-/g, " ")}:${composite ? "\n" : " "}${dumpValue(indent + 1, item)}${composite ? "" : "\n"}`;
    }
    return out;
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  // Strings here (data file name, bitmap and feature names) come from the image.
  return escapeControl(String(v));
}

// ---- verbose details ----------------------------------------------------------------------------------------

const CRYPT_METHODS = ["none", "AES-CBC", "LUKS"];
const FEATURE_TYPES = ["incompatible", "compatible", "autoclear"];

/** Every header field (with its offset) and every header extension, known or not. */
function headerDetails(img: InfoImage): string[] {
  const h = img.header;
  const table = img.ext.featureNames;
  const feat = (bits: bigint, type: 0 | 1 | 2) => `${hex(bits)}${bits !== 0n ? ` (${featureNames(bits, type, table).join(", ")})` : ""}`;
  const rows: [number, string, string][] = [
    [0, "magic", hex(QCOW2_MAGIC)],
    [4, "version", String(h.version)],
    [8, "backing_file_offset", hex(h.backingFileOffset)],
    [16, "backing_file_size", String(h.backingFileSize)],
    [20, "cluster_bits", `${h.clusterBits} (${img.geo.clusterSize} bytes)`],
    [24, "size", `${h.size} (${sizeToStr(h.size)})`],
    [32, "crypt_method", `${h.cryptMethod} (${CRYPT_METHODS[h.cryptMethod] ?? "unknown"})`],
    [36, "l1_size", String(h.l1Size)],
    [40, "l1_table_offset", hex(h.l1TableOffset)],
    [48, "refcount_table_offset", hex(h.refcountTableOffset)],
    [56, "refcount_table_clusters", String(h.refcountTableClusters)],
    [60, "nb_snapshots", String(h.nbSnapshots)],
    [64, "snapshots_offset", hex(h.snapshotsOffset)],
  ];
  if (h.version === 3) {
    rows.push(
      [72, "incompatible_features", feat(h.incompatibleFeatures, 0)],
      [80, "compatible_features", feat(h.compatibleFeatures, 1)],
      [88, "autoclear_features", feat(h.autoclearFeatures, 2)],
      [96, "refcount_order", `${h.refcountOrder} (${img.geo.refcountBits}-bit refcounts)`],
      [100, "header_length", String(h.headerLength)],
    );
    if (h.headerLength > 104) rows.push([104, "compression_type", `${h.compressionType} (${h.compressionType === 1 ? "zstd" : "zlib"})`]);
  }
  const out = [`qcow2 header (version ${h.version}, ${h.version === 2 ? 72 : h.headerLength} bytes):`];
  for (const [off, name, value] of rows) out.push(`    ${hex(off).padStart(5)}  ${name.padEnd(24)}${value}`);
  if (img.backingName !== null) out.push(`    ${hex(h.backingFileOffset).padStart(5)}  ${"backing file name".padEnd(24)}${JSON.stringify(img.backingName)}`);
  out.push(`header extensions (${img.ext.list.length}):`);
  for (const e of img.ext.list) {
    const name = EXTENSION_NAMES[e.type] ?? "unknown";
    out.push(`    ${hex(e.offset).padStart(5)}  0x${e.type.toString(16).padStart(8, "0")} ${name}, ${e.length} bytes${extensionSummary(e.type, e.data, img)}`);
    if (e.type === EXT_FEATURE_TABLE)
      for (let i = 0; i + 48 <= e.data.length; i += 48) {
        const nul = e.data.subarray(i + 2, i + 48).indexOf(0);
        const fname = Buffer.from(e.data.subarray(i + 2, nul < 0 ? i + 48 : i + 2 + nul)).toString("utf8");
        out.push(`           ${FEATURE_TYPES[e.data[i]!] ?? `type ${e.data[i]}`} bit ${e.data[i + 1]}: ${fname}`);
      }
  }
  return out;
}

function extensionSummary(type: number, data: Uint8Array, img: InfoImage): string {
  switch (type) {
    case EXT_BACKING_FORMAT:
      return `: ${JSON.stringify(img.ext.backingFormat ?? "")}`;
    case EXT_DATA_FILE:
      return `: ${JSON.stringify(img.ext.dataFile ?? "")}`;
    case EXT_FEATURE_TABLE:
      return `: ${Math.floor(data.length / 48)} entries`;
    case EXT_BITMAPS: {
      const b = img.ext.bitmaps;
      return b ? `: ${b.nbBitmaps} bitmaps, directory at 0x${b.directoryOffset.toString(16)} (${b.directorySize} bytes)` : "";
    }
    case EXT_CRYPTO: {
      const c = img.ext.crypto;
      return c ? `: crypto header at 0x${c.offset.toString(16)} (${c.length} bytes)` : "";
    }
    default: {
      const shown = Buffer.from(data.subarray(0, 32)).toString("hex").replace(/(..)(?!$)/g, "$1 ");
      return data.length > 0 ? `: ${shown}${data.length > 32 ? " ..." : ""}` : "";
    }
  }
}
