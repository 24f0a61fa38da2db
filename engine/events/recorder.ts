// A compact event recorder: each event is a variable-length record in a stream of int32 words (one meta word, then
// only the words its values need; ~6 bytes per event on a write workload), no object per event on the hot path.
// Fewer bytes per event is what makes recording cheap: fresh memory costs page faults. This is the writing side
// (emit, cacheHit, rewind, truncate, listeners); the records and the readers' accessors are event-log.ts.
import { EventKind } from "./event-kind.js";
import { EventLog, WINDOW, type EngineEvent } from "./event-log.js";
import { EVENT_KIND_COUNT } from "./event-schema.js";
import {
  A_SHIFT, B_SHIFT, BLOCK, BLOCK_BITS, C_SHIFT, CACHE_SHIFT, CHUNK_WORDS, D_SHIFT, enc, MAX_RECORD, NODE_SHIFT, PAIR, PREPEAT, R_A,
  R_B, R_C, R_PAIR, REQ_SHIFT, putRequest, SHAPE, SHAPE_COUNT_SHIFT, SHAPE_FIRST_SHIFT, SHAPE_KEPT_MASK, SHAPE_KEPT_SHIFT, SLOT_SHIFT, V_INT, V_MINUS_ONE, V_REG,
} from "./event-record.js";
import { putShapeValues, SHAPE_COUNT, SHAPES } from "./event-shapes.js";

export type { EngineEvent } from "./event-log.js";

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
  /**
   * True when nothing looks at the engine between two events (no listener, no tee): the engine may then do a
   * request's work in another order than its events say, as the write fast path (image/fast-write.ts) does,
   * emitting the same events. Absent: false.
   */
  batchable?(): boolean;
  /**
   * Events 0.. of request shape `id` (event-shapes.ts) with values `v`, at once. Returns false, having done nothing,
   * when they must come one by one (emitShape() then emits them).
   */
  shape?(id: number, v: Float64Array): boolean;
}

/** The last write position from which any record fits its chunk (the fast paths test only this). */
const FAST_WP = CHUNK_WORDS - MAX_RECORD;

export class EventRecorder extends EventLog implements EventSink {
  enabled = true;
  request = 0;
  private readonly kindCounts = new Float64Array(EVENT_KIND_COUNT);
  /** Shapes recorded (per shape id) whose events are not in kindCounts yet: counted when someone reads counts. */
  private readonly shapeCounts = new Float64Array(SHAPE_COUNT);
  private shapesPending = false;
  // The writer: where event `held` goes (valid while wch is not null) and the request of the event before it.
  private wch: Int32Array | null = null;
  private wci = 0;
  private wp = 0;
  private lastReq = 0;
  /**
   * Events before this index (and past the last one written) take emit()'s fast path: set by refreshFast() to the
   * next block start when the writer is at the end of the log and no listener listens; 0 forces the slow path,
   * which sets it again. A reader following the writer is served on either path (followOne, followPair).
   */
  private fastEnd = 0;
  // The writer's registers (event-record.ts, Regs): the last value columns a, b and c stored in words in this
  // block, and per cache 0 and 1 its last pair record's node, offset, readFromDisk and slot.
  private ra = NaN;
  private rb = NaN;
  private rc = NaN;
  private readonly pairRegs = new Float64Array(8).fill(NaN);
  private listeners: ((e: EngineEvent) => void)[] = [];
  /**
   * Where chunks come from two at a time, when set: a region of `bytes` zeroes (two chunks), or undefined (one
   * plain chunk then). A replay's owner gives storage/huge-region.ts's hugeRegion: a long trace's log is written
   * once, fresh, and page faults on it were a tenth of the engine's time (events import nothing of ours).
   */
  chunkRegion: ((bytes: number) => ArrayBuffer | undefined) | null = null;

  /** The capacity argument of earlier versions is accepted and ignored: storage grows in fixed chunks. */
  constructor(_initialCapacity?: number) {
    super();
  }

