// Request shapes: the fixed event sequences of the write fast path (image/fast-write.ts), as data. The fast path
// fills in a shape's few values and hands them over at once (emitShape): the recorder stores the whole sequence as
// one record (EventRecorder.shape: the shape, which of its events, the values) that the reader expands into the
// very events emit() would have stored; any other sink gets the events one by one, as the general path emits them.
import { EventKind, ADD_TASK_WRITE, CACHE_NONE, CACHE_REFCOUNT, CACHE_L2 } from "./event-kind.js";
import type { EventArrays } from "./event-record.js";
import type { EventSink } from "./recorder.js";

// The values a shape's events take: indexes into the array the fast path fills (shapeValues).
export const V_NODE = 0;
export const V_OFFSET = 1;
export const V_LEN = 2;
/** The L2 slice's offset and cache slot. */
export const V_SLICE = 3;
export const V_SLOT = 4;
/** The refcount block's offset and cache slot; the cluster index whose refcount goes from 0 to 1. */
export const V_BLOCK = 5;
export const V_RSLOT = 6;
export const V_FCI = 7;
/** The new host cluster, the host offset of the data, the guest cluster's offset, the entry's index in its slice. */
export const V_ALLOC = 8;
export const V_HOST = 9;
export const V_CLUSTER = 10;
export const V_SIDX = 11;
export const SHAPE_VALUES = 12;

/** A rewrite of a COPIED cluster in place (11 events). */
export const SHAPE_REWRITE = 0;
/** A write into a fresh cluster: + 1 with a COW head, + 2 with a COW tail (each looked up, then skip_cow). */
export const SHAPE_ALLOC = 1;
/**
 * Extended L2: a write into subclusters not yet allocated of a COPIED cluster, whole subclusters (no COW): the
 * cluster stays, and its L2 entry is linked again with their allocation bits set (15 events).
 */
export const SHAPE_RELINK = 5;
export const SHAPE_COUNT = 6;

/** A field: a constant, or value i of the shape ({ v: i }). */
type Field = number | { v: number };
type Step = [EventKind, Field, Field, Field, Field, Field, Field, Field?] | ["hit", Field, Field, Field];

const node = { v: V_NODE }, offset = { v: V_OFFSET }, len = { v: V_LEN }, slice = { v: V_SLICE }, slot = { v: V_SLOT };
const block = { v: V_BLOCK }, rslot = { v: V_RSLOT }, fci = { v: V_FCI }, alloc = { v: V_ALLOC }, host = { v: V_HOST };
const cluster = { v: V_CLUSTER }, sidx = { v: V_SIDX };
const N = CACHE_NONE;

/** A cache get that hits, in `cache` at `slot`: the get and its get_done (a pair record, see EventSink.cacheHit). */
const hit = (cache: number, s: Field, off: Field): Step => ["hit", cache, s, off];

/** Every shape's opening: the request and its part start, the allocation, handle_copied's L2 lookup. */
function opening(): Step[] {
  return [
    [EventKind.WritevStartReq, node, N, -1, offset, len, 0],
    [EventKind.WritevStartPart, node, N, -1, 0, 0, 0],
    [EventKind.AllocClustersOffset, node, N, -1, offset, len, 0],
    [EventKind.HandleCopied, node, N, -1, offset, -1, len],
    hit(CACHE_L2, slot, slice),
  ];
}

/** The write task's start (one task, no pool). */
const addTask: Step = [EventKind.AddTask, node, ADD_TASK_WRITE, 0, host, offset, len, 0];

/** The guest data written to its host cluster. */
function dataWritten(): Step[] {
  return [
    [EventKind.WritevData, node, N, -1, host, 0, 0],
    [EventKind.DataWrite, node, N, -1, host, len, 0],
  ];
}

/** qcow2_alloc_cluster_link_l2 for one cluster: the slice, hit, and the entry set. */
function linked(): Step[] {
  return [[EventKind.ClusterLinkL2, node, N, -1, 1, 0, 0], hit(CACHE_L2, slot, slice), [EventKind.L2Update, node, CACHE_L2, slot, sidx, alloc, 0]];
}

/** The part and the request done. */
function closing(): Step[] {
  return [
    [EventKind.WritevDonePart, node, N, -1, len, 0, 0],
    [EventKind.WritevDoneReq, node, N, -1, 0, 0, 0],
  ];
}

function rewrite(): Step[] {
  return [...opening(), addTask, ...dataWritten(), ...closing()];
}

