// The event schema: one row per event kind, from which everything else about events is derived. A row names the
// kind (QEMU's trace-event name where QEMU 7.2 traces it), its payload columns a, b, c as named fields with
// units, QEMU's trace line when QEMU traces it, qcowdbg's own line for the rest, and the words the TUI shows.
// EVENT_NAMES, EVENT_KIND_COUNT, isQemuTraced, the JSON/Chrome args (event-args.ts), the QEMU line
// (qemu-trace-format.ts), the text line (text-format.ts), the TUI's eventDetail and the breakpoint language's
// event names all read this table. To add an event: a kind in event-kind.ts, a row here, an emit in the engine.
import { ADD_TASK_COMPRESSED, ADD_TASK_WRITE, CACHE_L2, CACHE_REFCOUNT, EventKind } from "./event-kind.js";
import type { EngineEvent } from "./recorder.js";
import { hex, shortBytes } from "../units/size-text.js";

/** What a payload number measures. */
export type FieldUnit = "offset" | "bytes" | "count" | "index" | "flag" | "ret" | "refcount" | "op";

export interface EventField {
  name: string;
  unit: FieldUnit;
  /** QEMU's name for it in the trace line; false = QEMU does not print it (default: `name`). */
  qemu?: string | false;
  /** QEMU prints it in hex although it is not an offset (qcow2_handle_copied's bytes). */
  qemuHex?: boolean;
}

export interface QemuLine {
  /** The pointer QEMU prints after the name: the coroutine or the block driver state. */
  who: "co" | "bs";
  /** "is_l2_cache N" (the cache column) follows the pointer. */
  isL2Cache?: boolean;
  /** "index N" (the slot column) ends the line. */
  index?: boolean;
  /** A line the generic form cannot say (qcow2_add_task): everything after "NAME co coN". */
  custom?: (e: EngineEvent) => string;
}

export interface EventSpec {
  kind: EventKind;
  name: string;
  /** Payload columns a, b, c in order; fewer means the rest are unused. */
  fields: readonly EventField[];
  /** Present when QEMU 7.2 traces the kind (`qemu-io --trace 'qcow2*'`). */
  qemu?: QemuLine;
  /** qcowdbg's own line after the name (events, --events text); default "offset 0x.. bytes N". */
  text?: (e: EngineEvent) => string;
  /** The TUI's words for the event (request pane, "why did it stop here"); default none. */
  detail?: (e: EngineEvent) => string;
}

// --- how values are shown ---
/** In the TUI a negative value is a sentinel (-1: none), shown as the number. */
const hexw = (n: number) => (n < 0 ? String(n) : hex(n));
const cacheName = (c: number) => (c === CACHE_L2 ? "L2" : c === CACHE_REFCOUNT ? "refcount" : "?");
const size = shortBytes;

// --- field shorthands ---
const f = (name: string, unit: FieldUnit, more: Partial<EventField> = {}): EventField => ({ name, unit, ...more });
const OFFSET_BYTES = [f("offset", "offset"), f("bytes", "bytes")];
const HOST_BYTES = [f("host_offset", "offset"), f("bytes", "bytes")];
const GUEST_BYTES = [f("guest_offset", "offset"), f("bytes", "bytes")];
const L1_INDEX = [f("l1_index", "index")];
const GROW = [f("old_entries", "count"), f("new_entries", "count"), f("new_offset", "offset")];