  /** Events per kind, kept even when recording is off so statistics stay cheap (writable: checkpoints restore it). */
  get counts(): Float64Array {
    if (this.shapesPending) {
      // A shape counts each of its events: added up here, not per request on the write path.
      const c = this.kindCounts;
      for (let id = 0; id < SHAPE_COUNT; id++) {
        const k = this.shapeCounts[id]!;
        if (k === 0) continue;
        const kinds = SHAPES[id]!.kind;
        for (let e = 0; e < kinds.length; e++) c[kinds[e]!]! += k;
      }
      this.shapeCounts.fill(0);
      this.shapesPending = false;
    }
    return this.kindCounts;
  }

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void {
    this.kindCounts[kind]!++;
    if (!this.enabled) return;
    const i = this.length;
    if (i < this.fastEnd && this.wp <= FAST_WP) {
      // The common case, with what emitSlow() tests known false (see fastEnd): the record and nothing else.
      const at = this.wp;
      const p = this.writeRecord(at, kind, node, cache, slot, a, b, c, d);
      this.held = this.length = i + 1;
      if (this.follow) this.followOne(i, kind, this.request, node, cache, slot, a, b, c, d === undefined ? 0 : d, this.wci * CHUNK_WORDS + at, p - at);
      return;
    }
    this.emitSlow(i, kind, node, cache, slot, a, b, c, d);
  }

  /** emit() when the writer must move, a block starts, a chunk fills or a listener listens. */
  private emitSlow(i: number, kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d: number | undefined): void {
    if (i !== this.held || this.wch === null) {
      // Re-execution after a rewind writes the same events again: keep them; the first that differs drops the rest.
      if (i < this.held) {
        if (this.sameAt(i, kind, node, cache, slot, a, b, c, d ?? 0)) return this.done(i);
        this.dropFrom(i);
      }
      this.seekWrite(i);
    }
    if (this.wp + MAX_RECORD > CHUNK_WORDS) this.nextChunk();
    const at = this.wp;
    if ((i & (BLOCK - 1)) === 0) this.startBlock(i, this.request, at);
    const p = this.writeRecord(at, kind, node, cache, slot, a, b, c, d);
    if (this.follow) this.followOne(i, kind, this.request, node, cache, slot, a, b, c, d === undefined ? 0 : d, this.wci * CHUNK_WORDS + at, p - at);
    this.held = i + 1;
    this.length = i + 1;
    this.refreshFast();
    if (this.listeners.length !== 0) this.notify(i);
  }

  /**
   * The record's request number at word `p` when it changed since the last record (the common case writes
   * nothing): returns (the position after it << 2) | its mode for the meta word (0: the same request).
   */
  private putReq(ch: Int32Array, p: number): number {
    const req = this.request;
    const dr = req - this.lastReq;
    if (dr === 0) return p << 2;
    this.lastReq = req;
    return putRequest(ch, p, req, dr);
  }

  /**
   * Encodes one event as the record at word `at` of the current chunk (room for MAX_RECORD words is the caller's
   * business), moves the write position past it and returns that position.
   */
  private writeRecord(at: number, kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d: number | undefined): number {
    const ch = this.wch!;
    // The write position lives in a local (p) and each value's encoder hands back (p << 3) | its mode.
    let p = at + 1;
    let meta: number = kind;
    const rq = this.putReq(ch, p);
    meta |= (rq & 3) << REQ_SHIFT;
    p = rq >>> 2;
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
    // a, b, c: the column's register when equal (REG), else the value, which (stored in words) becomes it.
    if (a === this.ra) meta |= V_REG << A_SHIFT;
    else {
      r = enc(ch, p, a);
      meta |= (r & 7) << A_SHIFT;
      p = r >>> 3;
      if ((r & 7) >= V_INT) this.ra = a;
    }
    if (b !== 0) {
      if (b === this.rb) meta |= V_REG << B_SHIFT;
      else {
        r = enc(ch, p, b);
        meta |= (r & 7) << B_SHIFT;
        p = r >>> 3;
        if ((r & 7) >= V_INT) this.rb = b;
      }
    }
    if (c !== 0) {
      if (c === this.rc) meta |= V_REG << C_SHIFT;
      else {
        r = enc(ch, p, c);
        meta |= (r & 7) << C_SHIFT;
        p = r >>> 3;
        if ((r & 7) >= V_INT) this.rc = c;
      }
    }
    if (d !== undefined && d !== 0) {
      r = enc(ch, p, d);
      meta |= (r & 7) << D_SHIFT;
      p = r >>> 3;
    }
    ch[at] = meta;
    this.wp = p;
    return p;
  }


  /** The reader's registers taken from the writer's, which readerRegsAtWriter says are the same. */
  protected syncReaderRegs(): void {
    this.readerRegsAtWriter = false;
    const d = this.dRegs;
    const pr = this.pairRegs;
    d[R_A] = this.ra;
    d[R_B] = this.rb;
    d[R_C] = this.rc;
    for (let k = 0; k < 8; k++) d[R_PAIR + k] = pr[k]!;
  }


