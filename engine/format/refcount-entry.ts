// Refcount block entries of every width (1..64 bits). Sub-byte widths pack least-significant bit first;
// wider entries are big-endian. 64-bit refcounts above 2^53 read as NaN (callers report them).
import { u16, u32, put16, put32 } from "./bytes.js";

export function getRefcount(block: Uint8Array, index: number, order: number): number {
  switch (order) {
    case 0:
      return (block[index >>> 3]! >>> (index & 7)) & 1;
    case 1:
      return (block[index >>> 2]! >>> (2 * (index & 3))) & 3;
    case 2:
      return (block[index >>> 1]! >>> (4 * (index & 1))) & 15;
    case 3:
      return block[index]!;
    case 4:
      return u16(block, index * 2);
    case 5:
      return u32(block, index * 4);
    default: {
      const h = u32(block, index * 8);
      if (h >= 0x200000) return NaN;
      return h * 0x100000000 + u32(block, index * 8 + 4);
    }
  }
}

export function setRefcount(block: Uint8Array, index: number, order: number, value: number): void {
  switch (order) {
    case 0:
    case 1:
    case 2: {
      const bits = 1 << order;
      const per = 8 / bits;
      const byte = Math.floor(index / per);
      const shift = (index % per) * bits;
      const mask = ((1 << bits) - 1) << shift;
      block[byte] = (block[byte]! & ~mask) | ((value << shift) & mask);
      return;
    }
    case 3:
      block[index] = value;
      return;
    case 4:
      put16(block, index * 2, value);
      return;
    case 5:
      put32(block, index * 4, value);
      return;
    default:
      put32(block, index * 8, Math.floor(value / 0x100000000));
      put32(block, index * 8 + 4, value >>> 0);
  }
}

/** 2^(2^order) - 1 by order, 0..5 (a table: update_refcount asks once per cluster, and 2 ** n is a call). */
const MAX_BY_ORDER = [1, 3, 15, 255, 65535, 4294967295];

/** Largest refcount an entry of this width holds. */
export function maxRefcount(order: number): number {
  return order >= 6 ? Number.MAX_SAFE_INTEGER : (MAX_BY_ORDER[order] ?? 2 ** (1 << order) - 1);
}
