// Human-readable and JSONL renderings of engine events: QEMU's field names for the events QEMU traces,
// and named fields for ours, so `events` in the REPL reads like a trace log rather than raw columns.
import { EVENT_NAMES, EventKind, isQemuTraced } from "./event-kind.js";
import { formatQemuEvent } from "./qemu-trace-format.js";
import type { EngineEvent } from "./recorder.js";
import { eventArgs } from "./event-args.js";
import { hex } from "../units/size-text.js";

const CACHE = ["refcount", "L2"];

/** The payload of one of our own events, with field names. */
export function eventFields(e: EngineEvent): string {
  switch (e.kind) {
    case EventKind.RequestStart:
      return `offset ${hex(e.a)} bytes ${e.b}`;
    case EventKind.RequestEnd:
      return `ret ${e.a}`;
    case EventKind.RefcountRead:
      return `cluster ${e.a} refcount ${e.b}`;
    case EventKind.RefcountUpdate:
      return `cluster ${e.a} refcount ${e.b} -> ${e.c}`;
    case EventKind.ClusterAlloc:
    case EventKind.ClusterFree:
      return `offset ${hex(e.a)} clusters ${e.b}`;
    case EventKind.RefblockAlloc:
      return `offset ${hex(e.a)} reftable_index ${e.b}`;
    case EventKind.ReftableGrow:
    case EventKind.L1Grow:
      return `entries ${e.a} -> ${e.b} at ${hex(e.c)}`;
    case EventKind.L1Update:
      return `l1_index ${e.a} l2_offset ${hex(e.b)}`;
    case EventKind.L2Update:
      return `slot ${e.slot} index ${e.a} host ${hex(e.b)}${e.c ? " zero" : ""}`;
    case EventKind.DirtyBit:
      return `dirty ${e.a}`;
    case EventKind.ZeroCluster:
      return `guest ${hex(e.a)}${e.b ? " unmap" : ""}`;
    case EventKind.DiscardCluster:
      return `guest ${hex(e.a)}`;
    case EventKind.FlushToOs:
    case EventKind.FlushToDisk:
      return "";
    case EventKind.Decompress:
      return `offset ${hex(e.a)} bytes ${e.b} -> ${e.c}`;
    case EventKind.MetadataRead:
    case EventKind.MetadataWrite:
      return `${e.cache === 0 || e.cache === 1 ? CACHE[e.cache] + " " : ""}offset ${hex(e.a)} bytes ${e.b}`;
    default:
      return `offset ${hex(e.a)} bytes ${e.b}`;
  }
}

export function formatTextEvent(e: EngineEvent): string {
  const head = `#${e.seq} req ${e.request}${e.node ? ` node ${e.node}` : ""}`;
  if (isQemuTraced(e.kind)) {
    // QEMU's own line without the coroutine pointer.
    const q = formatQemuEvent(e)!.replace(/ co co\d+/, "");
    return `${head} ${q}`;
  }
  const f = eventFields(e);
  return `${head} ${EVENT_NAMES[e.kind] ?? `kind${e.kind}`}${f ? " " + f : ""}`;
}

/** One JSON line: position, kind, node, cache and slot, then the event's own fields by name (event-args.ts). */
export function formatJsonEvent(e: EngineEvent): string {
  return JSON.stringify({ seq: e.seq, request: e.request, kind: EVENT_NAMES[e.kind], node: e.node, cache: e.cache, slot: e.slot, args: eventArgs(e) });
}
