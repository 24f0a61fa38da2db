// One engine event in words, for the request pane and for "why did it stop here": which cache, which slot,
// which table, which cluster. The words per kind live in engine/events/event-schema.ts.
import { EVENT_NAMES, eventDetail } from "../../engine/events/event-schema.js";
import type { EngineEvent } from "../../engine/events/recorder.js";
import type { RowTarget } from "./view-models.js";

/** What the event means, without its name: the words are the event's row in engine/events/event-schema.ts. */
export { eventDetail };

export function eventName(e: EngineEvent): string {
  return EVENT_NAMES[e.kind] ?? `kind${e.kind}`;
}

/** "#245 qcow2_cache_get_replace_entry  L2 miss: slot 0 (empty) for 0x50000". */
export function eventLine(e: EngineEvent): string {
  const d = eventDetail(e);
  return `#${e.seq} ${eventName(e)}${e.node ? ` [backing ${e.node}]` : ""}${d ? `  ${d}` : ""}`;
}

/** The target of an event's row: `b` on it breaks on events of its kind. */
export function eventTarget(e: EngineEvent): RowTarget {
  return { kind: "event", name: eventName(e), seq: e.seq };
}
