// The timeline's searches for breakpoint hits: forward runs that replay requests and watch their events
// (scanRequests), and the backward search of request-level breakpoints that reads the trace alone (searchBack).
import type { EventRecorder } from "../events/recorder.js";
import { eventMatch, isRequestLevel, requestMatch, WatchState } from "./breakpoints.js";
import type { ReplayEngine } from "./replay-engine.js";
import type { RequestColumns } from "./request-columns.js";
import type { Breakpoint, BreakpointSpec, Position } from "./timeline-api.js";
import type { GuestRequest } from "../workload/guest-request.js";

export interface Hit {
  request: number;
  event: number;
  ids: number[];
  watch: boolean;
  detail: string;
}

export interface ScanContext {
  engine: ReplayEngine;
  requests: RequestColumns;
  breakpoints: Breakpoint[];
  latencyOf?: (index: number, ctx: { recorder: EventRecorder; firstEvent: number; endEvent: number; request: GuestRequest }) => number;
  /** Called after each request the scan applies (the timeline takes its checkpoints there). */
  afterRequest: () => void;
}

const EVENT_LEVEL = new Set(["event", "cluster", "l1", "l2"]);

export function comparePositions(a: Position, b: Position): number {
  return a.request - b.request || a.event - b.event;
}

/** The last request-level hit before `at`, found in the trace: a request-level breakpoint hits at (i, 0). */
export function searchBack(breakpoints: Breakpoint[], requests: RequestColumns, at: Position): Hit | null {
  const active = breakpoints.filter((b) => b.enabled);
  for (let i = at.event > 0 ? at.request : at.request - 1; i >= 0; i--) {
    const req = requests.get(i);
    let hit: Hit | null = null;
    for (const b of active) {
      const d = requestMatch(b.spec as BreakpointSpec, req, i);
      if (!d) continue;
      if (hit) hit.ids.push(b.id);
      else hit = { request: i, event: 0, ids: [b.id], watch: false, detail: d };
    }
    if (hit) return hit;
  }
  return null;
}

/**
 * Runs requests [fromReq, endReq) from the state after fromReq (the engine must be there) and returns the
 * first or last hit strictly between `after` and `before`. Request-level breakpoints hit at (i, 0) before
 * request i runs; event-level ones and watches at (i, k) after its k-th event; latency ones at (i, 0) once
 * the request has run; a watched change seen only at a request's end at (i + 1, 0).
 */
export function scanRequests(ctx: ScanContext, fromReq: number, after: Position | null, before: Position | null, endReq: number, mode: "first" | "last"): Hit | null {
  const eng = ctx.engine;
  const rec = eng.recorder;
  const img = eng.image;
  const active = ctx.breakpoints.filter((b) => b.enabled);
  const reqBps = active.filter((b) => !b.watch && isRequestLevel(b.spec as BreakpointSpec));
  const latBps = active.filter((b) => !b.watch && b.spec.kind === "latency");
  const evBps = active.filter((b) => !b.watch && EVENT_LEVEL.has(b.spec.kind));
  const watches = active.filter((b) => b.watch).map((b) => new WatchState(b, img));
  const listen = evBps.length > 0 || watches.length > 0;
  const record = listen || latBps.length > 0;
  let best: Hit | null = null;
  const offer = (request: number, event: number, id: number, watch: boolean, detail: string) => {
    const p = { request, event };
    if ((after && comparePositions(p, after) <= 0) || (before && comparePositions(p, before) >= 0)) return;
    if (best) {
      const c = comparePositions(p, best);
      if (c === 0) {
        if (!best.ids.includes(id)) best.ids.push(id);
        return;
      }
      if ((mode === "first") === c > 0) return;
    }
    best = { request, event, ids: [id], watch, detail };
  };
  let cur = fromReq;
  let start = 0;
  let inRequest = false;
  // A throw inside the listener would abort the request inside the engine and change what it does: keep it.
  let failure: unknown = null;
  const off = listen
    ? rec.onEvent((e) => {
        if (!inRequest || failure !== null) return;
        try {
          const k = e.seq - start + 1;
          for (const b of evBps) {
            const d = eventMatch(b.spec as BreakpointSpec, e, img);
            if (d) offer(cur, k, b.id, false, d);
          }
          for (const w of watches) {
            const d = w.afterEvent(e);
            if (d) offer(cur, k, w.bp.id, true, d);
          }
        } catch (err) {
          failure = err;
        }
      })
    : null;
  const wasRecording = rec.enabled;
  try {
    for (; cur < endReq; cur++) {
      const req = ctx.requests.get(cur);
      for (const b of reqBps) {
        const d = requestMatch(b.spec as BreakpointSpec, req, cur);
        if (d) offer(cur, 0, b.id, false, d);
      }
      if (mode === "first" && best) break;
      if (record) rec.enabled = true;
      start = rec.length;
      inRequest = true;
      try {
        eng.apply(req);
      } finally {
        inRequest = false;
      }
      if (failure !== null) throw failure;
      try {
        for (const b of latBps) {
          const over = (b.spec as { overMicros: number }).overMicros;
          const lat = ctx.latencyOf!(cur, { recorder: rec, firstEvent: start, endEvent: rec.length, request: req });
          if (lat > over) offer(cur, 0, b.id, false, `request ${cur + 1} modelled at ${lat.toFixed(1)} µs > ${over} µs`);
        }
        for (const w of watches) {
          const d = w.afterRequest();
          if (d) offer(cur + 1, 0, w.bp.id, true, d);
        }
      } finally {
        // The log was on only for this run: it ends where it ended before (checkpoints record that length).
        if (record && !wasRecording) {
          rec.enabled = false;
          rec.rewind(start);
        }
      }
      ctx.afterRequest();
      if (mode === "first" && best) break;
    }
  } finally {
    off?.();
    rec.enabled = wasRecording;
  }
  return best;
}
