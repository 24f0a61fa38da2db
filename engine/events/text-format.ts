// Human-readable and JSONL renderings of engine events: QEMU's field names for the events QEMU traces,
// and named fields for ours (both from event-schema.ts), so `events` in the REPL reads like a trace log.
import { EVENT_NAMES, eventFields, isQemuTraced } from "./event-schema.js";
import { formatQemuEvent } from "./qemu-trace-format.js";
import type { EngineEvent } from "./recorder.js";
import { eventArgs } from "./event-args.js";

export { eventFields };

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
