// The events of one request only, in plain typed arrays: the sink of a replay that needs no event log (a
// non-interactive `replay`, a recommendation's verification run). It charges each event to the cost model as it
// is emitted and keeps the request's events until the next one, for the slowest requests' explanations. The
// recorder (engine/events/recorder.ts) encodes every event so that a timeline can be read back; here the arrays
// are written over from index 0 at every request (`clear()`), so an event costs a few stores and memory is what
// the longest request needs. Same events, same values, so the cost model and the explanations get the same
// answers as from the recorder. CostingSink keeps not even those.
// Both take the write fast path's request shapes (events/event-shapes.ts) whole: a shape's kinds are counted at
// once and only the events the cost model acts on (CHARGED_KINDS) are charged, in order; RequestEvents writes the
// shape's events into its arrays only if someone reads them (a slowest request's explanation).
import { EventKind } from "../events/event-kind.js";
import { EVENT_KIND_COUNT } from "../events/event-schema.js";
import type { EventArrays } from "../events/event-record.js";
import { expandShape, SHAPE_COUNT, SHAPE_VALUES, SHAPES } from "../events/event-shapes.js";
import type { EventSink } from "../events/recorder.js";
import { CHARGED_KINDS, type CostModel, type EventColumns } from "./cost-model.js";

/**
 * What costing a shape takes: how many events of each kind it has, and the events charge() acts on, each a hit
 * pair (chargeHit: node, cache, offset, readFromDisk) or one event (charge: node, cache, a, b, c), with where in
 * `fields` (the shape's constants, then its values from `valuesAt`) those fields are.
 */
interface ShapePlan {
  readonly events: number;
  readonly kinds: Int32Array;
  readonly kindCounts: Float64Array;
  readonly hit: Uint8Array;
  readonly kind: Int32Array;
  readonly at: Int32Array;
  readonly fields: Float64Array;
  readonly valuesAt: number;
}

const plans: (ShapePlan | undefined)[] = new Array<ShapePlan | undefined>(SHAPE_COUNT);

function shapePlan(id: number): ShapePlan {
  return plans[id] ?? (plans[id] = makePlan(id));
}

function makePlan(id: number): ShapePlan {
  const s = SHAPES[id]!;
  const charged = new Set<number>(CHARGED_KINDS);
  const n = new Map<number, number>();
  for (let e = 0; e < s.events; e++) n.set(s.kind[e]!, (n.get(s.kind[e]!) ?? 0) + 1);
  const hit: number[] = [];
  const kind: number[] = [];
  const at: number[] = [];
  for (let e = 0; e < s.events; e++) {
    // A hit pair is charged from its get (node, cache, offset, readFromDisk): chargeHit counts the get_done's hit.
    const pair = s.pairFirst[e] === 1;
    if (!pair && !charged.has(s.kind[e]!)) continue;
    const b = e * 7;
    hit.push(pair ? 1 : 0);
    kind.push(s.kind[e]!);
    at.push(s.at[b]!, s.at[b + 1]!, s.at[b + 3]!, s.at[b + 4]!, s.at[b + 5]!);
    if (pair) e++;
  }
  return {
    events: s.events,
    kinds: Int32Array.from(n.keys()),
    kindCounts: Float64Array.from(n.values()),
    hit: Uint8Array.from(hit),
    kind: Int32Array.from(kind),
    at: Int32Array.from(at),
    fields: s.fields.slice(),
    valuesAt: s.events * 7,
  };
}

/**
 * What both sinks' shape() do first: the plan of shape `id`, its events counted by kind as emit() counts each; or
 * null, having done nothing, when `model` costs each event (per-event costs), which only emit() gives it.
 */
function takeShape(id: number, counts: Float64Array, model: CostModel | null): ShapePlan | null {
  if (model !== null && model.eventCost !== null) return null;
  const p = shapePlan(id);
  const kinds = p.kinds;
  for (let k = 0; k < kinds.length; k++) counts[kinds[k]!]! += p.kindCounts[k]!;
  return p;
}

