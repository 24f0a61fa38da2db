// A compact event recorder: six int32 words per event (24 bytes), interleaved in fixed chunks, no object per
// event on the hot path. Payloads are doubles in the API but almost always int32s or sector-aligned offsets under
// 1 TiB, so each takes one word and 2 mode bits; anything else (and the rare fourth payload d) is kept exactly in
// a sparse map. Fewer bytes per event is what makes recording cheap: fresh memory costs page faults.
import type { EventKind } from "./event-kind.js";
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
}

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const MASK = CHUNK - 1;
/** Int32 words per event, interleaved in one array per chunk: meta, request, slot, a, b, c. */
const W = 6;

// meta: kind | node << 8 | (cache + 1) << 16 | how each payload column is stored << 19 | HAS_D | MISC.
// a, b and c each take 2 bits: RAW (the word is the value), SCALED (the word is the value / 512: sector-aligned
// offsets up to 1 TiB, the common case) or WIDE (the exact double lives in `wide`). HAS_D: d is not 0 (in
// `wide`). The request word is the request's distance from the chunk's first one (an int32 whatever the log's
// length: a dropped-and-rewritten log, such as a long replay's, reuses chunks for ever later requests). MISC:
// one of request, slot, cache or node did not fit its bits, and all four live in `wide`.
const RAW = 0;
const SCALED = 1;
const WIDE = 2;
const SCALE = 512;
const A_SHIFT = 19;
const B_SHIFT = 21;
const C_SHIFT = 23;
const HAS_D = 1 << 25;
const MISC = 1 << 26;

export class EventRecorder implements EventSink {
  enabled = true;
  request = 0;
  length = 0;
  /**
   * The values that did not fit their column's word, by event index * 8 + field (0-2: a-c, 3: d, 4-7: request,
   * slot, cache, node). Entries past the end or for an event re-written since are stale and harmless: the meta word says whether to
   * look here, so re-execution after a rewind never has to delete.
   */
  private wide = new Map<number, number>();
  /** Counts per kind, kept even when recording is off so statistics stay cheap. */
  readonly counts = new Float64Array(EVENT_KIND_COUNT);
  private chunks: Int32Array[] = [];
  /** Per chunk, the request its request words count from (the first one recorded in it). */
  private bases: number[] = [];
  private cur: Int32Array | null = null;
  private curBase = 0;
  private listeners: ((e: EngineEvent) => void)[] = [];
  /** Events held past `length` after a rewind (see rewind()). */
  private extent = 0;

  /** The capacity argument of earlier versions is accepted and ignored: storage grows in fixed chunks. */
  constructor(_initialCapacity?: number) {}

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void {
    this.counts[kind]!++;
    if (!this.enabled) return;
    const i = this.length;
    const o = (i & MASK) * W;
    let ch = this.cur;
    if (o === 0 || ch === null) ch = this.chunkFor(i);
    let meta: number = kind;
    // Each column: its int32 self when it is one, else the sector count, else the exact double on the side.
    let w = a | 0;
    if (w !== a) {
      w = (a / SCALE) | 0;
      if (w * SCALE === a) meta |= SCALED << A_SHIFT;
      else meta |= this.putWide(i, 0, a, A_SHIFT);
    }
    ch[o + 3] = w;
    w = b | 0;
    if (w !== b) {
      w = (b / SCALE) | 0;
      if (w * SCALE === b) meta |= SCALED << B_SHIFT;
      else meta |= this.putWide(i, 1, b, B_SHIFT);
    }
    ch[o + 4] = w;
    w = c | 0;
    if (w !== c) {
      w = (c / SCALE) | 0;
      if (w * SCALE === c) meta |= SCALED << C_SHIFT;
      else meta |= this.putWide(i, 2, c, C_SHIFT);
    }
    ch[o + 5] = w;
    if (d !== undefined && d !== 0) {
      meta |= HAS_D;
      this.wide.set(i * 8 + 3, d);
    }
    const r = this.request - this.curBase;
    const c1 = cache + 1;
    // Each small field an integer within its bits (x & mask === x), else all four exactly on the side.
    if ((r | 0) === r && (slot | 0) === slot && (node & 0xff) === node && (c1 & 7) === c1 && c1 !== 7) meta |= (node << 8) | (c1 << 16);
    else meta |= this.putMisc(i, slot, cache, node);
    ch[o] = meta;
    ch[o + 1] = r;
    ch[o + 2] = slot;
    this.length = i + 1;
    if (this.listeners.length) {
      const e = this.get(i);
      for (const l of this.listeners) l(e);
    }
  }

  /** The chunk event i goes in, created on first use; makes it the current one. */
  private chunkFor(i: number): Int32Array {
    const ci = Math.floor(i / CHUNK);
    let ch = this.chunks[ci];
    if (ch === undefined) {
      ch = new Int32Array(CHUNK * W);
      this.chunks[ci] = ch;
      this.bases[ci] = this.request;
    }
    this.cur = ch;
    this.curBase = this.bases[ci]!;
    return ch;
  }

