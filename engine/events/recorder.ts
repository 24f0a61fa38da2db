// A column-wise event recorder: typed arrays in fixed chunks, no object per event on the hot path.
// 4 (kind, cache and node packed) + 4 (request) + 4 (slot) + 3*8 (payload) = 36 bytes per event, 5 stores.
// The fourth payload (d) is rare (split requests' qiov_offset), so it lives in a sparse map, not a column.
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

/** One chunk of every column; chunks are never copied, so recording cost stays flat as the log grows. */
class Chunk {
  /** kind | (cache + 128) << 8 | node << 16 */
  meta = new Int32Array(CHUNK);
  requests = new Int32Array(CHUNK);
  slots = new Int32Array(CHUNK);
  as = new Float64Array(CHUNK);
  bs = new Float64Array(CHUNK);
  cs = new Float64Array(CHUNK);
}

export class EventRecorder implements EventSink {
  enabled = true;
  request = 0;
  length = 0;
  /** The fourth payload by event index, where it is not 0. */
  private extra = new Map<number, number>();
  /** Counts per kind, kept even when recording is off so statistics stay cheap. */
  readonly counts = new Float64Array(EVENT_KIND_COUNT);
  private chunks: Chunk[] = [];
  private cur: Chunk | null = null;
  private listeners: ((e: EngineEvent) => void)[] = [];
  /** Events held past `length` after a rewind (see rewind()). */
  private extent = 0;

  /** The capacity argument of earlier versions is accepted and ignored: storage grows in fixed chunks. */
  constructor(_initialCapacity?: number) {}

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d = 0): void {
    this.counts[kind]!++;
    if (!this.enabled) return;
    const i = this.length;
    const o = i & MASK;
    let ch = this.cur;
    if (o === 0 || ch === null) {
      const ci = i >>> CHUNK_BITS;
      ch = this.chunks[ci] ?? (this.chunks[ci] = new Chunk());
      this.cur = ch;
    }
    ch.meta[o] = kind | ((cache + 128) << 8) | (node << 16);
    ch.requests[o] = this.request;
    ch.slots[o] = slot;
    ch.as[o] = a;
    ch.bs[o] = b;
    ch.cs[o] = c;
    // Re-execution after a rewind writes the same events again; a stale d is only possible where d is now 0.
    if (d !== 0) this.extra.set(i, d);
    else if (this.extra.size !== 0 && this.extra.has(i)) this.extra.delete(i);
    this.length = i + 1;
    if (this.listeners.length) {
      const e = this.get(i);
      for (const l of this.listeners) l(e);
    }
  }

  onEvent(l: (e: EngineEvent) => void): () => void {
    this.listeners.push(l);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }

  kindAt(i: number): EventKind {
    return (this.chunks[i >>> CHUNK_BITS]!.meta[i & MASK]! & 0xff) as EventKind;
  }
  requestAt(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.requests[i & MASK]!;
  }
  cacheAt(i: number): number {
    return ((this.chunks[i >>> CHUNK_BITS]!.meta[i & MASK]! >> 8) & 0xff) - 128;
  }
  nodeAt(i: number): number {
    return (this.chunks[i >>> CHUNK_BITS]!.meta[i & MASK]! >> 16) & 0xff;
  }
  slotAt(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.slots[i & MASK]!;
  }
  aAt(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.as[i & MASK]!;
  }
  bAt(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.bs[i & MASK]!;
  }
  cAt(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.cs[i & MASK]!;
  }

  get(i: number): EngineEvent {
    const ch = this.chunks[i >>> CHUNK_BITS]!;
    const o = i & MASK;
    const meta = ch.meta[o]!;
    return {
      seq: i,
      kind: (meta & 0xff) as EventKind,
      request: ch.requests[o]!,
      node: (meta >> 16) & 0xff,
      cache: ((meta >> 8) & 0xff) - 128,
      slot: ch.slots[o]!,
      a: ch.as[o]!,
      b: ch.bs[o]!,
      c: ch.cs[o]!,
      d: this.extra.get(i) ?? 0,
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
      for (const k of this.extra.keys()) if (k >= n) this.extra.delete(k);
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
    this.extra.clear();
    this.cur = null;
  }

  /** Bytes held per event by the columns (for the memory benchmark). */
  bytesPerEvent(): number {
    return 4 + 4 + 4 + 8 * 3;
  }
  capacityBytes(): number {
    return this.chunks.length * CHUNK * this.bytesPerEvent();
  }
}
