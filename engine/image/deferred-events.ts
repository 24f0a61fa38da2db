// The order QEMU traces a pooled read task that reads a qcow2 backing node: the task runs in its own coroutine
// until it first yields (the backing node's cache miss, qcow2_cache_get_read), and the request coroutine goes on
// with its next chunk; the task's later events come when the request coroutine yields in turn (its own cache
// miss, or waiting for its tasks at the end). The engine runs the task at once and holds its later events here.
import { EventKind } from "../events/event-kind.js";
import { ForwardingSink } from "../events/forwarding-sink.js";
import type { EventSink } from "../events/recorder.js";

/** Installed on the backing chain's nodes while a pooled task reads them: events after the first yield wait. */
export class DeferredEvents extends ForwardingSink {
  /** The task (or one before it, which holds the backing node's lock) has yielded: events wait for flush(). */
  yielded = false;
  private held: number[] = [];

  override emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void {
    if (this.yielded) {
      this.held.push(kind, node, cache, slot, a, b, c, d ?? 0);
      return;
    }
    this.inner.emit(kind, node, cache, slot, a, b, c, d);
    if (kind === EventKind.CacheGetRead) this.yielded = true;
  }

  /** A hit's get + get_done (no yield between them): held with the rest once yielded, else passed on as one. */
  override cacheHit(node: number, cache: number, slot: number, offset: number, readFromDisk: number): boolean {
    return this.yielded ? false : this.inner.cacheHit(node, cache, slot, offset, readFromDisk);
  }

  /** Whether events wait for the request coroutine's next yield. */
  get pending(): boolean {
    return this.held.length > 0;
  }

  /** The request coroutine yielded: the tasks run on, in the order they yielded. */
  flush(): void {
    const h = this.held;
    this.held = [];
    this.yielded = false;
    for (let i = 0; i < h.length; i += 8) this.inner.emit(h[i]!, h[i + 1]!, h[i + 2]!, h[i + 3]!, h[i + 4]!, h[i + 5]!, h[i + 6]!, h[i + 7]!);
  }
}

/** The request coroutine's own sink while tasks wait: its cache miss yields, so the waiting events come after it. */
export class FlushOnYield extends ForwardingSink {
  constructor(
    inner: EventSink,
    readonly node: number,
    readonly waiting: DeferredEvents,
  ) {
    super(inner);
  }

  override emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void {
    this.inner.emit(kind, node, cache, slot, a, b, c, d);
    if (kind === EventKind.CacheGetRead && node === this.node && this.waiting.pending) this.waiting.flush();
  }

  // cacheHit: passed on (ForwardingSink); a hit does not yield, so there is nothing to flush.
}
