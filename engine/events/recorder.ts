// A column-wise event recorder: typed arrays grown by doubling, no object per event on the hot path.
// 1 (kind) + 1 (cache) + 1 (node) + 4 (request) + 4 (slot) + 3*8 (payload) = 35 bytes per event.
import { EventKind, EVENT_KIND_COUNT } from "./event-kind.js";

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
}

export interface EventSink {
  enabled: boolean;
  /** The request id events are attributed to. */
  request: number;
  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number): void;
}

export class EventRecorder implements EventSink {
  enabled = true;
  request = 0;
  length = 0;
  /** Counts per kind, kept even when recording is off so statistics stay cheap. */
  readonly counts = new Float64Array(EVENT_KIND_COUNT);
  private kinds: Uint8Array;
  private caches: Int8Array;
  private nodes: Uint8Array;
  private requests: Int32Array;
  private slots: Int32Array;
  private as: Float64Array;
  private bs: Float64Array;
  private cs: Float64Array;
  private listeners: ((e: EngineEvent) => void)[] = [];

  constructor(initial = 1024, readonly limit = 0) {
    this.kinds = new Uint8Array(initial);
    this.caches = new Int8Array(initial);
    this.nodes = new Uint8Array(initial);
    this.requests = new Int32Array(initial);
    this.slots = new Int32Array(initial);
    this.as = new Float64Array(initial);
    this.bs = new Float64Array(initial);
    this.cs = new Float64Array(initial);
  }

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number): void {
    this.counts[kind]!++;
    if (!this.enabled) return;
    const i = this.length;
    if (i === this.kinds.length) this.grow();
    this.kinds[i] = kind;
    this.caches[i] = cache;
    this.nodes[i] = node;
    this.requests[i] = this.request;
    this.slots[i] = slot;
    this.as[i] = a;
    this.bs[i] = b;
    this.cs[i] = c;
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
    return this.kinds[i] as EventKind;
  }
  requestAt(i: number): number {
    return this.requests[i]!;
  }

  get(i: number): EngineEvent {
    return {
      seq: i,
      kind: this.kinds[i] as EventKind,
      request: this.requests[i]!,
      node: this.nodes[i]!,
      cache: this.caches[i]!,
      slot: this.slots[i]!,
      a: this.as[i]!,
      b: this.bs[i]!,
      c: this.cs[i]!,
    };
  }

  *events(from = 0, to = this.length): Generator<EngineEvent> {
    for (let i = from; i < to; i++) yield this.get(i);
  }

  /** Drops events from index n on (time travel re-executes from a checkpoint). */
  truncate(n: number): void {
    if (n < this.length) this.length = n;
  }

  clear(): void {
    this.length = 0;
    this.counts.fill(0);
  }

  /** Bytes held by the columns (for the memory benchmark). */
  bytesPerEvent(): number {
    return 1 + 1 + 1 + 4 + 4 + 8 * 3;
  }
  capacityBytes(): number {
    return this.kinds.length * this.bytesPerEvent();
  }

  private grow(): void {
    const n = this.kinds.length * 2;
    const g = <T extends Uint8Array | Int8Array | Int32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const x = make(n);
      x.set(old as never);
      return x;
    };
    this.kinds = g(this.kinds, (k) => new Uint8Array(k));
    this.caches = g(this.caches, (k) => new Int8Array(k));
    this.nodes = g(this.nodes, (k) => new Uint8Array(k));
    this.requests = g(this.requests, (k) => new Int32Array(k));
    this.slots = g(this.slots, (k) => new Int32Array(k));
    this.as = g(this.as, (k) => new Float64Array(k));
    this.bs = g(this.bs, (k) => new Float64Array(k));
    this.cs = g(this.cs, (k) => new Float64Array(k));
  }
}

/** A sink that records nothing (counts only). */
export function nullSink(): EventRecorder {
  const r = new EventRecorder(1);
  r.enabled = false;
  return r;
}
