// `break` and `watch` arguments -> the timeline's BreakpointSpec / WatchSpec, and back to words for
// `info break`. Event names are QEMU's trace names (qcow2_cache_get_replace_entry) or ours (cache_miss).
import { EVENT_NAMES } from "../../engine/events/event-schema.js";
import { parseSize } from "../../engine/image/engine-config.js";
import type { BreakpointSpec, WatchSpec } from "../../engine/replay/timeline-api.js";
import { SessionError, resolveWord } from "./command-table.js";

export const EVENT_NAME_LIST: readonly string[] = Object.values(EVENT_NAMES);
const BREAK_KINDS = ["offset", "cluster", "l1", "l2", "request", "latency", "event"] as const;
const WATCH_KINDS = ["cluster", "l2", "refcount"] as const;

/** A non-negative integer (decimal, 0x hex, or a size with k/M/G suffix). */
export function parseNumber(s: string | undefined, what: string): number {
  if (s === undefined || s === "") throw new SessionError(`Argument required (${what}).`);
  try {
    return parseSize(s);
  } catch {
    throw new SessionError(`Invalid ${what}: "${s}".`);
  }
}

/** An event name: exact, without QEMU's "qcow2_" prefix, or a unique prefix of either. */
export function resolveEventName(word: string): string | undefined {
  const w = word.toLowerCase();
  if (EVENT_NAME_LIST.includes(w)) return w;
  if (EVENT_NAME_LIST.includes("qcow2_" + w)) return "qcow2_" + w;
  const m = EVENT_NAME_LIST.filter((n) => n.startsWith(w) || n.startsWith("qcow2_" + w));
  if (m.length === 1) return m[0];
  if (m.length > 1) {
    const exactish = m.filter((n) => n === w || n === "qcow2_" + w);
    if (exactish.length === 1) return exactish[0];
    throw new SessionError(`Ambiguous event "${word}": ${m.slice(0, 8).join(", ")}${m.length > 8 ? ", ..." : ""}.`);
  }
  return undefined;
}

/** "A-B", "A+LEN" or "A" (one byte) -> [from, to). */
function parseRange(s: string): { from: number; to: number } {
  const plus = s.indexOf("+");
  const dash = s.indexOf("-");
  if (plus > 0) {
    const from = parseNumber(s.slice(0, plus), "offset");
    return { from, to: from + parseNumber(s.slice(plus + 1), "length") };
  }
  if (dash > 0) {
    const from = parseNumber(s.slice(0, dash), "offset");
    const to = parseNumber(s.slice(dash + 1), "offset");
    if (to <= from) throw new SessionError(`Empty range "${s}".`);
    return { from, to };
  }
  const from = parseNumber(s, "offset");
  return { from, to: from + 1 };
}

/**
 * Names in the taxonomy the engine never emits, said the way the engine does say them: every cache miss
 * replaces an entry (qcow2_cache_get_replace_entry), every request starts once.
 */
function eventSpec(name: string): BreakpointSpec {
  switch (name) {
    case "cache_miss":
      return { kind: "event", eventName: "qcow2_cache_get_replace_entry" };
    case "request_start":
      return { kind: "predicate", describe: "every request", test: () => true };
    case "cache_hit":
    case "request_end":
      throw new SessionError(`The engine does not emit ${name}; break on ${name === "cache_hit" ? "qcow2_cache_get_done (b=0 is a hit)" : "request_start, or use next"}.`);
  }
  return { kind: "event", eventName: name };
}

/**
 * The report's words for a cache miss ("l2-miss" is a cause in `replay`'s time by cause, "L2 misses" a total):
 * `break cache_miss l2`, `break l2-miss`, `break refcount-miss`, `break cache_miss` (either cache).
 */
const MISS_WORDS: Record<string, "l2" | "refcount" | "any"> = {
  cache_miss: "any",
  "cache-miss": "any",
  "l2-miss": "l2",
  l2_miss: "l2",
  "refcount-miss": "refcount",
  refcount_miss: "refcount",
};

function missSpec(word: string, arg: string | undefined): BreakpointSpec {
  let cache = MISS_WORDS[word]!;
  if (arg !== undefined) {
    if (cache !== "any") throw new SessionError(`"${word}" already names its cache; use: break ${word}`);
    cache = resolveWord(arg, ["l2", "refcount"], "cache", "break cache_miss") as "l2" | "refcount";
  }
  return { kind: "event", eventName: "qcow2_cache_get_replace_entry", ...(cache === "any" ? {} : { cache }) };
}

export function parseBreak(args: string[]): BreakpointSpec {
  if (!args.length) throw new SessionError("Argument required (event name, offset, or one of: offset, cluster, l1, l2, request, latency, cache_miss [l2|refcount]).");
  const [first, ...rest] = args as [string, ...string[]];
  if (Object.hasOwn(MISS_WORDS, first.toLowerCase())) return missSpec(first.toLowerCase(), rest[0]);
  if (/^(0x[0-9a-f]+|\d)/i.test(first)) return { kind: "offset", ...parseRange(first) };
  const ev = rest.length === 0 ? resolveEventName(first) : undefined;
  if (ev) return eventSpec(ev);
  let kind: string;
  try {
    kind = resolveWord(first, BREAK_KINDS, "breakpoint kind", "break");
  } catch {
    throw new SessionError(`No event or breakpoint kind "${first}" (try: cache_miss l2, l2-miss, qcow2_cache_get_replace_entry, offset 64k, cluster 5, l1 0, l2 0:17, request 12).`);
  }
  const arg = rest[0];
  switch (kind) {
    case "offset":
      if (!arg) throw new SessionError("Argument required (offset range: A, A-B or A+LEN).");
      return { kind: "offset", ...parseRange(arg) };
    case "cluster":
      return { kind: "cluster", hostCluster: parseNumber(arg, "host cluster index") };
    case "l1":
      return { kind: "l1", index: parseNumber(arg, "L1 index") };
    case "l2": {
      if (!arg) throw new SessionError("Argument required (L1 index, optionally :L2 index).");
      const [a, b] = arg.split(":");
      const l1Index = parseNumber(a, "L1 index");
      return b === undefined ? { kind: "l2", l1Index } : { kind: "l2", l1Index, l2Index: parseNumber(b, "L2 index") };
    }
    case "request": {
      const n = parseNumber(arg, "request number");
      if (n < 1) throw new SessionError("Requests are numbered from 1.");
      // The timeline passes 0-based indexes; users count from 1 as the panes do.
      return { kind: "predicate", describe: `request ${n}`, test: (_r, index) => index === n - 1 };
    }
    case "latency":
      return { kind: "latency", overMicros: parseNumber(arg?.replace(/us$|µs$/i, ""), "latency in µs") };
    default: {
      if (!arg) throw new SessionError("Argument required (event name).");
      const name = resolveEventName(arg);
      if (!name) throw new SessionError(`No event "${arg}".`);
      return eventSpec(name);
    }
  }
}

export function parseWatch(args: string[]): WatchSpec {
  if (args.length < 2) throw new SessionError("Usage: watch cluster N | l2 N | refcount N.");
  const kind = resolveWord(args[0]!, WATCH_KINDS, "watch kind", "watch");
  const n = parseNumber(args[1], kind === "l2" ? "L1 index" : "host cluster index");
  if (kind === "cluster") return { kind: "cluster", hostCluster: n };
  if (kind === "l2") return { kind: "l2-table", l1Index: n };
  return { kind: "refcount", hostCluster: n };
}

/** The spec in words (the timeline's wording, so `info break` and stop lines agree). */
export { describeSpec } from "../../engine/replay/breakpoints.js";
