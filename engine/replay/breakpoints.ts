// Breakpoints and watchpoints of the timeline: which request or engine event stops a run, and the watched values
// (a cluster's refcount, an L2 table's bytes), read without touching the engine: no cache access, no event.
import { ADD_TASK_READ, ADD_TASK_WRITE, CACHE_L2, CACHE_REFCOUNT, EventKind } from "../events/event-kind.js";
import { EVENT_NAMES } from "../events/event-schema.js";
import type { EngineEvent } from "../events/recorder.js";
import { entryOffset, SubclusterType } from "../format/l2-entry.js";
import { getRefcount } from "../format/refcount-entry.js";
import type { Qcow2Image } from "../image/qcow2-image.js";
import { refblockBits, reftableEntry } from "../image/refcounts.js";
import type { GuestRequest } from "../workload/guest-request.js";
import { hex } from "../units/size-text.js";
import type { Breakpoint, BreakpointSpec, WatchSpec } from "./timeline-api.js";

const KIND_BY_NAME = new Map<string, EventKind>(Object.entries(EVENT_NAMES).map(([k, v]) => [v, Number(k) as EventKind]));

export function eventKindByName(name: string): EventKind | undefined {
  return KIND_BY_NAME.get(name);
}


export function describeSpec(spec: BreakpointSpec | WatchSpec, watch: boolean): string {
  if (watch) {
    const w = spec as WatchSpec;
    if (w.kind === "cluster") return `watch host cluster ${w.hostCluster} (refcount, L2 mapping)`;
    if (w.kind === "refcount") return `watch refcount of host cluster ${w.hostCluster}`;
    return `watch L2 table of L1 entry ${w.l1Index}`;
  }
  const s = spec as BreakpointSpec;
  switch (s.kind) {
    case "event":
      return s.cache ? `${s.cache === "l2" ? "L2" : "refcount"} cache miss (event ${s.eventName})` : `event ${s.eventName}`;
    case "offset":
      return `guest offsets [${hex(s.from)}, ${hex(s.to)})`;
    case "cluster":
      return `host cluster ${s.hostCluster}`;
    case "l1":
      return `L1 entry ${s.index}`;
    case "l2":
      return s.l2Index === undefined ? `L2 table of L1 entry ${s.l1Index}` : `L2 entry ${s.l2Index} of L1 entry ${s.l1Index}`;
    case "latency":
      return `modelled latency > ${s.overMicros} µs`;
    case "predicate":
      return s.describe;
  }
}

const isIndex = (n: number) => Number.isSafeInteger(n) && n >= 0;

/** Throws on a spec that can never be evaluated (unknown event name, negative cluster, empty range). */
export function validateSpec(spec: BreakpointSpec | WatchSpec, watch: boolean): void {
  const bad = (why: string) => {
    throw new Error(`${watch ? "watch" : "breakpoint"}: ${why}`);
  };
  if (watch) {
    const w = spec as WatchSpec;
    if (w.kind === "l2-table") {
      if (!isIndex(w.l1Index)) bad(`L1 index ${w.l1Index} is not a non-negative integer`);
    } else if (w.kind === "cluster" || w.kind === "refcount") {
      if (!isIndex(w.hostCluster)) bad(`host cluster ${w.hostCluster} is not a non-negative integer`);
    } else bad(`unknown watch kind '${(w as { kind: string }).kind}'`);
    return;
  }
  const s = spec as BreakpointSpec;
  switch (s.kind) {
    case "event":
      if (!KIND_BY_NAME.has(s.eventName)) bad(`unknown event '${s.eventName}' (names as in trace output, e.g. qcow2_cache_get, l2_update)`);
      break;
    case "offset":
      if (!(Number.isFinite(s.from) && Number.isFinite(s.to) && s.from >= 0 && s.from < s.to)) bad(`offset range [${s.from}, ${s.to}) is empty or negative`);
      break;
    case "cluster":
      if (!isIndex(s.hostCluster)) bad(`host cluster ${s.hostCluster} is not a non-negative integer`);
      break;
    case "l1":
      if (!isIndex(s.index)) bad(`L1 index ${s.index} is not a non-negative integer`);
      break;
    case "l2":
      if (!isIndex(s.l1Index) || (s.l2Index !== undefined && !isIndex(s.l2Index))) bad("L1/L2 indexes must be non-negative integers");
      break;
    case "latency":
      if (!Number.isFinite(s.overMicros)) bad(`latency threshold ${s.overMicros} is not a number`);
      break;
    case "predicate":
      if (typeof s.test !== "function") bad("predicate has no test function");
      break;
    default:
      bad(`unknown breakpoint kind '${(s as { kind: string }).kind}'`);
  }
}

