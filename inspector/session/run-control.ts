// Long runs in slices: continue / reverse-continue go through the timeline one bounded stretch at a time (a
// temporary predicate breakpoint marks the end of each stretch), so a face can redraw, show progress and let the
// user stop between slices. The timeline itself stays synchronous; slices size themselves to ~30 ms.
import type { StopReason, TimelineApi } from "../../engine/replay/timeline-api.js";

export interface RunProgress {
  /** Requests applied so far, and the total. */
  done: number;
  total: number;
}

/** A run: yields progress between slices and returns why it stopped. */
export type Run = Generator<RunProgress, StopReason, void>;

/** A slice's target length: Esc is read between slices, so it answers within about twice this. */
const TARGET_MS = 30;

export function* slicedContinue(tl: TimelineApi, forward: boolean): Run {
  // Backwards over request-level breakpoints the timeline searches the trace, not the replay: one quick call.
  if (!forward && tl.requestLevelOnly?.()) return tl.reverseContinue();
  let chunk = 32;
  // Backwards: checkpoint intervals per slice. Each slice restores one checkpoint per interval it scans plus one
  // to stop at its start, so one interval a slice restored twice per interval; a few per slice amortise that.
  let intervals = 1;
  const total = tl.requestCount;
  while (true) {
    const start = tl.position().request;
    // Backwards, a slice ends at a checkpoint: reverse-continue replays from the checkpoint before the position,
    // so a slice that ended mid-segment would replay that segment again in the next slice (the TUI's reverse
    // continue took 24 s where one REPL call took under 1 s).
    let target = forward ? start + chunk : start - chunk;
    if (!forward && tl.segmentStart) {
      target = start;
      for (let k = 0; k < intervals && target > 0; k++) target = tl.segmentStart(target - 1);
    }
    if (forward ? target >= total : target <= 0) return forward ? tl.continue() : tl.reverseContinue();
    const mark = tl.addBreakpoint({
      kind: "predicate",
      describe: forward ? `slice end at request ${target}` : `slice start at request ${target}`,
      test: forward ? (_r, i) => i >= target : (_r, i) => i <= target,
    });
    const t0 = performance.now();
    let r: StopReason;
    try {
      r = forward ? tl.continue() : tl.reverseContinue();
    } finally {
      tl.deleteBreakpoint(mark.id);
    }
    if (r.breakpoint !== mark.id) return r;
    // A timeline that does not move on its own slice marker would spin: finish in one go instead.
    if (tl.position().request === start) return forward ? tl.continue() : tl.reverseContinue();
    const ms = performance.now() - t0;
    if (ms < TARGET_MS / 2) {
      chunk *= 2;
      intervals = Math.min(intervals * 2, 64);
    } else if (ms > TARGET_MS * 2) {
      chunk = Math.max(1, Math.floor(chunk / 2));
      intervals = Math.max(1, Math.floor(intervals / 2));
    }
    yield { done: tl.position().request, total };
  }
}

/** run-to: backwards is one jump (checkpoints bound it); forwards goes in slices of requests. */
export function* slicedRunTo(tl: TimelineApi, n: number): Run {
  let chunk = 64;
  while (true) {
    const cur = tl.position().request;
    if (n <= cur || n - cur <= chunk) return tl.runTo(n);
    const t0 = performance.now();
    tl.runTo(cur + chunk);
    const ms = performance.now() - t0;
    if (ms < TARGET_MS / 2) chunk *= 2;
    else if (ms > TARGET_MS * 2 && chunk > 1) chunk = Math.max(1, Math.floor(chunk / 2));
    yield { done: tl.position().request, total: n };
  }
}

/** Repeats a step-like call up to n times, stopping early on anything but a plain step. */
export function* repeated(fn: () => StopReason, n: number): Run {
  let r: StopReason = { kind: "step" };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    r = fn();
    if (r.kind !== "step") return r;
    if (i % 64 === 63 && performance.now() - t0 > TARGET_MS) yield { done: i + 1, total: n };
  }
  return r;
}

/** Runs to completion without yielding to anyone (scripts, -c). */
export function drain(run: Run): StopReason {
  while (true) {
    const s = run.next();
    if (s.done) return s.value;
  }
}
