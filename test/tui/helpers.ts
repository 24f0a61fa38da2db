// Sessions over the tour sample (64 MiB image built by qemu-img 7.2, 63-request qemu-io trace) for the session,
// view and component tests; output lines are collected instead of printed.
import * as path from "node:path";
import { openImageSession, openTraceSession } from "../../inspector/session/open-session.js";
import type { Session } from "../../inspector/session/session.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const TOUR_IMAGE = path.join(ROOT, "samples/images/tour.qcow2");
export const TOUR_TRACE = path.join(ROOT, "samples/traces/tour.qemu-io");

export interface Captured {
  session: Session;
  lines: string[];
  /** Runs a line and returns what it printed. */
  run(line: string): string[];
}

function capture(make: (out: (l: string) => void) => Session): Captured {
  const lines: string[] = [];
  const session = make((l) => lines.push(l));
  // The panes are looked at: commands mark what they changed, as in the TUI.
  session.views.screen = true;
  return {
    session,
    lines,
    run(line: string) {
      const from = lines.length;
      session.execute(line);
      return lines.slice(from);
    },
  };
}

export function tourTrace(): Captured {
  return capture((out) => openTraceSession(TOUR_IMAGE, TOUR_TRACE, { out }));
}

export function tourImage(): Captured {
  return capture((out) => openImageSession(TOUR_IMAGE, { out }));
}
