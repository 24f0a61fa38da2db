// The contract between the time-travelling timeline (engine/replay/timeline.ts) and its users (the REPL, the
// TUI, the dashboard). Positions are (request, event): request r in 0..requestCount, event e within it.
import type { EngineEvent } from "../events/recorder.js";
import type { GuestRequest } from "../workload/guest-request.js";
import type { CacheView } from "../image/metadata-cache.js";
import type { ImageView } from "../image/image-view.js";

export interface Position {
  /** Requests fully applied (0 = nothing applied yet). */
  request: number;
  /** Events of request `request + 1` already shown (0 = at its start); used by event stepping. */
  event: number;
}

export type BreakpointSpec =
  | { kind: "event"; eventName: string; /** Only events of this metadata cache (cache misses: "l2" or "refcount"). */ cache?: "l2" | "refcount" }
  | { kind: "offset"; from: number; to: number }
  | { kind: "cluster"; hostCluster: number }
  | { kind: "l1"; index: number }
  | { kind: "l2"; l1Index: number; l2Index?: number }
  | { kind: "latency"; overMicros: number }
  | { kind: "predicate"; describe: string; test: (r: GuestRequest, index: number) => boolean };

export type WatchSpec =
  | { kind: "cluster"; hostCluster: number }
  | { kind: "l2-table"; l1Index: number }
  | { kind: "refcount"; hostCluster: number };

export interface Breakpoint {
  id: number;
  spec: BreakpointSpec | WatchSpec;
  watch: boolean;
  enabled: boolean;
  hits: number;
}

export interface StopReason {
  kind: "step" | "breakpoint" | "watchpoint" | "end" | "start" | "target";
  breakpoint?: number;
  detail?: string;
}

/** A metadata cache's bookkeeping at one moment (per slot the table offset, rank, pins, dirty flag). */
export type { CacheView };

/** A read-only view of the engine state at the current position, for panes and `info` commands. */
export interface StateView {
  position: Position;
  /**
   * The image after `position.request` requests (stepping inside a request does not change it), read-only: a
   * view cannot run the engine, so it cannot move the caches' LRU counters behind the timeline's back.
   */
  image: ImageView;
  /** The request about to run (or the one whose events are being stepped), if any. */
  current?: GuestRequest;
  /** Events of the current request shown so far. */
  events: EngineEvent[];
  /** Cache bookkeeping at this position: as it was at the last event shown when inside a request. */
  caches?: { l2: CacheView; refcount: CacheView };
}

export interface TimelineApi {
  /**
   * The request of the nearest checkpoint at or before `request`: where a backward scan over `request` starts.
   * Backward runs in slices end their slices there, so each segment is replayed once (optional).
   */
  segmentStart?(request: number): number;
  /** True when every enabled breakpoint is decided by the request alone: reverse-continue then needs no slices. */
  requestLevelOnly?(): boolean;
  readonly requestCount: number;
  position(): Position;
  request(i: number): GuestRequest;
  /** Forward one engine event (inside the next request). */
  step(): StopReason;
  /** Forward one whole request. */
  next(): StopReason;
  /** Forward until a breakpoint/watchpoint or the end. */
  continue(): StopReason;
  reverseStep(): StopReason;
  reverseNext(): StopReason;
  reverseContinue(): StopReason;
  /** Jump to "after request n" (n in 0..requestCount). */
  runTo(n: number): StopReason;
  /** Jump to the first request at or after time t (seconds). */
  runToTime(t: number): StopReason;
  addBreakpoint(spec: BreakpointSpec): Breakpoint;
  addWatch(spec: WatchSpec): Breakpoint;
  deleteBreakpoint(id: number): boolean;
  breakpoints(): Breakpoint[];
  view(): StateView;
}
