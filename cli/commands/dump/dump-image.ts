// What every dump view shares: the image opened read-only (header and first cluster only), the JSON/text
// shape of a view, and the helpers that align text columns and spell offsets and raw entries.
import { type ReadAt, u32 } from "../../../engine/format/bytes.js";
import { decodeExtensions, type Extensions } from "../../../engine/format/extensions.js";
import { decodeHeader, type Qcow2Header } from "../../../engine/format/header.js";
import type { Storage } from "../../../engine/storage/storage.js";

export type Json = number | string | boolean | null | Json[] | { [k: string]: Json };

/** A dump: the JSON view, and the same facts as aligned text lines. */
export interface Dump {
  json: { [k: string]: Json };
  text: string[];
}

export interface DumpImage {
  file: string;
  read: ReadAt;
  size: number;
  /** Cluster 0 (or the whole file when it is shorter). */
  first: Uint8Array;
  header: Qcow2Header;
}

export function openDumpImage(storage: Storage): DumpImage {
  const file = storage.name;
  const size = storage.size();
  const read: ReadAt = (buf, off) => storage.read(buf, off);
  // The cluster size says how much of cluster 0 to read; decodeHeader validates it.
  const probe = new Uint8Array(Math.min(512, size));
  read(probe, 0);
  const bits = probe.length >= 24 ? u32(probe, 20) : 0;
  let first = probe;
  if (bits >= 9 && bits <= 21) {
    first = new Uint8Array(Math.min(2 ** bits, size));
    read(first, 0);
  }
  return { file, read, size, first, header: decodeHeader(first, file) };
}

export function extensionsOf(img: DumpImage): Extensions {
  const h = img.header;
  const end = h.backingFileOffset !== 0 ? h.backingFileOffset : 2 ** h.clusterBits;
  return decodeExtensions(img.first, h.headerLength, end, img.file);
}

/** Left-aligned columns, two spaces apart; trailing blanks trimmed. */
export function table2(headers: string[], rows: string[][]): string[] {
  if (rows.length === 0) return [];
  const all = [headers, ...rows];
  const widths = headers.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ").trimEnd());
}

export function raw64(hi: number, lo: number): string {
  return "0x" + (hi >>> 0).toString(16).padStart(8, "0") + (lo >>> 0).toString(16).padStart(8, "0");
}

export function hex2(n: number): string {
  return "0x" + n.toString(16).padStart(2, "0");
}

export function clockText(ns: number): string {
  const s = Math.floor(ns / 1e9);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const ms = Math.floor((ns % 1e9) / 1e6);
  return `${String(hh).padStart(2, "0")}:${String(mm).padStart(2, "0")}:${String(ss).padStart(2, "0")}.${String(ms).padStart(3, "0")}`;
}
