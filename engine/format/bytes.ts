// Big-endian integer access over Uint8Array. 64-bit fields are read as two 32-bit halves into JS numbers;
// values that would lose precision (>= 2^53) are reported to the caller instead of silently rounded.

export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function u8(b: Uint8Array, o: number): number {
  return b[o]!;
}
export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}
/** High and low 32-bit halves of a big-endian u64. */
export function hi32(b: Uint8Array, o: number): number {
  return u32(b, o);
}
export function lo32(b: Uint8Array, o: number): number {
  return u32(b, o + 4);
}
/** u64 as a number; NaN when it is >= 2^53 (callers turn that into a FormatError naming the field). */
export function u64(b: Uint8Array, o: number): number {
  const h = u32(b, o);
  if (h >= 0x200000) return NaN;
  return h * 0x100000000 + u32(b, o + 4);
}
/** A u64 field: exact halves for messages and alignment, and a number (exact below 2^53) for arithmetic. */
export interface U64 {
  hi: number;
  lo: number;
  n: number;
}

export function readU64(b: Uint8Array, o: number): U64 {
  const hi = u32(b, o);
  const lo = u32(b, o + 4);
  return { hi, lo, n: hi * 0x100000000 + lo };
}

/** u64 as a BigInt, for display of fields that may legitimately exceed 2^53 (feature bitmaps, raw entries). */
export function u64big(b: Uint8Array, o: number): bigint {
  return (BigInt(u32(b, o)) << 32n) | BigInt(u32(b, o + 4));
}

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
/** Writes a non-negative safe integer as u64. */
export function put64(b: Uint8Array, o: number, v: number): void {
  put32(b, o, Math.floor(v / 0x100000000));
  put32(b, o + 4, v >>> 0);
}
export function put64hl(b: Uint8Array, o: number, hi: number, lo: number): void {
  put32(b, o, hi);
  put32(b, o + 4, lo);
}

export { hex } from "../units/size-text.js";

/** Reads a string of bytes as latin1/utf8 text without trailing NULs. */
export function cstr(b: Uint8Array, o: number, n: number): string {
  let end = o;
  const lim = Math.min(b.length, o + n);
  while (end < lim && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + o, end - o).toString("utf8");
}

/** A positional reader like Storage.read: fills buf from offset (zeros past the end), returns bytes inside the file. */
export type ReadAt = (buf: Uint8Array, offset: number) => number;

/** u64 as a number, rounded above 2^53: for counters and clocks that are shown, never used as offsets. */
export function u64approx(b: Uint8Array, o: number): number {
  return u32(b, o) * 0x100000000 + u32(b, o + 4);
}
