// An event's payload columns (a, b, c) by name, as event-schema.ts names them: the args of JSON events
// (`replay --events`, the library's events) and of Chrome/Perfetto trace events.
import { EVENT_SCHEMA } from "./event-schema.js";
import type { EngineEvent } from "./recorder.js";

/** Names of columns a, b, c in order; a shorter list means the rest are unused. */
export type EventArgNames = readonly string[];

export const EVENT_ARGS: Readonly<Record<number, EventArgNames>> = Object.fromEntries(EVENT_SCHEMA.map((s) => [s.kind, s.fields.map((f) => f.name)]));

/** The event's payload by name (unused columns left out). */
export function eventArgs(e: EngineEvent): Record<string, number> {
  const names = EVENT_ARGS[e.kind] ?? ["a", "b", "c"];
  const cols = [e.a, e.b, e.c];
  const out: Record<string, number> = {};
  names.forEach((n, i) => (out[n] = cols[i]!));
  return out;
}