// --- shared words ---
const guestSize = (e: EngineEvent) => `guest ${hexw(e.a)} ${size(e.b)}`;
const sizeAt = (e: EngineEvent) => `${size(e.b)} at ${hexw(e.a)}`;
const l1Index = (e: EngineEvent) => `L1 index ${e.a}`;
const clusters = (e: EngineEvent) => `${e.b} cluster${e.b === 1 ? "" : "s"} at ${hexw(e.a)}`;
const grow = (e: EngineEvent) => `${e.a} -> ${e.b} entries at ${hexw(e.c)}`;
const growText = (e: EngineEvent) => `entries ${e.a} -> ${e.b} at ${hex(e.c)}`;
const hostRange = (e: EngineEvent) => `guest ${hexw(e.a)} host ${e.b < 0 ? "-" : hexw(e.b)}`;
const metadata = (e: EngineEvent) => `${e.kind === EventKind.MetadataRead ? "read" : "write"} ${size(e.b)} at ${hexw(e.a)}${e.cache >= 0 ? ` (${cacheName(e.cache)})` : ""}`;
const metadataText = (e: EngineEvent) => `${e.cache === CACHE_REFCOUNT || e.cache === CACHE_L2 ? cacheName(e.cache) + " " : ""}offset ${hex(e.a)} bytes ${e.b}`;

/** qcow2_add_task: task kind from the cache column, cluster type from the slot (a compressed entry's hi word). */
function addTask(e: EngineEvent): string {
  const write = e.cache === ADD_TASK_WRITE;
  const compressed = e.cache === ADD_TASK_COMPRESSED;
  const type = compressed ? 5 : e.slot;
  const host = compressed ? ((BigInt(e.slot >>> 0) << 32n) | BigInt(e.a)).toString() : String(e.a);
  const pool = e.d % 2 === 1 ? `pool${e.request}` : "(nil)";
  return `bs bs${e.node} pool ${pool}: ${write ? "write" : "read"}: cluster_type ${type} file_cluster_offset ${host} offset ${e.b} bytes ${e.c} qiov qiov qiov_offset ${Math.floor(e.d / 2)}`;
}

const CO: QemuLine = { who: "co" };
const BS: QemuLine = { who: "bs" };
const CACHE_SLOT: QemuLine = { who: "co", isL2Cache: true, index: true };

