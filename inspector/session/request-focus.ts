// The request the panes look at, and its events: the one being stepped through (its events so far), else the last
// one applied (its events from the log, or re-run when the log is off); in image mode the last qemu-io command.
// Event lists are capped at MAX_EVENT_ROWS, and the cap is said, not hidden.
import type { EngineEvent } from "../../engine/events/recorder.js";
import type { RequestStarts } from "./event-index.js";
import type { Row } from "./view-models.js";
import type { Session } from "./session.js";

/** Event rows a pane lists per request (a request can have tens of thousands); the rest is said, not hidden. */
export const MAX_EVENT_ROWS = 4096;

/** The request the panes look at: the one being stepped through, else the last one applied. */
export interface Focus {
  /** 0-based request index, -1 without a trace. */
  index: number;
  /** Requests fully applied. */
  applied: number;
  inProgress: boolean;
  /** Its events so far. */
  events: EngineEvent[];
  latest?: EngineEvent;
  /** End of the event log at this position (sums run over [0, logEnd)). */
  logEnd: number;
  /** Event range of the focus request in the log, when recorded. */
  first: number;
  end: number;
  /** Events the request has (so far); `events` holds at most MAX_EVENT_ROWS of them. */
  total?: number;
}

/** ", N events", or ", first 4096 of N events" when the list is capped. */
export function eventCount(f: Focus): string {
  const total = Math.max(f.total ?? 0, f.events.length);
  if (!total) return "";
  return total > f.events.length ? `, first ${f.events.length} of ${total} events` : `, ${total} events`;
}

export function capNote(rows: Row[], f: Focus): void {
  const total = f.total ?? 0;
  if (total > f.events.length)
    rows.push({ key: "cap", text: `(${total - f.events.length} more events not listed: the pane shows the first ${MAX_EVENT_ROWS}; \`events\` in the REPL prints every one)`, tone: "dim" });
}

/** Where the panes look at the session's position (see Focus). */
export function focusAt(s: Session, starts: RequestStarts): Focus {
  const tl = s.timeline;
  const rec = s.recorder();
  const logLen = rec?.length ?? 0;
  if (!tl) {
    // Image mode: the events of the last qemu-io command.
    const io = s.lastIo;
    const events: EngineEvent[] = [];
    if (io && rec) for (let i = io.first; i < Math.min(io.end, rec.length, io.first + MAX_EVENT_ROWS); i++) events.push(rec.get(i));
    return { index: -1, applied: 0, inProgress: false, events, logEnd: logLen, first: io?.first ?? 0, end: io ? Math.min(io.end, logLen) : 0, total: io && rec ? Math.min(io.end, rec.length) - io.first : 0 };
  }
  const pos = tl.position();
  const v = tl.view();
  if (pos.event > 0 && pos.request < tl.requestCount) {
    const events = v.events;
    const latest = events[events.length - 1];
    const first = events[0]?.seq ?? logLen;
    const end = latest ? latest.seq + 1 : logLen;
    return { index: pos.request, applied: pos.request, inProgress: true, events, latest, logEnd: logLen, first, end };
  }
  if (pos.request === 0 || (s.focusNext && pos.request < tl.requestCount))
    return { index: pos.request < tl.requestCount ? pos.request : -1, applied: pos.request, inProgress: false, events: [], logEnd: logLen, first: 0, end: 0 };
  if (rec && !rec.enabled) {
    // No event log (a very long trace): re-run the request to show its events, when the timeline can.
    const rerun = (tl as { eventsOf?: (i: number) => EngineEvent[] }).eventsOf;
    const all = rerun ? rerun.call(tl, pos.request - 1) : [];
    return { index: pos.request - 1, applied: pos.request, inProgress: false, events: all.slice(0, MAX_EVENT_ROWS), logEnd: logLen, first: 0, end: 0, total: all.length };
  }
  const range = rec ? starts.range(rec, pos.request, logLen) : null;
  const events: EngineEvent[] = [];
  if (range && rec) for (let i = range.first; i < Math.min(range.end, range.first + MAX_EVENT_ROWS); i++) events.push(rec.get(i));
  return { index: pos.request - 1, applied: pos.request, inProgress: false, events, logEnd: logLen, first: range?.first ?? 0, end: range?.end ?? 0, total: range ? range.end - range.first : 0 };
}
