// The N slowest requests of a replay in a min-heap (the fastest kept one at the root), so keeping them costs
// O(log N) per request that enters whatever N is (--top goes to 10,000), and nothing for the rest. Ties keep
// the earlier request, as a sorted list with stable insertion would.
import type { SlowRequest } from "./replay-stats.js";

/** a is kept before b: slower, or as slow and earlier. */
function before(a: SlowRequest, b: SlowRequest): boolean {
  return a.latencyUs > b.latencyUs || (a.latencyUs === b.latencyUs && a.index < b.index);
}

export class SlowestHeap {
  private readonly heap: SlowRequest[] = [];

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.heap.length;
  }

  /** Whether a request this slow would be kept (call before building its explanation). */
  admits(latencyUs: number): boolean {
    return this.capacity > 0 && latencyUs > 0 && (this.heap.length < this.capacity || latencyUs > this.heap[0]!.latencyUs);
  }

  add(s: SlowRequest): void {
    const h = this.heap;
    if (h.length < this.capacity) {
      h.push(s);
      this.up(h.length - 1);
    } else {
      h[0] = s;
      this.down(0);
    }
  }

  /** Slowest first (a copy). */
  sorted(): SlowRequest[] {
    return [...this.heap].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[m]!, h[l]!)) m = l;
      if (r < h.length && before(h[m]!, h[r]!)) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
}
