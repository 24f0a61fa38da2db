// A compact event recorder: each event is a variable-length record in a stream of int32 words (one meta word, then
// only the words its values need; ~8 bytes per event on a write workload), no object per event on the hot path.
// Fewer bytes per event is what makes recording cheap: fresh memory costs page faults. Readers go through the
// accessors (kindAt, aAt, get, ...), which decode sequentially from a cursor, so a forward scan costs O(1) per event.
import { EventKind } from "./event-kind.js";
import { EVENT_KIND_COUNT } from "./event-schema.js";

export interface EngineEvent {
  seq: number;
  kind: EventKind;
  request: number;
  /** Which image node of a backing chain (0 = the active layer). */
  node: number;
  cache: number;
  slot: number;
  a: number;
  b: number;
  c: number;
  /** A fourth payload, used by few kinds (AddTask: qiov_offset * 2 + 1 when the request has an AIO task pool). */
  d: number;
}

export interface EventSink {
  enabled: boolean;
  /** The request id events are attributed to. */
  request: number;
  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void;
  /**
   * A cache hit with nothing between its two events: qcow2_cache_get (slot -1, a = offset, b = readFromDisk) and
   * qcow2_cache_get_done (slot, a = offset, b = 0), which the recorder stores as one record. Returns false, having
   * done nothing, when the two must go through emit() one by one (a listener may stop between them; a re-execution
   * compares them one by one): the caller then emits them itself.
   */
  cacheHit(node: number, cache: number, slot: number, offset: number, readFromDisk: number): boolean;
}

// The meta word: kind (6 bits) | request mode << 6 | a 3-bit value mode for node, cache, slot, a, b, c and d | PAIR.
// Value modes: 0, 1 and -1 take no word (the commonest values); INT: one word; SECTORS: one word, the value / 512
// (sector-aligned offsets up to 1 TiB); WIDE: the exact double in two words. Request modes: SAME as the event
// before (at a block's first event: the block's base request), DELTA from it in one word, or ABS (two words).
// PAIR: the record is two events, a cache_get and the cache_get_done of its hit (cacheHit(); 41% of a write
// workload's events): same request, node, cache and offset, and the get_done's slot in one last word.
const V_ZERO = 0;
const V_ONE = 1;
const V_MINUS_ONE = 2;
const V_INT = 3;
const V_SECTORS = 4;
const V_WIDE = 5;
const SECTOR = 512;
const R_SAME = 0;
const R_DELTA = 1;
const R_ABS = 2;
const REQ_SHIFT = 6;
const NODE_SHIFT = 8;
const CACHE_SHIFT = 11;
const SLOT_SHIFT = 14;
const A_SHIFT = 17;
const B_SHIFT = 20;
const C_SHIFT = 23;
const D_SHIFT = 26;
const PAIR = 1 << 29;
if (EVENT_KIND_COUNT > 64) throw new Error("event recorder: kinds need more than the meta word's 6 bits");

/** Words per chunk (1 MiB). A record never straddles chunks: one that might not fit starts the next chunk. */
const CHUNK_WORDS = 1 << 18;
/** The longest record: meta, 2 request words, 7 values of up to 2 words, the pair's slot. */
const MAX_RECORD = 1 + 2 + 14 + 1;
/** Events per block: each block's first record position and request are indexed, for random access. */
const BLOCK_BITS = 6;
const BLOCK = 1 << BLOCK_BITS;

const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);

