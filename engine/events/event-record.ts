// The event recorder's record format (recorder.ts): the meta word's layout, the value encoder and the decoder.
// Kept apart so the recorder itself is about where records go and how the log moves (rewind, truncate, readers).
import { EventKind } from "./event-kind.js";
import { EVENT_KIND_COUNT } from "./event-schema.js";
import { expandShape, readShapeValues, SHAPE_VALUES } from "./event-shapes.js";

// The meta word: kind (6 bits) | request mode << 6 | a 3-bit value mode for node, cache, slot, a, b, c and d | PAIR.
// Value modes: 0, 1 and -1 take no word (the commonest values); INT: one word; SECTORS: one word, the value / 512
// (sector-aligned offsets up to 1 TiB); WIDE: the exact double in two words. Request modes: SAME as the event
// before (at a block's first event: the block's base request), DELTA from it in one word, or ABS (two words).
// PAIR: the record is two events, a cache_get and the cache_get_done of its hit (cacheHit(); 41% of a write
// workload's events): same request, node, cache and offset, and the get_done's slot in one last word.
// Registers (Regs), reset at each block's first record, let a record refer to values written before it in its
// block: mode REG for a, b or c is "the last value this column stored in words" (a write's guest offset, length
// and host cluster recur through its events), and PREPEAT marks a pair record of the L2 or refcount cache (cache
// 0 or 1, in the meta word) that repeats that cache's last pair record: node, offset, readFromDisk and slot come
// from the registers, and the record is the meta word and its request words only. Records of one request then
// take ~5.5 bytes an event where they took ~8.5: recording costs as much in fresh memory written as in work.
export const V_ZERO = 0;
export const V_ONE = 1;
export const V_MINUS_ONE = 2;
export const V_INT = 3;
export const V_SECTORS = 4;
export const V_WIDE = 5;
/** Columns a, b, c only: the column's register (see Regs). */
export const V_REG = 6;
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
export const PREPEAT = 1 << 30;
// SHAPE (the sign bit): the record is part of a request shape (event-shapes.ts), events [first, first + count),
// of which the first `kept` are in the log (fewer than count once a truncate or a diverging re-execution cut the
// record); its meta word holds the shape id (bits 0..5), the request mode, first (bits 8..13), count (14..20) and
// kept (21..27); then the values the part's events use. A shape record neither reads nor sets registers, and never
// crosses a block start (the recorder splits a shape there into two records).
export const SHAPE = 1 << 31;
export const SHAPE_FIRST_SHIFT = 8;
export const SHAPE_COUNT_SHIFT = 14;
export const SHAPE_KEPT_SHIFT = 21;
export const SHAPE_KEPT_MASK = 127 << SHAPE_KEPT_SHIFT;
if (EVENT_KIND_COUNT > 64) throw new Error("event recorder: kinds need more than the meta word's 6 bits");

/** Words per chunk (1 MiB). A record never straddles chunks: one that might not fit starts the next chunk. */
export const CHUNK_WORDS = 1 << 18;
/**
 * The longest record: meta, 2 request words, 7 values of up to 2 words and the pair's slot; or a shape record's
 * values of up to 3 words.
 */
export const MAX_RECORD = Math.max(1 + 2 + 14 + 1, 1 + 2 + 3 * SHAPE_VALUES);
/**
 * Events per block: each block's first record position and request are indexed, for random access. 256: a write
 * request's shape (~26 events) split at a block start writes two records, which with 64-event blocks was 42% of
 * requests (~10% now); a random read decodes up to a block (a few microseconds), and the index costs less.
 */
export const BLOCK_BITS = 8;
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

