// One engine event in words, for the request pane and for "why did it stop here": which cache, which slot,
// which table, which cluster. Field meanings follow the table in engine/events/event-kind.ts.
import { EventKind, EVENT_NAMES, CACHE_L2, CACHE_REFCOUNT } from "../../engine/events/event-kind.js";
import type { EngineEvent } from "../../engine/events/recorder.js";
import { hex as hex0x } from "../../engine/units/size-text.js";

// A negative value here is a sentinel (-1: none), shown as the number rather than as a 64-bit hex.
const hex = (n: number) => (n < 0 ? String(n) : hex0x(n));
const cacheName = (c: number) => (c === CACHE_L2 ? "L2" : c === CACHE_REFCOUNT ? "refcount" : "?");

function size(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return `${n}B`;
}

/** What the event means, without its name. */
export function eventDetail(e: EngineEvent): string {
  switch (e.kind) {
    case EventKind.CacheGet:
      return `${cacheName(e.cache)} cache get ${hex(e.a)}${e.b ? "" : " (new table)"}`;
    case EventKind.CacheGetReplaceEntry:
      return `${cacheName(e.cache)} miss: slot ${e.slot} ${e.a ? `evicts ${hex(e.a)}` : "(empty)"} for ${hex(e.b)}`;
    case EventKind.CacheGetRead:
      return `${cacheName(e.cache)} slot ${e.slot} ${e.b ? "reads" : "zeroes"} ${hex(e.a)}`;
    case EventKind.CacheGetDone:
      return `${cacheName(e.cache)} slot ${e.slot} = ${hex(e.a)} (${e.b ? "miss" : "hit"})`;
    case EventKind.CacheEntryFlush:
      return `${cacheName(e.cache)} slot ${e.slot} writes back ${hex(e.a)}`;
    case EventKind.CacheFlush:
      return `${cacheName(e.cache)} cache write-back`;
    case EventKind.MetadataRead:
    case EventKind.MetadataWrite:
      return `${e.kind === EventKind.MetadataRead ? "read" : "write"} ${size(e.b)} at ${hex(e.a)}${e.cache >= 0 ? ` (${cacheName(e.cache)})` : ""}`;
    case EventKind.RefcountRead:
      return `refcount[${e.a}] = ${e.b}`;
    case EventKind.RefcountUpdate:
      return `refcount[${e.a}] ${e.b} -> ${e.c}`;
    case EventKind.ClusterAlloc:
    case EventKind.ClusterFree:
      return `${e.b} cluster${e.b === 1 ? "" : "s"} at ${hex(e.a)}`;
    case EventKind.RefblockAlloc:
      return `refblock at ${hex(e.a)} for reftable[${e.b}]`;
    case EventKind.L1Update:
      return `L1[${e.a}] = ${hex(e.b)}`;
    case EventKind.L2Update:
      return `slot ${e.slot} entry ${e.a} = ${hex(e.b)}${e.c ? " zero" : ""}`;
    case EventKind.L1Grow:
    case EventKind.ReftableGrow:
      return `${e.a} -> ${e.b} entries at ${hex(e.c)}`;
    case EventKind.L2Allocate:
    case EventKind.L2AllocateGetEmpty:
    case EventKind.L2AllocateWriteL2:
    case EventKind.L2AllocateWriteL1:
    case EventKind.L2AllocateDone:
      return `L1 index ${e.a}`;
    case EventKind.HandleCopied:
    case EventKind.HandleAlloc:
      return `guest ${hex(e.a)} host ${e.b < 0 ? "-" : hex(e.b)} ${size(e.c)}`;
    case EventKind.DoAllocClustersOffset:
      return `guest ${hex(e.a)} host ${e.b < 0 ? "-" : hex(e.b)} x${e.c}`;
    case EventKind.WritevStartReq:
    case EventKind.PwriteZeroesStartReq:
    case EventKind.PwriteZeroes:
    case EventKind.AllocClustersOffset:
    case EventKind.WritevStartPart:
      return `guest ${hex(e.a)} ${size(e.b)}`;
    case EventKind.WritevData:
      return `host ${hex(e.a)}`;
    case EventKind.SkipCow:
      return `guest ${hex(e.a)} x${e.b}`;
    case EventKind.AddTask:
      return `host ${hex(e.a)} guest ${hex(e.b)} ${size(e.c)}`;
    case EventKind.CowRead:
    case EventKind.CowWrite:
    case EventKind.DataRead:
    case EventKind.DataWrite:
    case EventKind.BackingRead:
    case EventKind.ZeroRead:
    case EventKind.Decompress:
      return `${size(e.b)} at ${hex(e.a)}`;
    case EventKind.ZeroCluster:
      return `guest cluster ${hex(e.a)}${e.b ? " (may unmap)" : ""}`;
    case EventKind.DiscardCluster:
      return `guest cluster ${hex(e.a)}`;
    case EventKind.DirtyBit:
      return e.a ? "set" : "cleared";
    default:
      return "";
  }
}

export function eventName(e: EngineEvent): string {
  return EVENT_NAMES[e.kind] ?? `kind${e.kind}`;
}

/** "#245 qcow2_cache_get_replace_entry  L2 miss: slot 0 (empty) for 0x50000". */
export function eventLine(e: EngineEvent): string {
  const d = eventDetail(e);
  return `#${e.seq} ${eventName(e)}${e.node ? ` [backing ${e.node}]` : ""}${d ? `  ${d}` : ""}`;
}