function allocating(head: boolean, tail: boolean): Step[] {
  const cow: Step[] = [];
  if (head) cow.push(hit(CACHE_L2, slot, slice));
  if (tail) cow.push(hit(CACHE_L2, slot, slice));
  if (head || tail) cow.push([EventKind.SkipCow, node, N, -1, cluster, 1, 0]);
  return [
    ...opening(),
    [EventKind.HandleAlloc, node, N, -1, offset, -1, len],
    hit(CACHE_L2, slot, slice),
    [EventKind.DoAllocClustersOffset, node, N, -1, offset, -1, 1],
    [EventKind.ClusterAllocPhys, node, N, -1, 0, 0, 0],
    hit(CACHE_REFCOUNT, rslot, block),
    [EventKind.RefcountRead, node, CACHE_REFCOUNT, rslot, fci, 0, 0],
    hit(CACHE_REFCOUNT, rslot, block),
    [EventKind.RefcountUpdate, node, CACHE_REFCOUNT, rslot, fci, 0, 1],
    [EventKind.ClusterAlloc, node, N, -1, alloc, 1, 0],
    addTask,
    ...cow,
    ...dataWritten(),
    ...linked(),
    ...closing(),
  ];
}

function relink(): Step[] {
  return [...opening(), addTask, ...dataWritten(), ...linked(), ...closing()];
}

/**
 * A shape compiled for the hot paths: per event its kind, whether it opens a hit pair, and per field (node, cache,
 * slot, a, b, c, d: column f of event e at e * 7 + f) the value index it takes, or -1 and the constant.
 */
export interface Shape {
  readonly events: number;
  readonly kind: Int32Array;
  readonly pairFirst: Uint8Array;
  readonly ref: Int8Array;
  readonly constant: Float64Array;
  /** The value indexes a record of this shape stores, in order. */
  readonly values: Int32Array;
  /**
   * Bit k set: value k is used by events [0, i) (prefix[i]), or [i, events) (suffix[i]). A record of part of a
   * shape (split at a block start) stores only the values its events use.
   */
  readonly prefix: Int32Array;
  readonly suffix: Int32Array;
  /**
   * The fields resolved without a branch: field f of event e is fields[at[e * 7 + f]], where fields holds the
   * constants (at e * 7 + f) and, from 7 * events on, the values (copied in before each expansion).
   */
  readonly at: Int32Array;
  readonly fields: Float64Array;
  /**
   * The same for emitShape(): its own copy, as a sink it emits into may read the log (a re-execution compares
   * each event with the record held), which expands records through `fields`.
   */
  readonly emitFields: Float64Array;
}

function compile(steps: Step[]): Shape {
  const evs: { kind: number; pair: boolean; fields: Field[] }[] = [];
  for (const s of steps) {
    if (s[0] === "hit") {
      const [, cache, sl, off] = s;
      evs.push({ kind: EventKind.CacheGet, pair: true, fields: [node, cache, -1, off, 1, 0, 0] });
      evs.push({ kind: EventKind.CacheGetDone, pair: false, fields: [node, cache, sl, off, 0, 0, 0] });
    } else {
      const [kind, ...fields] = s;
      evs.push({ kind, pair: false, fields: [...fields.slice(0, 6), fields[6] ?? 0] as Field[] });
    }
  }
  const n = evs.length;
  const out = { events: n, kind: new Int32Array(n), pairFirst: new Uint8Array(n), ref: new Int8Array(n * 7), constant: new Float64Array(n * 7) };
  const used = new Set<number>();
  evs.forEach((e, i) => {
    out.kind[i] = e.kind;
    out.pairFirst[i] = e.pair ? 1 : 0;
    e.fields.forEach((f, k) => {
      if (typeof f === "number") {
        out.ref[i * 7 + k] = -1;
        out.constant[i * 7 + k] = f;
      } else {
        out.ref[i * 7 + k] = f.v;
        used.add(f.v);
      }
    });
  });
  const prefix = new Int32Array(n + 1);
  const suffix = new Int32Array(n + 1);
  const uses = (i: number): number => {
    let m = 0;
    for (let k = 0; k < 7; k++) if (out.ref[i * 7 + k]! >= 0) m |= 1 << out.ref[i * 7 + k]!;
    return m;
  };
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i]! | uses(i);
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! | uses(i);
  const at = new Int32Array(n * 7);
  const fields = new Float64Array(n * 7 + SHAPE_VALUES);
  for (let i = 0; i < n * 7; i++) {
    at[i] = out.ref[i]! < 0 ? i : n * 7 + out.ref[i]!;
    fields[i] = out.constant[i]!;
  }
  return { ...out, values: Int32Array.from([...used].sort((a, b) => a - b)), prefix, suffix, at, fields, emitFields: fields.slice() };
}

export const SHAPES: readonly Shape[] = [rewrite(), allocating(false, false), allocating(true, false), allocating(false, true), allocating(true, true), relink()].map(compile);
if (SHAPES.length !== SHAPE_COUNT || SHAPES.some((s) => s.events > 64)) throw new Error("event shapes: a shape is missing or too long");

/** The values the fast path fills before emitShape() (one array: the shapes never nest). */
export const shapeValues = new Float64Array(SHAPE_VALUES);

/**
 * Events [first, first + count) of shape `id` with values `v` into entries n.. of `to` (the reader's decoded
 * arrays), with request `req`.
 */