  /** Keeps the request, slot, cache and node of an event where one of them does not fit; returns MISC. */
  private putMisc(i: number, slot: number, cache: number, node: number): number {
    const k = i * 8;
    this.wide.set(k + 4, this.request);
    this.wide.set(k + 5, slot);
    this.wide.set(k + 6, cache);
    this.wide.set(k + 7, node);
    return MISC;
  }

  /** Keeps a value its word cannot hold exactly; returns its mode bits (WIDE) at `shift`. */
  private putWide(i: number, field: number, v: number, shift: number): number {
    this.wide.set(i * 8 + field, v);
    return WIDE << shift;
  }

  private word(i: number, k: number): number {
    return this.chunks[Math.floor(i / CHUNK)]![(i & MASK) * W + k]!;
  }
  private column(i: number, k: number, field: number, shift: number): number {
    const ch = this.chunks[Math.floor(i / CHUNK)]!;
    const o = (i & MASK) * W;
    const mode = (ch[o]! >>> shift) & 3;
    const w = ch[o + k]!;
    return mode === RAW ? w : mode === SCALED ? w * SCALE : this.wide.get(i * 8 + field)!;
  }

  onEvent(l: (e: EngineEvent) => void): () => void {
    this.listeners.push(l);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }

  kindAt(i: number): EventKind {
    return (this.word(i, 0) & 0xff) as EventKind;
  }
  requestAt(i: number): number {
    const ci = Math.floor(i / CHUNK);
    const o = (i & MASK) * W;
    const ch = this.chunks[ci]!;
    return ch[o]! & MISC ? this.wide.get(i * 8 + 4)! : this.bases[ci]! + ch[o + 1]!;
  }
  slotAt(i: number): number {
    return this.word(i, 0) & MISC ? this.wide.get(i * 8 + 5)! : this.word(i, 2);
  }
  cacheAt(i: number): number {
    const m = this.word(i, 0);
    return m & MISC ? this.wide.get(i * 8 + 6)! : ((m >> 16) & 7) - 1;
  }
  nodeAt(i: number): number {
    const m = this.word(i, 0);
    return m & MISC ? this.wide.get(i * 8 + 7)! : (m >> 8) & 0xff;
  }
  aAt(i: number): number {
    return this.column(i, 3, 0, A_SHIFT);
  }
  bAt(i: number): number {
    return this.column(i, 4, 1, B_SHIFT);
  }
  cAt(i: number): number {
    return this.column(i, 5, 2, C_SHIFT);
  }
  dAt(i: number): number {
    return this.word(i, 0) & HAS_D ? this.wide.get(i * 8 + 3)! : 0;
  }

  get(i: number): EngineEvent {
    return {
      seq: i,
      kind: this.kindAt(i),
      request: this.requestAt(i),
      node: this.nodeAt(i),
      cache: this.cacheAt(i),
      slot: this.slotAt(i),
      a: this.aAt(i),
      b: this.bAt(i),
      c: this.cAt(i),
      d: this.dAt(i),
    };
  }

  *events(from = 0, to = this.length): Generator<EngineEvent> {
    for (let i = from; i < to; i++) yield this.get(i);
  }

  /** Drops events from index n on (time travel re-executes from a checkpoint). */
  truncate(n: number): void {
    if (n < this.length) {
      this.extent = n;
      this.length = n;
      this.chunks.length = Math.ceil(n / CHUNK) || 0;
      this.bases.length = this.chunks.length;
      for (const k of this.wide.keys()) if (k >= n * 8) this.wide.delete(k);
      this.cur = null;
    }
  }

  /**
   * Moves the end of the log to n, backwards or forwards up to the furthest event still held, keeping what lies
   * past it: time travel re-executes deterministically, so the events past the end are the ones written again.
   */
  rewind(n: number): void {
    this.extent = Math.max(this.extent, this.length);
    if (!(n >= 0 && n <= this.extent)) throw new RangeError(`cannot rewind the event log to ${n}: ${this.extent} events are held`);
    this.length = n;
    this.cur = null;
  }

  clear(): void {
    this.extent = 0;
    this.length = 0;
    this.counts.fill(0);
    this.chunks = [];
    this.bases = [];
    this.wide.clear();
    this.cur = null;
  }

  /** Bytes held per event by the columns (for the memory benchmark). */
  bytesPerEvent(): number {
    return 4 * W;
  }
  /** Values held in the side map (ones no word could hold): near 0 in a normal log, or recording got slow. */
  sideValues(): number {
    return this.wide.size;
  }
  capacityBytes(): number {
    return this.chunks.length * CHUNK * this.bytesPerEvent();
  }
}