export const EVENT_SCHEMA: readonly EventSpec[] = [
  // --- QEMU-traced (block/trace-events, qcow2*) ---
  { kind: EventKind.WritevStartReq, name: "qcow2_writev_start_req", fields: OFFSET_BYTES, qemu: CO, detail: guestSize },
  { kind: EventKind.WritevDoneReq, name: "qcow2_writev_done_req", fields: [f("ret", "ret")], qemu: CO },
  // The TUI has always shown this one's (unused, zero) columns as a guest range.
  { kind: EventKind.WritevStartPart, name: "qcow2_writev_start_part", fields: [], qemu: CO, detail: guestSize },
  { kind: EventKind.WritevDonePart, name: "qcow2_writev_done_part", fields: [f("cur_bytes", "bytes")], qemu: CO },
  { kind: EventKind.WritevData, name: "qcow2_writev_data", fields: [f("host_offset", "offset", { qemu: "offset" })], qemu: CO, detail: (e) => `host ${hexw(e.a)}` },
  { kind: EventKind.PwriteZeroesStartReq, name: "qcow2_pwrite_zeroes_start_req", fields: OFFSET_BYTES, qemu: CO, detail: guestSize },
  { kind: EventKind.PwriteZeroes, name: "qcow2_pwrite_zeroes", fields: OFFSET_BYTES, qemu: CO, detail: guestSize },
  { kind: EventKind.SkipCow, name: "qcow2_skip_cow", fields: [f("offset", "offset"), f("nb_clusters", "count")], qemu: CO, detail: (e) => `guest ${hexw(e.a)} x${e.b}` },
  { kind: EventKind.AllocClustersOffset, name: "qcow2_alloc_clusters_offset", fields: OFFSET_BYTES, qemu: CO, detail: guestSize },
  ...[EventKind.HandleCopied, EventKind.HandleAlloc].map((kind) => ({
    kind,
    name: kind === EventKind.HandleCopied ? "qcow2_handle_copied" : "qcow2_handle_alloc",
    fields: [f("guest_offset", "offset"), f("host_offset", "offset"), f("bytes", "bytes", { qemuHex: true })],
    qemu: CO,
    detail: (e: EngineEvent) => `${hostRange(e)} ${size(e.c)}`,
  })),
  {
    kind: EventKind.DoAllocClustersOffset,
    name: "qcow2_do_alloc_clusters_offset",
    fields: [f("guest_offset", "offset"), f("host_offset", "offset"), f("nb_clusters", "count")],
    qemu: CO,
    detail: (e) => `${hostRange(e)} x${e.c}`,
  },
  { kind: EventKind.ClusterAllocPhys, name: "qcow2_cluster_alloc_phys", fields: [], qemu: CO },
  { kind: EventKind.ClusterLinkL2, name: "qcow2_cluster_link_l2", fields: [f("nb_clusters", "count")], qemu: CO },
  { kind: EventKind.L2Allocate, name: "qcow2_l2_allocate", fields: L1_INDEX, qemu: BS, detail: l1Index },
  { kind: EventKind.L2AllocateGetEmpty, name: "qcow2_l2_allocate_get_empty", fields: L1_INDEX, qemu: BS, detail: l1Index },
  { kind: EventKind.L2AllocateWriteL2, name: "qcow2_l2_allocate_write_l2", fields: L1_INDEX, qemu: BS, detail: l1Index },
  { kind: EventKind.L2AllocateWriteL1, name: "qcow2_l2_allocate_write_l1", fields: L1_INDEX, qemu: BS, detail: l1Index },
  { kind: EventKind.L2AllocateDone, name: "qcow2_l2_allocate_done", fields: [f("l1_index", "index"), f("ret", "ret")], qemu: BS, detail: l1Index },
  {
    kind: EventKind.CacheGet,
    name: "qcow2_cache_get",
    fields: [f("table_offset", "offset", { qemu: "offset" }), f("read_from_disk", "flag")],
    qemu: { who: "co", isL2Cache: true },
    detail: (e) => `${cacheName(e.cache)} cache get ${hexw(e.a)}${e.b ? "" : " (new table)"}`,
  },
  {
    kind: EventKind.CacheGetReplaceEntry,
    name: "qcow2_cache_get_replace_entry",
    fields: [f("evicted_offset", "offset", { qemu: false }), f("table_offset", "offset", { qemu: false })],
    qemu: CACHE_SLOT,
    detail: (e) => `${cacheName(e.cache)} miss: slot ${e.slot} ${e.a ? `evicts ${hexw(e.a)}` : "(empty)"} for ${hexw(e.b)}`,
  },
  {
    kind: EventKind.CacheGetRead,
    name: "qcow2_cache_get_read",
    fields: [f("table_offset", "offset", { qemu: false }), f("read_from_disk", "flag", { qemu: false })],
    qemu: CACHE_SLOT,
    detail: (e) => `${cacheName(e.cache)} slot ${e.slot} ${e.b ? "reads" : "zeroes"} ${hexw(e.a)}`,
  },
  {
    kind: EventKind.CacheGetDone,
    name: "qcow2_cache_get_done",
    fields: [f("table_offset", "offset", { qemu: false }), f("miss", "flag", { qemu: false })],
    qemu: CACHE_SLOT,
    detail: (e) => `${cacheName(e.cache)} slot ${e.slot} = ${hexw(e.a)} (${e.b ? "miss" : "hit"})`,
  },
  { kind: EventKind.CacheFlush, name: "qcow2_cache_flush", fields: [], qemu: { who: "co", isL2Cache: true }, detail: (e) => `${cacheName(e.cache)} cache write-back` },
  {
    kind: EventKind.CacheEntryFlush,
    name: "qcow2_cache_entry_flush",
    fields: [f("table_offset", "offset", { qemu: false })],
    qemu: CACHE_SLOT,
    detail: (e) => `${cacheName(e.cache)} slot ${e.slot} writes back ${hexw(e.a)}`,
  },
  {
    kind: EventKind.AddTask,
    name: "qcow2_add_task",
    fields: [f("file_cluster_offset", "offset"), f("offset", "offset"), f("bytes", "bytes")],
    qemu: { who: "co", custom: addTask },
    detail: (e) => `host ${hexw(e.a)} guest ${hexw(e.b)} ${size(e.c)}`,
  },
  // --- ours (QEMU has blkdebug events for most, but no trace line) ---
  { kind: EventKind.RequestStart, name: "request_start", fields: [...OFFSET_BYTES, f("op", "op")] },
  { kind: EventKind.RequestEnd, name: "request_end", fields: [f("ret", "ret")], text: (e) => `ret ${e.a}` },
  {
    kind: EventKind.RefcountRead,
    name: "refcount_read",
    fields: [f("cluster_index", "index"), f("refcount", "refcount")],
    text: (e) => `cluster ${e.a} refcount ${e.b}`,
    detail: (e) => `refcount[${e.a}] = ${e.b}`,
  },
  {
    kind: EventKind.RefcountUpdate,
    name: "refcount_update",
    fields: [f("cluster_index", "index"), f("old_refcount", "refcount"), f("new_refcount", "refcount")],
    text: (e) => `cluster ${e.a} refcount ${e.b} -> ${e.c}`,
    detail: (e) => `refcount[${e.a}] ${e.b} -> ${e.c}`,
  },
  ...[EventKind.ClusterAlloc, EventKind.ClusterFree].map((kind) => ({
    kind,
    name: kind === EventKind.ClusterAlloc ? "cluster_alloc" : "cluster_free",
    fields: [f("host_offset", "offset"), f("clusters", "count")],
    text: (e: EngineEvent) => `offset ${hex(e.a)} clusters ${e.b}`,
    detail: clusters,
  })),
  {
    kind: EventKind.RefblockAlloc,
    name: "refblock_alloc",
    fields: [f("host_offset", "offset"), f("reftable_index", "index")],
    text: (e) => `offset ${hex(e.a)} reftable_index ${e.b}`,
    detail: (e) => `refblock at ${hexw(e.a)} for reftable[${e.b}]`,
  },
  { kind: EventKind.ReftableGrow, name: "reftable_grow", fields: GROW, text: growText, detail: grow },
  {
    kind: EventKind.L1Update,
    name: "l1_update",
    fields: [f("l1_index", "index"), f("l2_offset", "offset")],
    text: (e) => `l1_index ${e.a} l2_offset ${hex(e.b)}`,
    detail: (e) => `L1[${e.a}] = ${hexw(e.b)}`,
  },
  { kind: EventKind.L1Grow, name: "l1_grow", fields: GROW, text: growText, detail: grow },
  {
    kind: EventKind.L2Update,
    name: "l2_update",
    fields: [f("l2_index", "index"), f("host_offset", "offset"), f("zero", "flag")],
    text: (e) => `slot ${e.slot} index ${e.a} host ${hex(e.b)}${e.c ? " zero" : ""}`,
    detail: (e) => `slot ${e.slot} entry ${e.a} = ${hexw(e.b)}${e.c ? " zero" : ""}`,
  },
  { kind: EventKind.CowRead, name: "cow_read", fields: HOST_BYTES, detail: sizeAt },
  { kind: EventKind.CowWrite, name: "cow_write", fields: HOST_BYTES, detail: sizeAt },
  { kind: EventKind.DataRead, name: "data_read", fields: HOST_BYTES, detail: sizeAt },
  { kind: EventKind.DataWrite, name: "data_write", fields: HOST_BYTES, detail: sizeAt },
  { kind: EventKind.BackingRead, name: "backing_read", fields: GUEST_BYTES, detail: sizeAt },
  { kind: EventKind.ZeroRead, name: "zero_read", fields: GUEST_BYTES, detail: sizeAt },
  {
    kind: EventKind.Decompress,
    name: "decompress",
    fields: [f("host_offset", "offset"), f("compressed_bytes", "bytes"), f("bytes", "bytes")],
    text: (e) => `offset ${hex(e.a)} bytes ${e.b} -> ${e.c}`,
    detail: sizeAt,
  },
  { kind: EventKind.MetadataRead, name: "metadata_read", fields: HOST_BYTES, text: metadataText, detail: metadata },
  { kind: EventKind.MetadataWrite, name: "metadata_write", fields: HOST_BYTES, text: metadataText, detail: metadata },
  { kind: EventKind.FlushToOs, name: "flush_to_os", fields: [], text: () => "" },
  { kind: EventKind.FlushToDisk, name: "flush_to_disk", fields: [], text: () => "" },
  { kind: EventKind.DirtyBit, name: "dirty_bit", fields: [f("dirty", "flag")], text: (e) => `dirty ${e.a}`, detail: (e) => (e.a ? "set" : "cleared") },
  {
    kind: EventKind.ZeroCluster,
    name: "zero_cluster",
    fields: [f("guest_offset", "offset"), f("unmap", "flag")],
    text: (e) => `guest ${hex(e.a)}${e.b ? " unmap" : ""}`,
    detail: (e) => `guest cluster ${hexw(e.a)}${e.b ? " (may unmap)" : ""}`,
  },
  { kind: EventKind.DiscardCluster, name: "discard_cluster", fields: [f("guest_offset", "offset")], text: (e) => `guest ${hex(e.a)}`, detail: (e) => `guest cluster ${hexw(e.a)}` },
  { kind: EventKind.CacheHit, name: "cache_hit", fields: [f("table_offset", "offset")] },
  { kind: EventKind.CacheMiss, name: "cache_miss", fields: [f("table_offset", "offset")] },
];

