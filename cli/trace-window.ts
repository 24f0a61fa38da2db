// --from/--to of `replay --events/--chrome-trace`: which requests' events are written, by request number (1-based,
// both ends included) or by trace time (seconds from the trace start as the trace gives it; from included, to
// excluded, as workload --start/--end). A window keeps a 1M-request trace to the part one wants to look at.
import { ExitError } from "./fail.js";

export interface TraceWindow {
  includes(request: number, time: number): boolean;
}

type Bound = { request: number } | { time: number } | null;

const UNITS: Record<string, number> = { s: 1, ms: 1e-3, us: 1e-6, "µs": 1e-6, ns: 1e-9 };

function bound(name: string, v: string | undefined): Bound {
  if (v === undefined) return null;
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n < 1) throw new ExitError(`replay: ${name} request numbers start at 1, not '${v}'`, 1);
    return { request: n };
  }
  const m = /^(\d+(?:\.\d+)?)(s|ms|us|µs|ns)$/.exec(v);
  if (!m) throw new ExitError(`replay: ${name} must be a request number (1000) or a trace time (2.5s, 300ms, 40us), not '${v}'`, 1);
  return { time: Number(m[1]) * UNITS[m[2]!]! };
}

export function parseWindow(from: string | undefined, to: string | undefined): TraceWindow {
  const lo = bound("--from", from);
  const hi = bound("--to", to);
  return {
    includes(request, time) {
      if (lo && ("request" in lo ? request < lo.request : time < lo.time)) return false;
      if (hi && ("request" in hi ? request > hi.request : time >= hi.time)) return false;
      return true;
    },
  };
}