export function expandShape(id: number, first: number, count: number, req: number, v: Float64Array, to: EventArrays, n: number): void {
  const s = SHAPES[id]!;
  const f = s.fields;
  f.set(v, s.events * 7);
  const at = s.at;
  for (let e = first, k = n; e < first + count; e++, k++) {
    const b = e * 7;
    to.kind[k] = s.kind[e]!;
    to.req[k] = req;
    to.node[k] = f[at[b]!]!;
    to.cache[k] = f[at[b + 1]!]!;
    to.slot[k] = f[at[b + 2]!]!;
    to.a[k] = f[at[b + 3]!]!;
    to.b[k] = f[at[b + 4]!]!;
    to.c[k] = f[at[b + 5]!]!;
    to.d[k] = f[at[b + 6]!]!;
  }
}

/**
 * Shape `id` with the values in shapeValues into `ev`: as one record when the sink takes shapes (EventSink.shape),
 * else event by event, each hit pair through cacheHit() as the cache emits it.
 */
export function emitShape(ev: EventSink, id: number): void {
  const v = shapeValues;
  if (ev.shape !== undefined && ev.shape(id, v)) return;
  const s = SHAPES[id]!;
  const f = s.emitFields;
  f.set(v, s.events * 7);
  const at = s.at;
  for (let e = 0; e < s.events; e++) {
    const b = e * 7;
    const nd = f[at[b]!]!, cache = f[at[b + 1]!]!, a = f[at[b + 3]!]!;
    if (s.pairFirst[e] === 1) {
      // The get's readFromDisk is its b; the get_done that follows holds the slot.
      const rd = f[at[b + 4]!]!, sl = f[at[b + 9]!]!;
      if (!ev.cacheHit(nd, cache, sl, a, rd)) {
        ev.emit(EventKind.CacheGet, nd, cache, -1, a, rd, 0);
        ev.emit(EventKind.CacheGetDone, nd, cache, sl, a, 0, 0);
      }
      e++;
      continue;
    }
    ev.emit(s.kind[e]! as EventKind, nd, cache, f[at[b + 2]!]!, a, f[at[b + 4]!]!, f[at[b + 5]!]!, f[at[b + 6]!]!);
  }
}

// A shape record (event-record.ts) stores, after its meta and request words, one word per value its events use:
// byte offsets (OFFSET_VALUES) in 512-byte sectors, the others as int32s. A value that does not fit (an offset off
// a sector or past 1 TiB, a count past 2^31, a fraction) is the word ESCAPE and the exact double in two words.
/** Values that are byte offsets, stored in sectors. */
const OFFSET_VALUES = (1 << V_OFFSET) | (1 << V_SLICE) | (1 << V_BLOCK) | (1 << V_ALLOC) | (1 << V_HOST) | (1 << V_CLUSTER);
const ESCAPE = -0x80000000;
const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);

/** The values a record of events [first, first + count) of shape s stores (a prefix or suffix of the shape). */
function partMask(s: Shape, first: number, count: number): number {
  return first === 0 ? s.prefix[count]! : first + count === s.events ? s.suffix[first]! : s.prefix[s.events]!;
}

/** Writes the values events [first, first + count) of shape `id` use, from `v`, at word p; returns the next position. */
export function putShapeValues(ch: Int32Array, p: number, id: number, first: number, count: number, v: Float64Array): number {
  const s = SHAPES[id]!;
  const vals = s.values;
  const mask = partMask(s, first, count);
  for (let k = 0; k < vals.length; k++) {
    const i = vals[k]!;
    if (((mask >>> i) & 1) === 0) continue;
    const x = v[i]!;
    if (((OFFSET_VALUES >>> i) & 1) !== 0) {
      const w = (x / 512) | 0;
      if (w * 512 === x && w !== ESCAPE) {
        ch[p++] = w;
        continue;
      }
    } else {
      const w = x | 0;
      if (w === x && w !== ESCAPE) {
        ch[p++] = w;
        continue;
      }
    }
    ch[p] = ESCAPE;
    f64[0] = x;
    ch[p + 1] = i32[0]!;
    ch[p + 2] = i32[1]!;
    p += 3;
  }
  return p;
}

/**
 * Reads the values of a record of events [first, first + count) of shape `id` at word p into `out` (those it does
 * not store: 0); returns the position after them.
 */
export function readShapeValues(ch: Int32Array, p: number, id: number, first: number, count: number, out: Float64Array): number {
  const s = SHAPES[id]!;
  const vals = s.values;
  const mask = partMask(s, first, count);
  for (let k = 0; k < vals.length; k++) {
    const i = vals[k]!;
    let x = 0;
    if (((mask >>> i) & 1) !== 0) {
      const w = ch[p++]!;
      if (w === ESCAPE) {
        i32[0] = ch[p]!;
        i32[1] = ch[p + 1]!;
        x = f64[0]!;
        p += 2;
      } else x = ((OFFSET_VALUES >>> i) & 1) !== 0 ? w * 512 : w;
    }
    out[i] = x;
  }
  return p;
}