/** Request-level breakpoints stop before the request runs: a detail line, or null. */
export function requestMatch(spec: BreakpointSpec, r: GuestRequest, index: number): string | null {
  if (spec.kind === "offset") {
    if (r.length > 0 && r.offset < spec.to && r.offset + r.length > spec.from) return `request ${index + 1} (${r.op} ${hex(r.offset)}+${r.length}) touches [${hex(spec.from)}, ${hex(spec.to)})`;
    return null;
  }
  if (spec.kind === "predicate") return spec.test(r, index) ? `request ${index + 1} matches ${spec.describe}` : null;
  return null;
}

export function isRequestLevel(spec: BreakpointSpec): boolean {
  return spec.kind === "offset" || spec.kind === "predicate";
}

/** The L2 table offset an L1 entry points to (0 when none or past the table). */
export function l2TableOf(img: Qcow2Image, l1Index: number): number {
  if (l1Index >= img.header.l1Size) return 0;
  const [hi, lo] = img.l1Entry(l1Index);
  return entryOffset(hi, lo);
}

/** Does a (node 0) event concern bytes of the host range [lo, hi)? */
function touchesHost(e: EngineEvent, lo: number, hi: number, cs: number): boolean {
  const over = (a: number, n: number) => a >= 0 && a < hi && a + Math.max(n, 1) > lo;
  switch (e.kind) {
    case EventKind.RefcountUpdate:
    case EventKind.RefcountRead:
      return over(e.a * cs, cs);
    case EventKind.ClusterAlloc:
    case EventKind.ClusterFree:
      return over(e.a, e.b * cs);
    case EventKind.DataRead:
    case EventKind.DataWrite:
    case EventKind.CowWrite:
    case EventKind.Decompress:
    case EventKind.MetadataRead:
    case EventKind.MetadataWrite:
      return over(e.a, e.b);
    case EventKind.WritevData:
    case EventKind.CacheGet:
    case EventKind.CacheGetRead:
    case EventKind.CacheGetDone:
    case EventKind.CacheEntryFlush:
      return over(e.a, 1);
    case EventKind.CacheGetReplaceEntry:
      return (e.a > 0 && over(e.a, 1)) || over(e.b, 1);
    case EventKind.AddTask:
      // Only tasks whose `a` is a host offset: writes and reads of normal clusters.
      return (e.cache === ADD_TASK_WRITE || (e.cache === ADD_TASK_READ && e.slot === SubclusterType.Normal)) && over(e.a, e.c);
    case EventKind.L1Update:
      return e.b > 0 && over(e.b, cs);
    case EventKind.L2Update:
      return e.b > 0 && over(e.b, 1);
    case EventKind.RefblockAlloc:
      return over(e.a, cs);
    case EventKind.ReftableGrow:
      return over(e.c, e.b * 8);
  }
  return false;
}

function isL1Kind(k: EventKind): boolean {
  return k === EventKind.L1Update || (k >= EventKind.L2Allocate && k <= EventKind.L2AllocateDone);
}

/** Index in its L2 table of the entry an L2-cache event concerns, -1 if the event is about another table. */
function l2EntryIndex(e: EngineEvent, img: Qcow2Image, table: number): number {
  const cs = img.clusterSize;
  if (e.kind === EventKind.L2Update) {
    const slice = img.l2Cache.offsets[e.slot]!;
    return slice >= table && slice < table + cs ? (slice - table) / img.geo.l2EntryBytes + e.a : -1;
  }
  return -1;
}

