// The event recorder's record format (recorder.ts): the meta word's layout, the value encoder and the decoder.
// Kept apart so the recorder itself is about where records go and how the log moves (rewind, truncate, readers).
import { EventKind } from "./event-kind.js";
import { EVENT_KIND_COUNT } from "./event-schema.js";

// The meta word: kind (6 bits) | request mode << 6 | a 3-bit value mode for node, cache, slot, a, b, c and d | PAIR.
// Value modes: 0, 1 and -1 take no word (the commonest values); INT: one word; SECTORS: one word, the value / 512
// (sector-aligned offsets up to 1 TiB); WIDE: the exact double in two words. Request modes: SAME as the event
// before (at a block's first event: the block's base request), DELTA from it in one word, or ABS (two words).
// PAIR: the record is two events, a cache_get and the cache_get_done of its hit (cacheHit(); 41% of a write
// workload's events): same request, node, cache and offset, and the get_done's slot in one last word.
export const V_ZERO = 0;
export const V_ONE = 1;
export const V_MINUS_ONE = 2;
export const V_INT = 3;
export const V_SECTORS = 4;
export const V_WIDE = 5;
export const SECTOR = 512;
export const R_SAME = 0;
export const R_DELTA = 1;
export const R_ABS = 2;
export const REQ_SHIFT = 6;
export const NODE_SHIFT = 8;
export const CACHE_SHIFT = 11;
export const SLOT_SHIFT = 14;
export const A_SHIFT = 17;
export const B_SHIFT = 20;
export const C_SHIFT = 23;
export const D_SHIFT = 26;
export const PAIR = 1 << 29;
if (EVENT_KIND_COUNT > 64) throw new Error("event recorder: kinds need more than the meta word's 6 bits");

/** Words per chunk (1 MiB). A record never straddles chunks: one that might not fit starts the next chunk. */
export const CHUNK_WORDS = 1 << 18;
/** The longest record: meta, 2 request words, 7 values of up to 2 words, the pair's slot. */
export const MAX_RECORD = 1 + 2 + 14 + 1;
/** Events per block: each block's first record position and request are indexed, for random access. */
export const BLOCK_BITS = 6;
export const BLOCK = 1 << BLOCK_BITS;

const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);

/** Writes v's words (if any) at p; returns the next position << 3 | v's value mode. */
export function enc(ch: Int32Array, p: number, v: number): number {
  if (v === 0) return (p << 3) | V_ZERO;
  if (v === 1) return (p << 3) | V_ONE;
  if (v === -1) return (p << 3) | V_MINUS_ONE;
  let w = v | 0;
  if (w === v) {
    ch[p] = w;
    return ((p + 1) << 3) | V_INT;
  }
  w = (v / SECTOR) | 0;
  if (w * SECTOR === v) {
    ch[p] = w;
    return ((p + 1) << 3) | V_SECTORS;
  }
  return (putWide(ch, p, v) << 3) | V_WIDE;
}

/** The exact double in two words; returns the next position. */
export function putWide(ch: Int32Array, p: number, v: number): number {
  f64[0] = v;
  ch[p] = i32[0]!;
  ch[p + 1] = i32[1]!;
  return p + 2;
}


/** Decoded events, one array per field (the recorder's decoded block). */
export interface EventArrays {
  kind: Int32Array;
  req: Float64Array;
  node: Float64Array;
  cache: Float64Array;
  slot: Float64Array;
  a: Float64Array;
  b: Float64Array;
  c: Float64Array;
  d: Float64Array;
}

/** Words a value of each mode takes. */
const WORDS = [0, 0, 0, 1, 1, 2, 0, 0];

/**
 * Decodes the record at ch[off], whose event before has request prevReq, into entry n of `to` (and n + 1, the
 * get_done, for a pair). Returns the record's length in words, negated for a pair.
 */
export function decodeRecord(ch: Int32Array, off: number, prevReq: number, to: EventArrays, n: number): number {
  const m = ch[off]!;
  let p = off + 1;
  to.kind[n] = m & 63;
  const rm = (m >>> REQ_SHIFT) & 3;
  let req = prevReq;
  if (rm === R_DELTA) req += ch[p++]!;
  else if (rm === R_ABS) {
    req = wideAt(ch, p);
    p += 2;
  }
  to.req[n] = req;
  let mode = (m >>> NODE_SHIFT) & 7;
  to.node[n] = value(ch, p, mode);
  p += WORDS[mode]!;
  mode = (m >>> CACHE_SHIFT) & 7;
  const cache = value(ch, p, mode);
  to.cache[n] = cache;
  p += WORDS[mode]!;
  mode = (m >>> SLOT_SHIFT) & 7;
  to.slot[n] = value(ch, p, mode);
  p += WORDS[mode]!;
  mode = (m >>> A_SHIFT) & 7;
  const a = value(ch, p, mode);
  to.a[n] = a;
  p += WORDS[mode]!;
  mode = (m >>> B_SHIFT) & 7;
  to.b[n] = value(ch, p, mode);
  p += WORDS[mode]!;
  mode = (m >>> C_SHIFT) & 7;
  to.c[n] = value(ch, p, mode);
  p += WORDS[mode]!;
  mode = (m >>> D_SHIFT) & 7;
  to.d[n] = value(ch, p, mode);
  p += WORDS[mode]!;
  if ((m & PAIR) === 0) return p - off;
  // The get_done of the pair: the same request, node, cache and offset; its slot; nothing in b, c or d.
  const k = n + 1;
  to.kind[k] = PAIR_SECOND;
  to.req[k] = req;
  to.node[k] = to.node[n]!;
  to.cache[k] = cache;
  to.slot[k] = ch[p++]!;
  to.a[k] = a;
  to.b[k] = 0;
  to.c[k] = 0;
  to.d[k] = 0;
  return off - p;
}

/** The value of a mode whose words (if any) start at p. */
function value(ch: Int32Array, p: number, mode: number): number {
  if (mode === V_ZERO) return 0;
  if (mode === V_INT) return ch[p]!;
  if (mode === V_SECTORS) return ch[p]! * SECTOR;
  if (mode === V_MINUS_ONE) return -1;
  if (mode === V_ONE) return 1;
  return wideAt(ch, p);
}

function wideAt(ch: Int32Array, p: number): number {
  i32[0] = ch[p]!;
  i32[1] = ch[p + 1]!;
  return f64[0]!;
}

/** The second event of a pair record. */
export const PAIR_SECOND = EventKind.CacheGetDone;
