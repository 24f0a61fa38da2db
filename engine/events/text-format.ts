// Human-readable and JSONL renderings of engine events.
import { EVENT_NAMES } from "./event-kind.js";
import type { EngineEvent } from "./recorder.js";

const CACHE = ["refcount", "L2"];

export function formatTextEvent(e: EngineEvent): string {
  const parts = [`#${e.seq}`, `req ${e.request}`, EVENT_NAMES[e.kind] ?? `kind${e.kind}`];
  if (e.node) parts.push(`node ${e.node}`);
  if (e.cache === 0 || e.cache === 1) parts.push(`cache ${CACHE[e.cache]}`);
  if (e.slot >= 0) parts.push(`slot ${e.slot}`);
  parts.push(`a=0x${e.a.toString(16)} b=${e.b} c=${e.c}`);
  return parts.join(" ");
}

export function formatJsonEvent(e: EngineEvent): string {
  return JSON.stringify({ seq: e.seq, request: e.request, kind: EVENT_NAMES[e.kind], node: e.node, cache: e.cache, slot: e.slot, a: e.a, b: e.b, c: e.c });
}
