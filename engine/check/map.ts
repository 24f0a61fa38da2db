// `qemu-img map`: the extents of a backing chain as QEMU 7.2 reports them (qemu-img.c get_block_status and
// entry_mergeable over block/io.c bdrv_co_block_status): one block-status query per run, backing layers walked
// until a layer knows the range, holes in the host file reported as zeroes when the format asks to recurse.
import { UnsupportedError } from "../format/format-error.js";
import { holeStatus, RawNode, type BlockNode } from "../image/block-node.js";
import { Qcow2Image } from "../image/qcow2-image.js";
import type { Storage } from "../storage/storage.js";
import { fullBackingFilename } from "./info.js";

/** One line of qemu-img map: a run with the same status, from the layer at `depth`. */
export interface MapEntry {
  start: number;
  length: number;
  depth: number;
  /** BDRV_BLOCK_ALLOCATED: some layer of the chain (or the file) decides the content. */
  present: boolean;
  zero: boolean;
  data: boolean;
  /** Host offset in `filename` (absent for unallocated, compressed and encrypted runs). */
  offset?: number;
  filename?: string;
}

/** The block status of one node for a range: QEMU's BDRV_BLOCK_* bits as booleans. */
interface LayerStatus {
  pnum: number;
  data: boolean;
  zero: boolean;
  allocated: boolean;
  offsetValid: boolean;
  map: number;
  file: Storage | null;
  eof: boolean;
}

const AT_EOF: LayerStatus = { pnum: 0, data: false, zero: false, allocated: false, offsetValid: false, map: 0, file: null, eof: true };

/**
 * bdrv_getlength(): whole 512-byte sectors. qcow2 truncates its header size (total_sectors = size / 512);
 * a raw file's partial last sector counts as a whole one.
 */
export function qemuLength(node: BlockNode): number {
  return node.format === "qcow2" ? Math.floor(node.virtualSize / 512) * 512 : Math.ceil(node.virtualSize / 512) * 512;
}

/** The file (protocol) layer: file-posix's raw_co_block_status, SEEK_DATA/SEEK_HOLE with its EOF rules. */
function fileStatus(file: Storage, offset: number, bytes: number): LayerStatus {
  const total = Math.ceil(file.size() / 512) * 512;
  if (offset >= total) return AT_EOF;
  const n = Math.min(bytes, total - offset);
  const h = holeStatus(file, offset, n);
  const pnum = Math.min(h.bytes, n);
  return { pnum, data: !h.zero, zero: h.zero, allocated: true, offsetValid: true, map: offset, file, eof: offset + pnum === total };
}

/** bdrv_co_block_status() with want_zero for one node of the chain (the chain walk is the caller's). */
function layerStatus(node: BlockNode, offset: number, bytes: number): LayerStatus {
  const total = qemuLength(node);
  if (offset >= total) return AT_EOF;
  bytes = Math.min(bytes, total - offset);
  // The raw format answers BDRV_BLOCK_RAW: the file below decides, at the same offset.
  if (node instanceof RawNode) return fileStatus(node.file, offset, bytes);
  if (!(node instanceof Qcow2Image)) throw new UnsupportedError(node.filename, `cannot map a ${node.format} node`);
  // Encrypted images work in 512-byte sectors (request_alignment), so the query is widened to them.
  const align = node.header.cryptMethod !== 0 ? 512 : 1;
  const head = offset % align;
  const alignedBytes = Math.ceil((offset + bytes) / align) * align - (offset - head);
  const st = node.blockStatus(offset - head, alignedBytes);
  let pnum = Math.min(st.bytes - head, bytes);
  const offsetValid = st.offset !== undefined;
  const map = offsetValid ? st.offset! + head : 0;
  const data = st.data;
  let zero = st.zero;
  const allocated = data || zero;
  if (!allocated) {
    // Unallocated: zero without a backing file, or past the end of a shorter one.
    if (!node.backing || offset >= qemuLength(node.backing)) zero = true;
  }
  if (st.recurse && st.file && data && !zero && offsetValid) {
    // Metadata preallocation: the host file's holes are zeroes (the image file may be shorter than its clusters).
    const f = fileStatus(st.file, map, pnum);
    if (f.eof && (f.pnum === 0 || f.zero)) zero = true;
    else {
      pnum = f.pnum;
      if (f.zero) zero = true;
    }
  }
  return { pnum, data, zero, allocated, offsetValid, map, file: offsetValid ? (st.file ?? null) : null, eof: offset + pnum === total };
}