/**
 * Event-level breakpoints, judged while the event is emitted (so the image is in the state of that moment).
 * Returns a detail line, or null.
 */
export function eventMatch(spec: BreakpointSpec, e: EngineEvent, img: Qcow2Image): string | null {
  const name = EVENT_NAMES[e.kind] ?? `event ${e.kind}`;
  switch (spec.kind) {
    case "event":
      if (spec.cache && e.cache !== (spec.cache === "l2" ? CACHE_L2 : CACHE_REFCOUNT)) return null;
      return name === spec.eventName ? name : null;
    case "cluster": {
      if (e.node !== 0) return null;
      const cs = img.clusterSize;
      const lo = spec.hostCluster * cs;
      return touchesHost(e, lo, lo + cs, cs) ? `${name} touches host cluster ${spec.hostCluster}` : null;
    }
    case "l1":
    case "l2": {
      if (e.node !== 0) return null;
      const li = spec.kind === "l1" ? spec.index : spec.l1Index;
      const want = spec.kind === "l2" ? spec.l2Index : undefined;
      if (isL1Kind(e.kind)) return e.a === li ? `${name} of L1 entry ${li}` : null;
      const cs = img.clusterSize;
      if (e.kind === EventKind.ZeroCluster || e.kind === EventKind.DiscardCluster) {
        const g = Math.floor(e.a / cs);
        const l1 = Math.floor(g / img.geo.l2Entries);
        const l2 = g % img.geo.l2Entries;
        return l1 === li && (want === undefined || want === l2) ? `${name} of L2 entry ${l2} (L1 entry ${li})` : null;
      }
      const table = l2TableOf(img, li);
      if (table === 0) return null;
      if (e.kind === EventKind.CacheGet && e.cache === CACHE_L2) {
        if (e.a < table || e.a >= table + cs) return null;
        const first = (e.a - table) / img.geo.l2EntryBytes;
        if (want !== undefined && (want < first || want >= first + img.sliceEntries)) return null;
        return `${name} of L2 table ${hex(table)} (L1 entry ${li})`;
      }
      if (spec.kind === "l2" && e.kind === EventKind.L2Update) {
        const idx = l2EntryIndex(e, img, table);
        return idx >= 0 && (want === undefined || want === idx) ? `${name} of L2 entry ${idx} (L1 entry ${li})` : null;
      }
      return null;
    }
    default:
      return null;
  }
}

/** Refcount of a host cluster as the engine sees it (cached block first, else the file), without side effects. */
export function peekRefcount(img: Qcow2Image, clusterIndex: number, scratch?: { buf: Uint8Array }): number {
  const per = 2 ** refblockBits(img);
  const ti = Math.floor(clusterIndex / per);
  if (ti >= img.reftableSize) return 0;
  const block = reftableEntry(img, ti);
  if (!block) return 0;
  const slot = img.refcountCache.lookup(block);
  let table: Uint8Array;
  if (slot >= 0) table = img.refcountCache.table(slot);
  else {
    const s = scratch ?? { buf: new Uint8Array(0) };
    if (s.buf.length !== img.clusterSize) s.buf = new Uint8Array(img.clusterSize);
    img.file.read(s.buf, block);
    table = s.buf;
  }
  return getRefcount(table, clusterIndex % per, img.header.refcountOrder);
}

/** The bytes of the L2 table an L1 entry points to as the engine sees them (cached slices first). Returns its offset. */
export function peekL2Table(img: Qcow2Image, l1Index: number, out: Uint8Array): number {
  const table = l2TableOf(img, l1Index);
  if (table === 0) {
    out.fill(0);
    return 0;
  }
  const slice = img.sliceSize;
  for (let s = 0; s * slice < img.clusterSize; s++) {
    const at = table + s * slice;
    const dst = out.subarray(s * slice, (s + 1) * slice);
    const slot = img.l2Cache.lookup(at);
    if (slot >= 0) dst.set(img.l2Cache.table(slot));
    else img.file.read(dst, at);
  }
  return table;
}

