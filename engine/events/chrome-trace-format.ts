// The Trace Event Format (chrome://tracing, Perfetto): a streaming writer of {"traceEvents":[...]} with
// named tracks, complete ("X") and instant ("i") events, and the fields of an engine event as args.
// Timestamps and durations are microseconds, as the format wants.
import { EVENT_NAMES } from "./event-schema.js";
import { eventArgs } from "./event-args.js";
import type { EngineEvent } from "./recorder.js";

export type TraceArgs = Record<string, string | number | boolean>;

const FLUSH_AT = 1 << 16;

export class ChromeTraceWriter {
  private buf: string[] = [];
  private size = 0;
  private first = true;
  private ended = false;

  /** `out` receives the JSON text in chunks (a file descriptor writer, a string collector). */
  constructor(private readonly out: (chunk: string) => void) {
    this.out('{"displayTimeUnit":"ms","traceEvents":[\n');
  }

  private push(obj: object): void {
    const s = (this.first ? "" : ",\n") + JSON.stringify(obj);
    this.first = false;
    this.buf.push(s);
    this.size += s.length;
    if (this.size >= FLUSH_AT) this.flush();
  }

  private flush(): void {
    if (this.buf.length) this.out(this.buf.join(""));
    this.buf = [];
    this.size = 0;
  }

  processName(pid: number, name: string): void {
    this.push({ ph: "M", pid, tid: 0, name: "process_name", args: { name } });
  }

  /** Names a track; `sortIndex` orders the tracks in the viewer. */
  threadName(pid: number, tid: number, name: string, sortIndex = tid): void {
    this.push({ ph: "M", pid, tid, name: "thread_name", args: { name } });
    this.push({ ph: "M", pid, tid, name: "thread_sort_index", args: { sort_index: sortIndex } });
  }

  complete(pid: number, tid: number, name: string, cat: string, ts: number, dur: number, args?: TraceArgs): void {
    this.push({ ph: "X", pid, tid, name, cat, ts: round(ts), dur: round(dur), ...(args ? { args } : {}) });
  }

  instant(pid: number, tid: number, name: string, cat: string, ts: number, args?: TraceArgs): void {
    this.push({ ph: "i", s: "t", pid, tid, name, cat, ts: round(ts), ...(args ? { args } : {}) });
  }

  /** Closes the array and the object; `otherData` lands in the file's metadata. */
  end(otherData: TraceArgs = {}): void {
    if (this.ended) return;
    this.ended = true;
    this.flush();
    this.out(`\n],"otherData":${JSON.stringify(otherData)}}\n`);
  }
}

/** Nanosecond precision is plenty and keeps the file short. */
function round(us: number): number {
  return Math.round(us * 1000) / 1000;
}

/** An engine event's fields, named, for the args of a trace event. */
export function engineEventArgs(e: EngineEvent): TraceArgs {
  const args: TraceArgs = { seq: e.seq, request: e.request, ...eventArgs(e) };
  if (e.node) args.node = e.node;
  if (e.cache === 0 || e.cache === 1) args.cache = e.cache === 1 ? "L2" : "refcount";
  if (e.slot >= 0) args.slot = e.slot;
  return args;
}

export function eventName(e: EngineEvent): string {
  return EVENT_NAMES[e.kind] ?? `kind${e.kind}`;
}