  /**
   * Sets fastEnd: the events after the last one written go the fast way up to the next block start while the
   * writer is at the end of the log and no listener listens; 0 when either is false. Whatever changes one of
   * these (seekWrite, dropFrom, rewind, truncate, clear, onEvent) sets it to 0, and the next emitSlow() sets it again.
   */
  private refreshFast(): void {
    const n = this.length;
    this.fastEnd = this.wch !== null && n === this.held && this.listeners.length === 0 ? (n + BLOCK - 1) & ~(BLOCK - 1) : 0;
  }

  cacheHit(node: number, cache: number, slot: number, offset: number, readFromDisk: number): boolean {
    const i = this.length;
    // Both halves before the next block start and no listener (see fastEnd): the record (and a follower's copy).
    const fast = i + 1 < this.fastEnd && this.enabled && this.wp <= FAST_WP;
    if (!fast) {
      if (this.listeners.length !== 0) return false;
      if (!this.enabled) {
        this.kindCounts[EventKind.CacheGet]!++;
        this.kindCounts[EventKind.CacheGetDone]!++;
        return true;
      }
      // An int32 slot, and a pair not cut by a block start, fit the pair record.
      if (i !== this.held || this.wch === null || (i & (BLOCK - 1)) === BLOCK - 1) return false;
    }
    if ((slot | 0) !== slot) return false;
    this.kindCounts[EventKind.CacheGet]!++;
    this.kindCounts[EventKind.CacheGetDone]!++;
    if (!fast && this.wp + MAX_RECORD > CHUNK_WORDS) this.nextChunk();
    const ch = this.wch!;
    const at = this.wp;
    let p = at + 1;
    const req = this.request;
    if (!fast && (i & (BLOCK - 1)) === 0) this.startBlock(i, req, at);
    let meta = EventKind.CacheGet | PAIR | (V_MINUS_ONE << SLOT_SHIFT);
    const rq = this.putReq(ch, p);
    meta |= (rq & 3) << REQ_SHIFT;
    p = rq >>> 2;
    // The L2 and refcount caches' pairs (the only ones) repeat: the same table again is the meta word alone.
    const pr = this.pairRegs;
    const rb = 4 * cache;
    if ((cache === 0 || cache === 1) && pr[rb] === node && pr[rb + 1] === offset && pr[rb + 2] === readFromDisk && pr[rb + 3] === slot) {
      meta |= PREPEAT | (cache << CACHE_SHIFT);
    } else {
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
      if (cache === 0 || cache === 1) {
        pr[rb] = node;
        pr[rb + 1] = offset;
        pr[rb + 2] = readFromDisk;
        pr[rb + 3] = slot;
      }
    }
    this.wp = p;
    ch[at] = meta;
    this.held = this.length = i + 2;
    if (this.follow) this.followPair(i, req, node, cache, slot, offset, readFromDisk, this.wci * CHUNK_WORDS + at, p - at);
    if (!fast) this.refreshFast();
    return true;
  }

  batchable(): boolean {
    return this.listeners.length === 0;
  }

  /**
   * A request shape's events as one record per block they fall in (a shape crossing a block start is split there,
   * so a block still decodes from its first record). Only at the end of the log with no listener: a re-execution
   * compares event by event, and a listener may stop between any two.
   */
  shape(id: number, v: Float64Array): boolean {
    const s = SHAPES[id]!;
    const n = s.events;
    const i = this.length;
    if (this.enabled) {
      if (i !== this.held || this.listeners.length !== 0) return false;
      if (this.wch === null) this.seekWrite(i);
      for (let first = 0; first < n; ) {
        const e = i + first;
        if (this.wp + MAX_RECORD > CHUNK_WORDS) this.nextChunk();
        const at = this.wp;
        if ((e & (BLOCK - 1)) === 0) this.startBlock(e, this.request, at);
        const count = Math.min(n - first, BLOCK - (e & (BLOCK - 1)));
        const p = this.writeShape(at, id, first, count, v);
        if (this.follow) this.followShape(e, id, first, count, v, this.request, this.wci * CHUNK_WORDS + at, p - at);
        first += count;
      }
      this.held = this.length = i + n;
      this.refreshFast();
    }
    this.shapeCounts[id]!++;
    this.shapesPending = true;
    return true;
  }

