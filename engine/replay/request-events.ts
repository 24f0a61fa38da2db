// The events of one request only, in plain typed arrays: the sink of a replay that needs no event log (a
// non-interactive `replay`, a recommendation's verification run). It charges each event to the cost model as it
// is emitted and keeps the request's events until the next one, for the slowest requests' explanations. The
// recorder (engine/events/recorder.ts) encodes every event so that a timeline can be read back; here the arrays
// are written over from index 0 at every request (`clear()`), so an event costs a few stores and memory is what
// the longest request needs. Same events, same values, so the cost model and the explanations get the same
// answers as from the recorder. CostingSink keeps not even those.
import { EventKind } from "../events/event-kind.js";
import { EVENT_KIND_COUNT } from "../events/event-schema.js";
import type { EventSink } from "../events/recorder.js";
import type { CostModel, EventColumns } from "./cost-model.js";

export class RequestEvents implements EventSink, EventColumns {
  enabled = true;
  request = 0;
  /** Events held: those emitted since the last clear(). */
  length = 0;
  /** Counts per kind over the whole replay (as the recorder's: kept whatever is cleared). */
  readonly counts = new Float64Array(EVENT_KIND_COUNT);
  /**
   * When set, each event is also charged to this model as it is emitted, while `charging` (ReplayLoop sets it
   * around a request, between the model's begin() and finish()): the request is then costed without reading its
   * events back; they stay for its explanation.
   */
  model: CostModel | null = null;
  charging = false;
  private kind = new Uint8Array(64);
  private node = new Int32Array(64);
  private cache = new Int32Array(64);
  private slot = new Float64Array(64);
  private a = new Float64Array(64);
  private b = new Float64Array(64);
  private c = new Float64Array(64);

  /** Forgets the events held (the next request's start at index 0). */
  clear(): void {
    this.length = 0;
  }

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number): void {
    this.counts[kind]!++;
    if (!this.enabled) return;
    const i = this.length;
    if (i === this.kind.length) this.grow();
    this.kind[i] = kind;
    this.node[i] = node;
    this.cache[i] = cache;
    this.slot[i] = slot;
    this.a[i] = a;
    this.b[i] = b;
    this.c[i] = c;
    this.length = i + 1;
    if (this.charging) this.model!.charge(kind, node, cache, a, b, c);
  }

  /** Nothing here looks at the engine between two events (the cost model charges event fields only). */
  batchable(): boolean {
    return true;
  }

  /**
   * A hit's get and get_done (see EventSink.cacheHit), held as the two events the recorder would read back, and
   * charged in one call (CostModel.chargeHit: what charge() does with the two).
   */
  cacheHit(node: number, cache: number, slot: number, offset: number, readFromDisk: number): boolean {
    const counts = this.counts;
    counts[EventKind.CacheGet]!++;
    counts[EventKind.CacheGetDone]!++;
    if (!this.enabled) return true;
    let i = this.length;
    if (i + 2 > this.kind.length) this.grow();
    this.kind[i] = EventKind.CacheGet;
    this.node[i] = node;
    this.cache[i] = cache;
    this.slot[i] = -1;
    this.a[i] = offset;
    this.b[i] = readFromDisk;
    this.c[i] = 0;
    i++;
    this.kind[i] = EventKind.CacheGetDone;
    this.node[i] = node;
    this.cache[i] = cache;
    this.slot[i] = slot;
    this.a[i] = offset;
    this.b[i] = 0;
    this.c[i] = 0;
    this.length = i + 1;
    if (this.charging) this.model!.chargeHit(node, cache, offset, readFromDisk);
    return true;
  }

  kindAt(i: number): number {
    return this.kind[i]!;
  }
  nodeAt(i: number): number {
    return this.node[i]!;
  }
  cacheAt(i: number): number {
    return this.cache[i]!;
  }
  slotAt(i: number): number {
    return this.slot[i]!;
  }
  aAt(i: number): number {
    return this.a[i]!;
  }
  bAt(i: number): number {
    return this.b[i]!;
  }
  cAt(i: number): number {
    return this.c[i]!;
  }

  private grow(): void {
    const n = this.kind.length * 2;
    const widen = <T extends Uint8Array | Int32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const x = make(n);
      x.set(old);
      return x;
    };
    this.kind = widen(this.kind, (k) => new Uint8Array(k));
    this.node = widen(this.node, (k) => new Int32Array(k));
    this.cache = widen(this.cache, (k) => new Int32Array(k));
    this.slot = widen(this.slot, (k) => new Float64Array(k));
    this.a = widen(this.a, (k) => new Float64Array(k));
    this.b = widen(this.b, (k) => new Float64Array(k));
    this.c = widen(this.c, (k) => new Float64Array(k));
  }
}

/**
 * No events at all: each is charged to the cost model as it is emitted, between the model's begin() and finish()
 * (ReplayLoop sets `charging` around a request), and forgotten. For a replay that explains no request (a
 * verification run keeps no slowest requests), so nothing reads an event after its costing. The model's
 * requestCost() over recorded events is the same begin/charge/finish, so the figures are the same.
 */
export class CostingSink implements EventSink {
  enabled = true;
  request = 0;
  /** Events charged in the current request (ReplayEngine reads it as the request's event range). */
  length = 0;
  readonly counts = new Float64Array(EVENT_KIND_COUNT);
  /** Set while a request runs: events outside one (opening and closing the image) are counted, not costed. */
  charging = false;
  model: CostModel | null = null;

  /** The next request's events are counted from 0 (ReplayEngine reads `length` as its event range). */
  clear(): void {
    this.length = 0;
  }

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number): void {
    this.counts[kind]!++;
    if (!this.enabled || !this.charging) return;
    this.length++;
    this.model!.charge(kind, node, cache, a, b, c);
  }

  /** A hit's get and get_done (see EventSink.cacheHit), counted and charged as emit() does the two, in one call. */
  cacheHit(node: number, cache: number, slot: number, offset: number, readFromDisk: number): boolean {
    const counts = this.counts;
    counts[EventKind.CacheGet]!++;
    counts[EventKind.CacheGetDone]!++;
    if (!this.enabled || !this.charging) return true;
    this.length += 2;
    this.model!.chargeHit(node, cache, offset, readFromDisk);
    return true;
  }

  /** As RequestEvents: the cost model charges event fields only, so the engine may batch its work. */
  batchable(): boolean {
    return true;
  }
}