/** A watchpoint's running value: set at the start of a run, compared after each event and each request. */
export class WatchState {
  private refcount = 0;
  private table = 0;
  private bytes: Uint8Array;
  private spare: Uint8Array;
  private scratch = { buf: new Uint8Array(0) };

  constructor(readonly bp: Breakpoint, private readonly img: Qcow2Image) {
    const w = bp.spec as WatchSpec;
    const n = w.kind === "l2-table" ? img.clusterSize : 0;
    this.bytes = new Uint8Array(n);
    this.spare = new Uint8Array(n);
    this.reset();
  }

  private get spec(): WatchSpec {
    return this.bp.spec as WatchSpec;
  }

  /** Takes the current state as the baseline. */
  reset(): void {
    const w = this.spec;
    if (w.kind === "l2-table") this.table = peekL2Table(this.img, w.l1Index, this.bytes);
    else this.refcount = peekRefcount(this.img, w.hostCluster, this.scratch);
  }

  /** After an event: a detail line when the watched value changed (the baseline moves on), else null. */
  afterEvent(e: EngineEvent): string | null {
    const w = this.spec;
    if (w.kind === "l2-table") {
      if (e.node !== 0) return null;
      const relevant = isL1Kind(e.kind) ? e.a === w.l1Index : e.cache === CACHE_L2 && e.kind !== EventKind.CacheGet;
      return relevant ? this.compareTable(EVENT_NAMES[e.kind] ?? "") : null;
    }
    const changed = this.compareRefcount();
    if (changed) return changed;
    if (w.kind === "cluster" && e.node === 0 && e.kind === EventKind.L2Update && e.b > 0) {
      const cs = this.img.clusterSize;
      if (Math.floor(e.b / cs) === w.hostCluster) return `L2 entry ${e.a} of cache slot ${e.slot} now maps to host cluster ${w.hostCluster}`;
    }
    return null;
  }

  /** At the end of a request (catches changes made after its last event). */
  afterRequest(): string | null {
    return this.spec.kind === "l2-table" ? this.compareTable("end of request") : this.compareRefcount();
  }

  private compareRefcount(): string | null {
    const w = this.spec as { hostCluster: number };
    const v = peekRefcount(this.img, w.hostCluster, this.scratch);
    if (v === this.refcount) return null;
    const old = this.refcount;
    this.refcount = v;
    return `refcount of host cluster ${w.hostCluster}: ${old} -> ${v}`;
  }

  private compareTable(at: string): string | null {
    const l1 = (this.spec as { l1Index: number }).l1Index;
    const t = peekL2Table(this.img, l1, this.spare);
    const sameBytes = Buffer.from(this.spare.buffer, this.spare.byteOffset, this.spare.length).equals(this.bytes);
    if (t === this.table && sameBytes) return null;
    const detail =
      t !== this.table ? `L1 entry ${l1}: L2 table ${hex(this.table)} -> ${hex(t)} (${at})` : `L2 table ${hex(t)} of L1 entry ${l1} changed (${at}): ${diffSummary(this.bytes, this.spare, this.img.geo.l2EntryBytes)}`;
    [this.bytes, this.spare] = [this.spare, this.bytes];
    this.table = t;
    return detail;
  }
}

function diffSummary(a: Uint8Array, b: Uint8Array, entryBytes: number): string {
  const changed: number[] = [];
  for (let i = 0; i < a.length && changed.length < 4; i += entryBytes) {
    for (let j = 0; j < entryBytes; j++) {
      if (a[i + j] !== b[i + j]) {
        changed.push(i / entryBytes);
        break;
      }
    }
  }
  return `entr${changed.length === 1 ? "y" : "ies"} ${changed.join(", ")}${changed.length === 4 ? ", ..." : ""}`;
}
