// Which thread replays each verification run beside the baseline on two cores (baseline-aside.ts), from costs
// measured in this replay rather than constants: an engine that gets faster at one format (say extended L2) would
// make fixed weights stale and leave one thread waiting for the other. Measured: the parse per request (this
// thread, over the prefix), the baseline per request (the worker, over the prefix), and each run per request (a
// short sample replayed here when it can start). The work left on each thread is then its cost per request times
// the requests still to come (estimated from the trace's size), and each run goes where the larger of the two
// ends up smaller. A wrong estimate moves the end of the wait, never a figure: every run is the same replay.
import * as fs from "node:fs";

/**
 * CPU nanoseconds this thread has run (Linux: /proc/thread-self/schedstat, nanosecond resolution, unlike the
 * stat file's 10 ms ticks), or wall nanoseconds where it cannot be read (a cost then counts waits too).
 */
export function threadCpuNs(): number {
  if (schedstat) {
    try {
      return Number(fs.readFileSync("/proc/thread-self/schedstat", "latin1").split(" ", 1)[0]);
    } catch {
      schedstat = false;
    }
  }
  return performance.now() * 1e6;
}
let schedstat = process.platform === "linux";

/** The work each thread has left, in CPU nanoseconds, and what went where (for --debug). */
export interface ThreadLoads {
  here: number;
  there: number;
}

/** A group of runs sharing a copy (kept on one thread: no two threads make or wait for the same copy), with its cost. */
export interface CostedGroup {
  /** Sum of its runs' CPU nanoseconds per request. */
  perRequest: number;
  /** Requests each of its runs still has to replay if it stays here / goes to the worker (catch-up included). */
  requestsHere: number;
  requestsThere: number;
}

/**
 * Deals `groups` over the two threads, heaviest first, each to the side whose load is the smaller afterwards'
 * maximum (longest processing time first, for two machines), updating `loads`. Returns, per group, whether it
 * stays here.
 */
export function dealGroups(groups: CostedGroup[], loads: ThreadLoads): boolean[] {
  const order = groups.map((_, i) => i).sort((a, b) => groups[b]!.perRequest - groups[a]!.perRequest || a - b);
  const here = new Array<boolean>(groups.length).fill(false);
  for (const i of order) {
    const g = groups[i]!;
    const h = loads.here + g.perRequest * g.requestsHere;
    const t = loads.there + g.perRequest * g.requestsThere;
    if (Math.max(h, loads.there) <= Math.max(loads.here, t)) {
      loads.here = h;
      here[i] = true;
    } else loads.there = t;
  }
  return here;
}

/**
 * The trace's request count, estimated from its size, the bytes of its first lines and the lines per request
 * so far (NaN when it cannot be: stdin, an unreadable or binary file). For dealing only.
 */
export function estimateRequests(file: string, linesSoFar: number, requestsSoFar: number, head = headLineBytes(file)): number {
  if (!(head > 0) || !(linesSoFar > 0) || !(requestsSoFar > 0)) return NaN;
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return NaN;
  }
  return (size / head) * (requestsSoFar / linesSoFar);
}

/** Mean bytes per line over the file's first 256 KiB (NaN when unreadable or without a line break). */
export function headLineBytes(file: string): number {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, "r");
    const buf = Buffer.alloc(256 * 1024);
    const got = fs.readSync(fd, buf, 0, buf.length, 0);
    let lines = 0;
    let last = -1;
    for (let i = buf.indexOf(10); i >= 0 && i < got; i = buf.indexOf(10, i + 1)) {
      lines++;
      last = i;
    }
    return lines > 0 ? (last + 1) / lines : NaN;
  } catch {
    return NaN;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