/** Writes v's words (if any) at p; returns the next position << 3 | v's value mode. */
function enc(ch: Int32Array, p: number, v: number): number {
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
function putWide(ch: Int32Array, p: number, v: number): number {
  f64[0] = v;
  ch[p] = i32[0]!;
  ch[p + 1] = i32[1]!;
  return p + 2;
}

export class EventRecorder implements EventSink {
  enabled = true;
  request = 0;
  length = 0;
  /** Counts per kind, kept even when recording is off so statistics stay cheap. */
  readonly counts = new Float64Array(EVENT_KIND_COUNT);
  private chunks: Int32Array[] = [];
  /** Events physically held (>= length: a rewind keeps what lies past the end, see rewind()). */
  private held = 0;
  /** Per block: the chunk * CHUNK_WORDS + word of its first record, and its first event's request. */
  private blockPos = new Float64Array(64);
  private blockReq = new Float64Array(64);
  // The writer: where event `held` goes (valid while wch is not null) and the request of the event before it.
  private wch: Int32Array | null = null;
  private wci = 0;
  private wp = 0;
  private lastReq = 0;
  // The reader's cursor: the record holding event rIdx (its first event, chunk, word, length, request), decoded.
  private rIdx = -1;
  private rRec = 0;
  private rCi = 0;
  private rOff = 0;
  private rLen = 0;
  private rReq = 0;
  private rPair = false;
  private rp = 0;
  private rch: Int32Array = new Int32Array(0);
  private fKind = 0;
  private fNode = 0;
  private fCache = 0;
  private fSlot = 0;
  private fA = 0;
  private fB = 0;
  private fC = 0;
  private fD = 0;
  private fSlot2 = 0;
  private listeners: ((e: EngineEvent) => void)[] = [];

  /** The capacity argument of earlier versions is accepted and ignored: storage grows in fixed chunks. */
  constructor(_initialCapacity?: number) {}

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void {
    this.counts[kind]!++;
    if (!this.enabled) return;
    const i = this.length;
    if (i !== this.held || this.wch === null) {
      // Re-execution after a rewind writes the same events again: keep them; the first that differs drops the rest.
      if (i < this.held) {
        if (this.sameAt(i, kind, node, cache, slot, a, b, c, d ?? 0)) return this.done(i);
        this.dropFrom(i);
      }
      this.seekWrite(i);
    }
    const req = this.request;
    if (this.wp + MAX_RECORD > CHUNK_WORDS) this.nextChunk();
    const ch = this.wch!;
    // The write position lives in a local (p) and each value's encoder hands back (p << 3) | its mode.
    const at = this.wp;
    let p = at + 1;
    if ((i & (BLOCK - 1)) === 0) this.startBlock(i, req, at);
    let meta: number = kind;
    const dr = req - this.lastReq;
    if (dr !== 0) {
      if ((dr | 0) === dr) {
        meta |= R_DELTA << REQ_SHIFT;
        ch[p++] = dr;
      } else {
        meta |= R_ABS << REQ_SHIFT;
        p = putWide(ch, p, req);
      }
      this.lastReq = req;
    }
    // node 0, cache and slot -1, b and c 0 are the common cases: tested here, the rest through enc().
    let r = 0;
    if (node !== 0) {
      r = enc(ch, p, node);
      meta |= (r & 7) << NODE_SHIFT;
      p = r >>> 3;
    }
    if (cache === -1) meta |= V_MINUS_ONE << CACHE_SHIFT;
    else {
      r = enc(ch, p, cache);
      meta |= (r & 7) << CACHE_SHIFT;
      p = r >>> 3;
    }
    if (slot === -1) meta |= V_MINUS_ONE << SLOT_SHIFT;
    else {
      r = enc(ch, p, slot);
      meta |= (r & 7) << SLOT_SHIFT;
      p = r >>> 3;
    }
    r = enc(ch, p, a);
    meta |= (r & 7) << A_SHIFT;
    p = r >>> 3;
    if (b !== 0) {
      r = enc(ch, p, b);
      meta |= (r & 7) << B_SHIFT;
      p = r >>> 3;
    }
    if (c !== 0) {
      r = enc(ch, p, c);
      meta |= (r & 7) << C_SHIFT;
      p = r >>> 3;
    }
    if (d !== undefined && d !== 0) {
      r = enc(ch, p, d);
      meta |= (r & 7) << D_SHIFT;
      p = r >>> 3;
    }
    this.wp = p;
    ch[at] = meta;
    this.held = i + 1;
    this.length = i + 1;
    if (this.listeners.length !== 0) this.notify(i);
  }

  cacheHit(node: number, cache: number, slot: number, offset: number, readFromDisk: number): boolean {
    if (this.listeners.length !== 0) return false;
    if (!this.enabled) {
      this.counts[EventKind.CacheGet]!++;
      this.counts[EventKind.CacheGetDone]!++;
      return true;
    }
    const i = this.length;
    // An int32 slot, and a pair not cut by a block start, fit the pair record.
    if (i !== this.held || this.wch === null || (slot | 0) !== slot || (i & (BLOCK - 1)) === BLOCK - 1) return false;
    this.counts[EventKind.CacheGet]!++;
    this.counts[EventKind.CacheGetDone]!++;
    if (this.wp + MAX_RECORD > CHUNK_WORDS) this.nextChunk();
    const ch = this.wch!;
    const at = this.wp;
    let p = at + 1;
    const req = this.request;
    if ((i & (BLOCK - 1)) === 0) this.startBlock(i, req, at);
    let meta = EventKind.CacheGet | PAIR | (V_MINUS_ONE << SLOT_SHIFT);
    const dr = req - this.lastReq;
    if (dr !== 0) {
      if ((dr | 0) === dr) {
        meta |= R_DELTA << REQ_SHIFT;
        ch[p++] = dr;
      } else {
        meta |= R_ABS << REQ_SHIFT;
        p = putWide(ch, p, req);
      }
      this.lastReq = req;
    }
    let r = 0;
    if (node !== 0) {
      r = enc(ch, p, node);
      meta |= (r & 7) << NODE_SHIFT;
      p = r >>> 3;
    }
    r = enc(ch, p, cache);
    meta |= (r & 7) << CACHE_SHIFT;
    r = enc(ch, r >>> 3, offset);
    meta |= (r & 7) << A_SHIFT;
    r = enc(ch, r >>> 3, readFromDisk);
    meta |= (r & 7) << B_SHIFT;
    p = r >>> 3;
    ch[p++] = slot;
    this.wp = p;
    ch[at] = meta;
    this.held = i + 2;
    this.length = i + 2;
    return true;
  }

  /** Event i is in the log: the length moves past it and the listeners see it. */
  private done(i: number): void {
    this.length = i + 1;
    if (this.listeners.length !== 0) this.notify(i);
  }

  private notify(i: number): void {
    const e = this.get(i);
    for (const l of this.listeners) l(e);
  }

  private startBlock(i: number, req: number, at: number): void {
    const b = i >> BLOCK_BITS;
    if (b >= this.blockPos.length) {
      const pos = new Float64Array(this.blockPos.length * 2);
      pos.set(this.blockPos);
      this.blockPos = pos;
      const rq = new Float64Array(this.blockReq.length * 2);
      rq.set(this.blockReq);
      this.blockReq = rq;
    }
    this.blockPos[b] = this.wci * CHUNK_WORDS + at;
    this.blockReq[b] = req;
    this.lastReq = req;
  }

  private nextChunk(): void {
    this.wci++;
    this.wp = 0;
    this.wch = this.chunkAt(this.wci);
  }

  private chunkAt(ci: number): Int32Array {
    let ch = this.chunks[ci];
    if (ch === undefined) {
      ch = new Int32Array(CHUNK_WORDS);
      this.chunks[ci] = ch;
    }
    return ch;
  }

  /** Puts the writer at the end of event i - 1's record (i === held). */
  private seekWrite(i: number): void {
    if (i === 0) {
      this.wci = 0;
      this.wp = 0;
      this.lastReq = this.request;
    } else {
      this.at(i - 1);
      this.wci = this.rCi;
      this.wp = this.rOff + this.rLen;
      this.lastReq = this.rReq;
    }
    this.wch = this.chunkAt(this.wci);
  }

  /** Forgets the events held from i on (the chunks stay, to be written over); a pair cut in two keeps its first. */
  private dropFrom(i: number): void {
    if (i > 0) {
      this.at(i - 1);
      if (this.rPair && this.rRec === i - 1) {
        const ch = this.chunks[this.rCi]!;
        ch[this.rOff] = ch[this.rOff]! & ~PAIR;
        this.rPair = false;
        this.rLen--;
      }
    }
    this.held = i;
    if (this.rIdx >= i) this.rIdx = -1;
    this.wch = null;
  }

  private sameAt(i: number, kind: number, node: number, cache: number, slot: number, a: number, b: number, c: number, d: number): boolean {
    this.at(i);
    return this.fKind === kind && this.rReq === this.request && this.fNode === node && this.fCache === cache && this.fSlot === slot && this.fA === a && this.fB === b && this.fC === c && this.fD === d;
  }

  // --- reading ---

  /** Decodes event i into the f* fields (and moves the cursor there). */
  private at(i: number): void {
    if (i === this.rIdx) return;
    if (!(i >= 0 && i < this.held)) throw new RangeError(`event ${i} is not in the log (${this.held} held)`);
    if (this.rIdx >= 0 && i > this.rIdx && i >> BLOCK_BITS === this.rIdx >> BLOCK_BITS) {
      if (this.rPair && i === this.rRec + 1) return this.second(i);
    } else {
      // Start from the block's first record: the cursor stands just before it.
      const b = i >> BLOCK_BITS;
      const pos = this.blockPos[b]!;
      this.rCi = Math.floor(pos / CHUNK_WORDS);
      this.rOff = pos - this.rCi * CHUNK_WORDS;
      this.rRec = b << BLOCK_BITS;
      this.decode(this.blockReq[b]!);
      if (this.rPair && i === this.rRec + 1) return this.second(i);
      if (i === this.rRec) return this.first(i);
    }
    // Step forward record by record.
    for (;;) {
      const next = this.rRec + (this.rPair ? 2 : 1);
      this.rOff += this.rLen;
      if (this.rOff + MAX_RECORD > CHUNK_WORDS) {
        this.rCi++;
        this.rOff = 0;
      }
      this.rRec = next;
      this.decode((next & (BLOCK - 1)) === 0 ? this.blockReq[next >> BLOCK_BITS]! : this.rReq);
      if (i === next) return this.first(i);
      if (this.rPair && i === next + 1) return this.second(i);
    }
  }

  private first(i: number): void {
    this.rIdx = i;
    if (this.rPair) {
      // The cache_get of a pair: no slot, nothing in c or d.
      this.fSlot = -1;
    }
  }

  private second(i: number): void {
    this.rIdx = i;
    this.fKind = EventKind.CacheGetDone;
    this.fSlot = this.fSlot2;
    this.fB = 0;
  }

  /** Decodes the record at (rCi, rOff), whose previous event has request prevReq. */
  private decode(prevReq: number): void {
    const ch = this.chunks[this.rCi]!;
    this.rch = ch;
    const m = ch[this.rOff]!;
    this.rp = this.rOff + 1;
    this.fKind = m & 63;
    const rm = (m >>> REQ_SHIFT) & 3;
    if (rm === R_SAME) this.rReq = prevReq;
    else if (rm === R_DELTA) this.rReq = prevReq + ch[this.rp++]!;
    else this.rReq = this.wide();
    this.fNode = this.take((m >>> NODE_SHIFT) & 7);
    this.fCache = this.take((m >>> CACHE_SHIFT) & 7);
    this.fSlot = this.take((m >>> SLOT_SHIFT) & 7);
    this.fA = this.take((m >>> A_SHIFT) & 7);
    this.fB = this.take((m >>> B_SHIFT) & 7);
    this.fC = this.take((m >>> C_SHIFT) & 7);
    this.fD = this.take((m >>> D_SHIFT) & 7);
    this.rPair = (m & PAIR) !== 0;
    if (this.rPair) this.fSlot2 = ch[this.rp++]!;
    this.rLen = this.rp - this.rOff;
  }

  private take(mode: number): number {
    switch (mode) {
      case V_ZERO:
        return 0;
      case V_ONE:
        return 1;
      case V_MINUS_ONE:
        return -1;
      case V_INT:
        return this.rch[this.rp++]!;
      case V_SECTORS:
        return this.rch[this.rp++]! * SECTOR;
      default:
        return this.wide();
    }
  }

  private wide(): number {
    i32[0] = this.rch[this.rp++]!;
    i32[1] = this.rch[this.rp++]!;
    return f64[0]!;
  }

  onEvent(l: (e: EngineEvent) => void): () => void {
    this.listeners.push(l);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }

  kindAt(i: number): EventKind {
    this.at(i);
    return this.fKind as EventKind;
  }
  requestAt(i: number): number {
    this.at(i);
    return this.rReq;
  }
  slotAt(i: number): number {
    this.at(i);
    return this.fSlot;
  }
  cacheAt(i: number): number {
    this.at(i);
    return this.fCache;
  }
  nodeAt(i: number): number {
    this.at(i);
    return this.fNode;
  }
  aAt(i: number): number {
    this.at(i);
    return this.fA;
  }
  bAt(i: number): number {
    this.at(i);
    return this.fB;
  }
  cAt(i: number): number {
    this.at(i);
    return this.fC;
  }
  dAt(i: number): number {
    this.at(i);
    return this.fD;
  }

  get(i: number): EngineEvent {
    this.at(i);
    return { seq: i, kind: this.fKind as EventKind, request: this.rReq, node: this.fNode, cache: this.fCache, slot: this.fSlot, a: this.fA, b: this.fB, c: this.fC, d: this.fD };
  }

  *events(from = 0, to = this.length): Generator<EngineEvent> {
    for (let i = from; i < to; i++) yield this.get(i);
  }

  /** Drops events from index n on, and the memory past them (time travel re-executes from a checkpoint). */
  truncate(n: number): void {
    if (n < this.length) {
      this.dropFrom(n);
      this.length = n;
      this.seekWrite(n);
      this.chunks.length = this.wci + 1;
    }
  }

  /**
   * Moves the end of the log to n, backwards or forwards up to the furthest event still held, keeping what lies
   * past it: time travel re-executes deterministically, so the events past the end are the ones written again
   * (each is compared as it comes; the first that differs drops what was held from there on).
   */
  rewind(n: number): void {
    if (!(n >= 0 && n <= this.held)) throw new RangeError(`cannot rewind the event log to ${n}: ${this.held} events are held`);
    this.length = n;
    this.wch = null;
  }

  clear(): void {
    this.held = 0;
    this.length = 0;
    this.counts.fill(0);
    this.chunks = [];
    this.rIdx = -1;
    this.wch = null;
  }

  /** Bytes the records of the held events take, per event (for the memory benchmark). */
  bytesPerEvent(): number {
    if (this.held === 0) return 0;
    this.at(this.held - 1);
    return Math.round(((this.rCi * CHUNK_WORDS + this.rOff + this.rLen) * 4 * 10) / this.held) / 10;
  }
  /** Values kept outside the records: none since every value is inline (kept for callers of the old layout). */
  sideValues(): number {
    return 0;
  }
  capacityBytes(): number {
    return this.chunks.length * CHUNK_WORDS * 4;
  }
}