/** Charges a shape with values `v` to `m`: the events charge() acts on, in the shape's order. */
function chargeShape(p: ShapePlan, v: Float64Array, m: CostModel): void {
  const f = p.fields;
  f.set(v, p.valuesAt);
  const at = p.at;
  const hit = p.hit;
  for (let i = 0, j = 0; i < hit.length; i++, j += 5) {
    if (hit[i] === 1) m.chargeHit(f[at[j]!]!, f[at[j + 1]!]!, f[at[j + 2]!]!, f[at[j + 3]!]!);
    else m.charge(p.kind[i]!, f[at[j]!]!, f[at[j + 1]!]!, f[at[j + 2]!]!, f[at[j + 3]!]!, f[at[j + 4]!]!);
  }
}

/** Room for the longest shape's events (SHAPES are at most 64 events). */
function newExpansion(): EventArrays {
  const f = () => new Float64Array(64);
  return { kind: new Int32Array(64), req: f(), node: f(), cache: f(), slot: f(), a: f(), b: f(), c: f(), d: f() };
}

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
  /** A shape taken whole and not written into the arrays yet (-1: none): its id, first index and values. */
  private pending = -1;
  private pendingAt = 0;
  private readonly pendingValues = new Float64Array(SHAPE_VALUES);
  /** Where expand() has expandShape() write a shape's events (made at the first expansion). */
  private expanded: EventArrays | null = null;

  /** Forgets the events held (the next request's start at index 0). */
  clear(): void {
    this.length = 0;
    this.pending = -1;
  }

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number): void {
    this.counts[kind]!++;
    if (!this.enabled) return;
    if (this.pending >= 0) this.expand();
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
    if (this.pending >= 0) this.expand();
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

  /**
   * A request shape whole: its kinds counted, the events the cost model acts on charged, and the events written
   * into the arrays only when read. Declines (false) when the model costs each event (per-event costs).
   */
  shape(id: number, v: Float64Array): boolean {
    if (this.pending >= 0) this.expand();
    const p = takeShape(id, this.counts, this.model);
    if (p === null) return false;
    if (!this.enabled) return true;
    this.pending = id;
    this.pendingAt = this.length;
    this.pendingValues.set(v);
    this.length += p.events;
    if (this.charging) chargeShape(p, v, this.model!);
    return true;
  }

  kindAt(i: number): number {
    if (this.pending >= 0) this.expand();
    return this.kind[i]!;
  }
  nodeAt(i: number): number {
    if (this.pending >= 0) this.expand();
    return this.node[i]!;
  }
  cacheAt(i: number): number {
    if (this.pending >= 0) this.expand();
    return this.cache[i]!;
  }
  slotAt(i: number): number {
    if (this.pending >= 0) this.expand();
    return this.slot[i]!;
  }
  aAt(i: number): number {
    if (this.pending >= 0) this.expand();
    return this.a[i]!;
  }
  bAt(i: number): number {
    if (this.pending >= 0) this.expand();
    return this.b[i]!;
  }
  cAt(i: number): number {
    if (this.pending >= 0) this.expand();
    return this.c[i]!;
  }

  /** Writes the pending shape's events into the arrays, as emit() would have one by one (the recorder's reader's expansion). */
  private expand(): void {
    const id = this.pending;
    const n = SHAPES[id]!.events;
    this.pending = -1;
    const first = this.pendingAt;
    while (first + n > this.kind.length) this.grow();
    const x = (this.expanded ??= newExpansion());
    expandShape(id, 0, n, 0, this.pendingValues, x, 0);
    this.kind.set(x.kind.subarray(0, n), first);
    this.node.set(x.node.subarray(0, n), first);
    this.cache.set(x.cache.subarray(0, n), first);
    this.slot.set(x.slot.subarray(0, n), first);
    this.a.set(x.a.subarray(0, n), first);
    this.b.set(x.b.subarray(0, n), first);
    this.c.set(x.c.subarray(0, n), first);
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

  /** A request shape whole: its kinds counted and, in a request, the events the cost model acts on charged. */
  shape(id: number, v: Float64Array): boolean {
    const p = takeShape(id, this.counts, this.model);
    if (p === null) return false;
    if (!this.enabled || !this.charging) return true;
    this.length += p.events;
    chargeShape(p, v, this.model!);
    return true;
  }

  /** As RequestEvents: the cost model charges event fields only, so the engine may batch its work. */
  batchable(): boolean {
    return true;
  }
}
