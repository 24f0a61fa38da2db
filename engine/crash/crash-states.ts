// Which crash states a point allows: every subset of the volatile writes may have reached the disk (it may reorder
// them), optionally with one write torn after its first sector. Exhaustive up to 2^12 subsets; past that a seeded
// sample that always holds the two extremes (nothing persisted, everything persisted).
import { prng } from "../prng.js";

/** The seeded PRNG the sample is drawn with (re-exported for the explorer and its tests). */
export { prng };

export const EXHAUSTIVE_BITS = 12;
export const DEFAULT_SAMPLE = 16;

export interface CrashState {
  /** keep[i] = 1 when volatile write i persisted. */
  keep: Uint8Array;
  /** Index of a write of which only the first sector persisted, or -1. */
  torn: number;
}

export interface StatePlan {
  states: CrashState[];
  /** How many states the point allows (2^n, plus the torn variants when asked); may be Infinity. */
  possible: number;
  exhaustive: boolean;
}


/**
 * The states to check at a point with `n` volatile writes. `multiSector[i]` says write i spans more than one
 * sector (only those can tear). Torn variants: the crash came while write i was in flight, so the writes before
 * it persisted, i persisted its first sector only, and none after it (a prefix crash), and the same with every
 * other write persisted (the disk reordered i last).
 */
export function planStates(n: number, multiSector: boolean[], sample: number, random: () => number, torn: boolean): StatePlan {
  const states: CrashState[] = [];
  const tornable = torn ? multiSector.map((m, i) => (m ? i : -1)).filter((i) => i >= 0) : [];
  const possible = 2 ** n + (tornable.length ? tornable.length * 2 ** Math.max(0, n - 1) : 0);
  const exhaustive = n <= EXHAUSTIVE_BITS;
  if (exhaustive) {
    for (let m = 0; m < 2 ** n; m++) {
      const keep = new Uint8Array(n);
      for (let i = 0; i < n; i++) keep[i] = (m >>> i) & 1;
      states.push({ keep, torn: -1 });
    }
  } else {
    states.push({ keep: new Uint8Array(n), torn: -1 }, { keep: new Uint8Array(n).fill(1), torn: -1 });
    const seen = new Set<string>();
    for (let k = 2; k < sample; k++) {
      const keep = new Uint8Array(n);
      for (let i = 0; i < n; i++) keep[i] = random() < 0.5 ? 1 : 0;
      const key = keep.join("");
      if (seen.has(key)) continue;
      seen.add(key);
      states.push({ keep, torn: -1 });
    }
  }
  for (const i of tornable) {
    const prefix = new Uint8Array(n);
    prefix.fill(1, 0, i);
    states.push({ keep: prefix, torn: i });
    const others = new Uint8Array(n).fill(1);
    others[i] = 0;
    states.push({ keep: others, torn: i });
  }
  return { states, possible, exhaustive: exhaustive };
}
