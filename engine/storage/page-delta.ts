// An older version of a shadow page kept as the 32-bit words where it differs from a newer one (ShadowStorage's
// frozen versions). Packed as values then index gaps, deflated when it is worth it: successive versions of an L2
// table differ in entries that look alike, and the deltas were most of a long timeline's memory (33 B a request).
import { deflateRawSync, inflateRawSync } from "node:zlib";

export interface PageDelta {
  /** The slot holding the newer version this one is encoded against. */
  base: number;
  /** Words that differ. */
  count: number;
  /** Bytes held by `packed`. */
  bytes: number;
  packed: Uint8Array;
  deflated: boolean;
}

/** Below this many raw bytes a delta is not worth deflating. */
const DEFLATE_FROM = 384;

/** The first n words of idx (ascending word indices) and val (the older version's values there). */
export function packDelta(base: number, idx: Uint16Array, val: Uint32Array, n: number): PageDelta {
  const raw = new Uint8Array(6 * n);
  new Uint32Array(raw.buffer, 0, n).set(val.subarray(0, n));
  const gaps = new Uint16Array(raw.buffer, 4 * n, n);
  let prev = -1;
  for (let i = 0; i < n; i++) {
    gaps[i] = idx[i]! - prev;
    prev = idx[i]!;
  }
  const deflated = raw.length >= DEFLATE_FROM;
  const packed = deflated ? new Uint8Array(deflateRawSync(raw, { level: 1 })) : raw;
  return { base, count: n, bytes: packed.byteLength, packed, deflated };
}

export function unpackDelta(d: PageDelta): { idx: Uint16Array; val: Uint32Array } {
  const n = d.count;
  let raw = d.deflated ? inflateRawSync(d.packed) : d.packed;
  if (raw.byteOffset % 4 !== 0) raw = raw.slice();
  const val = new Uint32Array(raw.buffer, raw.byteOffset, n);
  const gaps = new Uint16Array(raw.buffer, raw.byteOffset + 4 * n, n);
  const idx = new Uint16Array(n);
  let w = -1;
  for (let i = 0; i < n; i++) idx[i] = w += gaps[i]!;
  return { idx, val };
}

/** `first` then `second`, as one delta against `first.base` (`second` wins where both change a word). */
export function mergeDeltas(first: PageDelta, second: PageDelta): PageDelta {
  const f = unpackDelta(first);
  const s = unpackDelta(second);
  const idx = new Uint16Array(f.idx.length + s.idx.length);
  const val = new Uint32Array(idx.length);
  let i = 0, j = 0, n = 0;
  while (i < f.idx.length || j < s.idx.length) {
    const a = i < f.idx.length ? f.idx[i]! : Infinity;
    const b = j < s.idx.length ? s.idx[j]! : Infinity;
    if (b <= a) {
      idx[n] = b;
      val[n++] = s.val[j++]!;
      if (a === b) i++;
    } else {
      idx[n] = a;
      val[n++] = f.val[i++]!;
    }
  }
  return packDelta(first.base, idx, val, n);
}