  /** The record of events [first, first + count) of shape `id` at word `at`; returns the position after it. */
  private writeShape(at: number, id: number, first: number, count: number, v: Float64Array): number {
    const ch = this.wch!;
    let p = at + 1;
    let meta = SHAPE | id | (first << SHAPE_FIRST_SHIFT) | (count << SHAPE_COUNT_SHIFT) | (count << SHAPE_KEPT_SHIFT);
    const rq = this.putReq(ch, p);
    meta |= (rq & 3) << REQ_SHIFT;
    p = rq >>> 2;
    p = putShapeValues(ch, p, id, first, count, v);
    ch[at] = meta;
    this.wp = p;
    return p;
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
    // A block decodes from its first record alone: its records refer to no register set before it.
    this.ra = this.rb = this.rc = NaN;
    const pr = this.pairRegs;
    for (let k = 0; k < 8; k++) pr[k] = NaN;
    // The window follows the writer (see emit()): it keeps the block before this one.
    if (!this.follow) return;
    if (i - this.cBase !== this.cCount) {
      this.cBase = i;
      this.cCount = 0;
    } else if (this.cCount === WINDOW) {
      // Full: the older block leaves (its slots are the ones this block's events take next).
      this.cBase += BLOCK;
      this.cCount -= BLOCK;
    }
  }

  private nextChunk(): void {
    this.wci++;
    this.wp = 0;
    this.wch = this.chunkAt(this.wci);
  }

  private chunkAt(ci: number): Int32Array {
    let ch = this.chunks[ci];
    if (ch === undefined) {
      // An even chunk whose odd neighbour is not there yet takes a two-chunk region when the owner gives them.
      const pair = (ci & 1) === 0 && this.chunks[ci + 1] === undefined ? this.chunkRegion?.(CHUNK_WORDS * 8) : undefined;
      if (pair) {
        ch = new Int32Array(pair, 0, CHUNK_WORDS);
        this.chunks[ci + 1] = new Int32Array(pair, CHUNK_WORDS * 4, CHUNK_WORDS);
      } else ch = new Int32Array(CHUNK_WORDS);
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
      let k = this.ensure(i - 1);
      // The reader's registers are those at the end of its window, which (i being the end of the log) is i; a
      // window ending elsewhere is decoded again from its block's start.
      if (this.cBase + this.cCount !== i) {
        this.cCount = 0;
        this.readerRegsAtWriter = false;
        k = this.ensure(i - 1);
      }
      if (this.readerRegsAtWriter) this.syncReaderRegs();
      const end = this.cPos[k]! + this.cLen[k]!;
      this.wci = Math.floor(end / CHUNK_WORDS);
      this.wp = end - this.wci * CHUNK_WORDS;
      this.lastReq = this.c.req[k]!;
      const d = this.dRegs;
      this.ra = d[R_A]!;
      this.rb = d[R_B]!;
      this.rc = d[R_C]!;
      this.pairRegs.set(d.subarray(R_PAIR, R_PAIR + 8));
    }
    this.wch = this.chunkAt(this.wci);
  }

  /** Forgets the events held from i on (the chunks stay, to be written over); a pair cut in two keeps its first. */
  private dropFrom(i: number): void {
    if (i > 0) {
      const k = this.ensure(i - 1);
      const h = this.cHalf[k]!;
      if (h !== 0) {
        const pos = this.cPos[k]!;
        const ci = Math.floor(pos / CHUNK_WORDS);
        const ch = this.chunks[ci]!;
        const off = pos - ci * CHUNK_WORDS;
        const m = ch[off]!;
        // A shape record keeps its first h events; a pair its get: the get_done's slot is the record's last word,
        // and without the PAIR bit the record ends before it.
        if (m < 0) ch[off] = (m & ~SHAPE_KEPT_MASK) | (h << SHAPE_KEPT_SHIFT);
        else if (h === 1) ch[off] = m & ~PAIR;
      }
    }
    this.held = i;
    this.cCount = 0;
    this.readerRegsAtWriter = false;
    this.wch = null;
    this.fastEnd = 0;
  }

  private sameAt(i: number, kind: number, node: number, cache: number, slot: number, a: number, b: number, c: number, d: number): boolean {
    const k = this.ensure(i);
    const e = this.c;
    return e.kind[k] === kind && e.req[k] === this.request && e.node[k] === node && e.cache[k] === cache && e.slot[k] === slot && e.a[k] === a && e.b[k] === b && e.c[k] === c && e.d[k] === d;
  }

  onEvent(l: (e: EngineEvent) => void): () => void {
    this.listeners.push(l);
    this.fastEnd = 0;
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
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
    this.fastEnd = 0;
  }

  clear(): void {
    this.readerRegsAtWriter = false;
    this.held = 0;
    this.length = 0;
    this.kindCounts.fill(0);
    this.shapeCounts.fill(0);
    this.shapesPending = false;
    this.chunks = [];
    this.cCount = 0;
    this.wch = null;
    this.fastEnd = 0;
  }

}