/** Display names of every file of the chain as QEMU names them (backing names joined to the overlay's, unnormalised). */
function fileNames(top: BlockNode, topName: string): Map<Storage, string> {
  const names = new Map<Storage, string>();
  let node: BlockNode | null = top;
  let name = topName;
  while (node) {
    if (node instanceof RawNode) names.set(node.file, name);
    else if (node instanceof Qcow2Image) {
      names.set(node.file, name);
      // QEMU 7.2 opens the external data file by the name stored in the image.
      if (node.hasDataFile && node.ext.dataFile !== undefined && !names.has(node.dataFile)) names.set(node.dataFile, node.ext.dataFile);
      if (node.backingName !== null) name = fullBackingFilename(name, node.backingName);
    }
    node = node.backing;
  }
  return names;
}

/** qemu-img.c get_block_status(): walk down the chain until a layer allocates the range (or says it is zero). */
function chainStatus(top: BlockNode, offset: number, bytes: number, names: Map<Storage, string>): MapEntry {
  let node: BlockNode = top;
  let depth = 0;
  let s: LayerStatus;
  for (;;) {
    s = layerStatus(node, offset, bytes);
    if (s.pnum <= 0) throw new UnsupportedError(node.filename, `block status at offset ${offset} returned no progress`);
    bytes = s.pnum;
    if (s.data || s.zero) break;
    if (!node.backing) {
      s = { ...AT_EOF, pnum: bytes, eof: false };
      break;
    }
    node = node.backing;
    depth++;
  }
  const e: MapEntry = { start: offset, length: bytes, depth, present: s.allocated, zero: s.zero, data: s.data };
  if (s.offsetValid) {
    e.offset = s.map;
    if (s.file) e.filename = names.get(s.file) ?? s.file.name;
  }
  return e;
}

/** entry_mergeable(). */
function mergeable(c: MapEntry, n: MapEntry): boolean {
  if (c.length === 0) return false;
  if (c.zero !== n.zero || c.data !== n.data || c.depth !== n.depth || c.present !== n.present) return false;
  if ((c.filename === undefined) !== (n.filename === undefined) || (c.offset === undefined) !== (n.offset === undefined)) return false;
  if (c.filename !== undefined && c.filename !== n.filename) return false;
  if (c.offset !== undefined && c.offset + c.length !== n.offset) return false;
  return true;
}

export interface MapOptions {
  /** --start-offset (default 0). */
  start?: number;
  /** --max-length (default: to the end of the image). */
  maxLength?: number;
  /**
   * Human output: it ignores the zero/data distinction of what it does not print, so QEMU rewrites those entries
   * to zero before merging; and it cannot show data without an offset (compressed, encrypted clusters).
   */
  human?: boolean;
  /** The top image's name as the user gave it (file column); default: the node's filename. */
  name?: string;
}

export class MapError extends Error {
  constructor(file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = "MapError";
  }
}

/** Runs qemu-img map's loop and hands each merged entry to `emit` in order (streamed: maps can be long). */
export function mapImage(top: BlockNode, opts: MapOptions, emit: (e: MapEntry) => void): void {
  for (const e of mapEntries(top, opts)) emit(e);
}

/**
 * qemu-img map's loop as an iterator of merged entries, in order: a consumer that must wait (a full pipe) stops
 * pulling, and no more of the image is mapped until it pulls again.
 */
