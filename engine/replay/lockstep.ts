// What-ifs in one pass: one request stream, parsed once, stepped through several replay loops (one per
// configuration) request by request. Each loop has its own engine, shadow and cost model, so every summary is
// exactly what a replay of that configuration alone gives; only the parsing is shared. This is one thread's
// share; what-if-threads.ts deals the recommendations' verification runs out over worker threads, each stepping
// its share through this function (docs/ARCHITECTURE.md, step 5).
import type { GuestRequest } from "../workload/guest-request.js";
import { ReplayLoop } from "./replay-loop.js";
import type { ReplayRunOptions, ReplaySummary } from "./replay-stats.js";

export interface LockstepRun {
  imagePath: string;
  opts: ReplayRunOptions;
}

/**
 * Replays `requests` once through every run. A run whose image cannot be opened gets its Error in its place and
 * the others go on.
 */
export function replayLockstep(requests: Iterable<GuestRequest>, runs: LockstepRun[]): (ReplaySummary | Error)[] {
  const out: (ReplaySummary | Error)[] = [];
  const loops: ReplayLoop[] = [];
  const at: number[] = [];
  try {
    runs.forEach((r, i) => {
      try {
        loops.push(new ReplayLoop(r.imagePath, r.opts));
        at.push(i);
      } catch (e) {
        out[i] = e instanceof Error ? e : new Error(String(e));
      }
    });
    // No run opened: the trace is not read at all.
    if (loops.length > 0) for (const req of requests) for (const l of loops) l.step(req);
    loops.forEach((l, k) => (out[at[k]!] = l.summary()));
    return out;
  } finally {
    for (const l of loops) l.close();
  }
}

/**
 * One request stream read by `n` consumers (the dashboard's what-if runs): whichever consumer is ahead pulls from
 * `source` and queues the request for the others, so the trace is parsed once and a queue holds only how far the
 * consumers are apart (one slice of a frame).
 */
export function fanOut<T>(source: Iterator<T>, n: number): Iterator<T>[] {
  const queues: T[][] = Array.from({ length: n }, () => []);
  const heads = new Array<number>(n).fill(0);
  let ended = false;
  return queues.map((q, i) => ({
    next(): IteratorResult<T> {
      if (heads[i]! < q.length) {
        const value = q[heads[i]!]!;
        heads[i]!++;
        if (heads[i] === q.length) {
          q.length = 0;
          heads[i] = 0;
        }
        return { value, done: false };
      }
      if (ended) return { value: undefined, done: true };
      const it = source.next();
      if (it.done) {
        ended = true;
        return { value: undefined, done: true };
      }
      for (let k = 0; k < n; k++) if (k !== i) queues[k]!.push(it.value);
      return it;
    },
  }));
}