const BY_KIND: (EventSpec | undefined)[] = [];
for (const s of EVENT_SCHEMA) {
  if (BY_KIND[s.kind]) throw new Error(`event schema: kind ${s.kind} has two rows`);
  BY_KIND[s.kind] = s;
}

export function eventSpec(kind: EventKind): EventSpec | undefined {
  return BY_KIND[kind];
}

/** Number of kinds (for typed-array counters indexed by kind): one past the largest kind in the table. */
export const EVENT_KIND_COUNT = BY_KIND.length;

export const EVENT_NAMES: Readonly<Record<number, string>> = Object.fromEntries(EVENT_SCHEMA.map((s) => [s.kind, s.name]));

export function isQemuTraced(kind: EventKind): boolean {
  return BY_KIND[kind]?.qemu !== undefined;
}

/** QEMU's trace line for an event it traces (pointers as stable ids: co<request>, bs<node>), else null. */
export function qemuLine(e: EngineEvent): string | null {
  const s = BY_KIND[e.kind];
  const q = s?.qemu;
  if (!s || !q) return null;
  let line = `${s.name} co co${e.request}`;
  if (q.custom) return `${line} ${q.custom(e)}`;
  if (q.who === "bs") line = `${s.name} bs bs${e.node}`;
  if (q.isL2Cache) line += ` is_l2_cache ${e.cache}`;
  const cols = [e.a, e.b, e.c];
  s.fields.forEach((fd, i) => {
    if (fd.qemu === false) return;
    const v = cols[i]!;
    line += ` ${fd.qemu ?? fd.name} ${fd.unit === "offset" || fd.qemuHex ? hex(v) : v}`;
  });
  if (q.index) line += ` index ${e.slot}`;
  return line;
}

/** qcowdbg's line for an event after its name (QEMU-traced kinds have qemuLine). */
export function eventFields(e: EngineEvent): string {
  const s = BY_KIND[e.kind];
  return s?.text ? s.text(e) : `offset ${hex(e.a)} bytes ${e.b}`;
}

/** What the event means, in the TUI's words, without its name. */
export function eventDetail(e: EngineEvent): string {
  return BY_KIND[e.kind]?.detail?.(e) ?? "";
}