export function* mapEntries(top: BlockNode, opts: MapOptions): Generator<MapEntry, void, undefined> {
  const names = fileNames(top, opts.name ?? top.filename);
  const start = opts.start ?? 0;
  let length = qemuLength(top);
  if (opts.maxLength !== undefined) length = Math.min(start + opts.maxLength, length);
  const dump = (e: MapEntry, next: MapEntry | null) => {
    if (opts.human) {
      if (e.data && e.offset === undefined) throw new MapError(opts.name ?? top.filename, "File contains external, encrypted or compressed clusters.");
      if (next && (!next.data || next.zero)) {
        next.data = false;
        next.zero = true;
      }
    }
    return e;
  };
  let curr: MapEntry = { start, length: 0, depth: 0, present: false, zero: false, data: false };
  while (curr.start + curr.length < length) {
    const offset = curr.start + curr.length;
    const next = chainStatus(top, offset, length - offset, names);
    if (mergeable(curr, next)) {
      curr.length += next.length;
      continue;
    }
    if (curr.length > 0) yield dump(curr, next);
    curr = next;
  }
  yield dump(curr, null);
}

/** One entry of `qemu-img map --output=json` (without the list punctuation). */
export function mapEntryJson(e: MapEntry): string {
  const off = e.offset !== undefined ? `, "offset": ${e.offset}` : "";
  return `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth}, "present": ${e.present}, "zero": ${e.zero}, "data": ${e.data}${off}}`;
}

export const MAP_HUMAN_HEADER = `${"Offset".padEnd(16)}${"Length".padEnd(16)}${"Mapped to".padEnd(16)}File\n`;

/** printf("%#-16"PRIx64): 0x-prefixed hex, except plain "0". */
function hex16(v: number): string {
  return (v === 0 ? "0" : "0x" + v.toString(16)).padEnd(16);
}

/** One line of the human map, or "" for entries it does not show (anything but plain data). */
export function mapEntryHuman(e: MapEntry): string {
  if (!e.data || e.zero) return "";
  return `${hex16(e.start)}${hex16(e.length)}${hex16(e.offset ?? 0)}${e.filename ?? ""}\n`;
}

export interface PrintMapOptions extends Omit<MapOptions, "human"> {
  json: boolean;
}

/** Output is handed over in chunks of this size: one write per entry would dominate long maps. */
const FLUSH_AT = 1 << 16;

/**
 * The whole `qemu-img map` output, streamed to `write` in chunks. On an error, what was mapped before it has
 * been written (as qemu-img prints it) and the error is rethrown.
 */
export function printMap(top: BlockNode, opts: PrintMapOptions, write: (chunk: string) => void): void {
  for (const chunk of mapOutput(top, opts)) write(chunk);
}

/**
 * The whole `qemu-img map` output as chunks of about 64 KiB, mapped only as they are pulled (so a writer can
 * wait for a slow reader without the output piling up in memory). On an error, the output mapped before it
 * comes out first, then the error is thrown.
 */
export function* mapOutput(top: BlockNode, opts: PrintMapOptions): Generator<string, void, undefined> {
  const json = opts.json;
  let pending = json ? "[" : MAP_HUMAN_HEADER;
  let first = true;
  let failed = false;
  let failure: unknown;
  try {
    for (const e of mapEntries(top, { ...opts, human: !json })) {
      if (json) {
        pending += (first ? "" : ",\n") + mapEntryJson(e);
        first = false;
      } else pending += mapEntryHuman(e);
      if (pending.length >= FLUSH_AT) {
        yield pending;
        pending = "";
      }
    }
    if (json) pending += "]\n";
  } catch (e) {
    failed = true;
    failure = e;
  }
  if (pending.length > 0) yield pending;
  if (failed) throw failure;
}

/** The chain's guest-visible status for export: zero runs can stay holes, data runs must be read. */
export function contentRuns(top: BlockNode, emit: (start: number, length: number, zero: boolean) => void): void {
  const names = new Map<Storage, string>();
  const length = qemuLength(top);
  let offset = 0;
  while (offset < length) {
    const e = chainStatus(top, offset, length - offset, names);
    emit(e.start, e.length, e.zero);
    offset += e.length;
  }
}