/** A record's request words for request `req`, `dr` (not 0) after the event before: (next position << 2) | mode. */
export function putRequest(ch: Int32Array, p: number, req: number, dr: number): number {
  if ((dr | 0) === dr) {
    ch[p] = dr;
    return ((p + 1) << 2) | R_DELTA;
  }
  return (putWide(ch, p, req) << 2) | R_ABS;
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

/**
 * The registers as of one point of a block: the last value columns a, b and c stored in words (by records that are
 * not pairs), then per cache 0 and 1 the node, offset, readFromDisk and slot of its last pair record. NaN when
 * unset (a value equal to NaN is never referred to: NaN !== NaN).
 */
export const REGS = 11;
export const R_A = 0;
export const R_B = 1;
export const R_C = 2;
/** Pair registers of cache c (0 or 1) start at R_PAIR + 4 * c: node, offset, readFromDisk, slot. */
export const R_PAIR = 3;

export function resetRegs(regs: Float64Array): void {
  regs.fill(NaN);
}

/** Words a value of each mode takes. */
const WORDS = [0, 0, 0, 1, 1, 2, 0, 0];

/** A record of several events decodes to -(its length in words * MULTI + its events). */
export const MULTI = 128;

/**
 * Decodes the record at ch[off], whose event before has request prevReq, into entry n of `to` (and the entries
 * after it for a pair or a shape), with `regs` as of the record before it in its block (updated past this one).
 * Returns the record's length in words; for a record of several events, -(length * MULTI + events).
 */
export function decodeRecord(ch: Int32Array, off: number, prevReq: number, to: EventArrays, n: number, regs: Float64Array): number {
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
  if (m < 0) {
    // A shape record: its values, then the events they make.
    const first = (m >>> SHAPE_FIRST_SHIFT) & 63;
    const kept = (m & SHAPE_KEPT_MASK) >>> SHAPE_KEPT_SHIFT;
    p = readShapeValues(ch, p, m & 63, first, (m >>> SHAPE_COUNT_SHIFT) & 127, shapeScratch);
    expandShape(m & 63, first, kept, req, shapeScratch, to, n);
    return -((p - off) * MULTI + kept);
  }
  to.req[n] = req;
  const pair = (m & PAIR) !== 0;
  if ((m & PREPEAT) !== 0) return decodeRepeat(m, off, p, req, to, n, regs, pair);
  let mode = (m >>> NODE_SHIFT) & 7;
  const node = value(ch, p, mode);
  to.node[n] = node;
  p += WORDS[mode]!;
  mode = (m >>> CACHE_SHIFT) & 7;
  const cache = value(ch, p, mode);
  to.cache[n] = cache;
  p += WORDS[mode]!;
  mode = (m >>> SLOT_SHIFT) & 7;
  to.slot[n] = value(ch, p, mode);
  p += WORDS[mode]!;
  // a, b and c: a register, or a value that (stored in words, outside a pair) becomes the register.
  mode = (m >>> A_SHIFT) & 7;
  let a: number;
  if (mode === V_REG) a = regs[R_A]!;
  else {
    a = value(ch, p, mode);
    p += WORDS[mode]!;
    if (mode >= V_INT && !pair) regs[R_A] = a;
  }
  to.a[n] = a;
  mode = (m >>> B_SHIFT) & 7;
  let v: number;
  if (mode === V_REG) v = regs[R_B]!;
  else {
    v = value(ch, p, mode);
    p += WORDS[mode]!;
    if (mode >= V_INT && !pair) regs[R_B] = v;
  }
  to.b[n] = v;
  mode = (m >>> C_SHIFT) & 7;
  if (mode === V_REG) v = regs[R_C]!;
  else {
    v = value(ch, p, mode);
    p += WORDS[mode]!;
    if (mode >= V_INT && !pair) regs[R_C] = v;
  }
  to.c[n] = v;
  mode = (m >>> D_SHIFT) & 7;
  to.d[n] = value(ch, p, mode);
  p += WORDS[mode]!;
  if (!pair) return p - off;
  // The get_done of the pair: the same request, node, cache and offset; its slot; nothing in b, c or d.
  const k = n + 1;
  const slot = ch[p++]!;
  to.kind[k] = PAIR_SECOND;
  to.req[k] = req;
  to.node[k] = node;
  to.cache[k] = cache;
  to.slot[k] = slot;
  to.a[k] = a;
  to.b[k] = 0;
  to.c[k] = 0;
  to.d[k] = 0;
  if (cache === 0 || cache === 1) {
    const r = R_PAIR + 4 * cache;
    regs[r] = node;
    regs[r + 1] = a;
    regs[r + 2] = to.b[n]!;
    regs[r + 3] = slot;
  }
  return -((p - off) * MULTI + 2);
}

/** A shape record's values as decoded (decodeRecord never re-enters itself). */
const shapeScratch = new Float64Array(SHAPE_VALUES);

/** A PREPEAT record (see Regs): its cache's last pair again, or only its cache_get when a truncate cut it. */
function decodeRepeat(m: number, off: number, p: number, req: number, to: EventArrays, n: number, regs: Float64Array, pair: boolean): number {
  const cache = (m >>> CACHE_SHIFT) & 7;
  const r = R_PAIR + 4 * cache;
  const node = regs[r]!;
  const a = regs[r + 1]!;
  to.kind[n] = EventKind.CacheGet;
  to.node[n] = node;
  to.cache[n] = cache;
  to.slot[n] = -1;
  to.a[n] = a;
  to.b[n] = regs[r + 2]!;
  to.c[n] = 0;
  to.d[n] = 0;
  if (!pair) return p - off;
  const k = n + 1;
  to.kind[k] = PAIR_SECOND;
  to.req[k] = req;
  to.node[k] = node;
  to.cache[k] = cache;
  to.slot[k] = regs[r + 3]!;
  to.a[k] = a;
  to.b[k] = 0;
  to.c[k] = 0;
  to.d[k] = 0;
  return -((p - off) * MULTI + 2);
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
