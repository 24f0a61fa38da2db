// Keys that move the replay are queued and run on the next turn of the event loop, within a time budget: a
// held-down key (or a paste) arrives as a burst, and whatever does not fit in the budget is dropped instead of
// queueing seconds of work behind the screen.

export interface QueuedAction {
  name: string;
  run: () => void;
}

export class KeyQueue {
  private pending: QueuedAction[] = [];
  private scheduled = false;
  dropped = 0;

  constructor(
    private readonly after: () => void,
    /** Work per burst, ms. */
    private readonly budgetMs = 60,
    /** Actions kept waiting at most (a burst beyond this is dropped on arrival). */
    private readonly maxPending = 8,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(a: QueuedAction): void {
    if (this.pending.length >= this.maxPending) {
      this.dropped++;
      return;
    }
    this.pending.push(a);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  get size(): number {
    return this.pending.length;
  }

  clear(): void {
    this.dropped += this.pending.length;
    this.pending = [];
  }

  /** Runs queued actions until the budget is spent; drops the rest. */
  flush(): void {
    this.scheduled = false;
    const t0 = this.now();
    const batch = this.pending;
    this.pending = [];
    let ran = 0;
    try {
      for (const a of batch) {
        if (ran > 0 && this.now() - t0 > this.budgetMs) break;
        ran++;
        a.run();
      }
    } finally {
      this.dropped += batch.length - ran;
      this.after();
    }
  }
}
