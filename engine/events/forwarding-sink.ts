// An EventSink that passes everything on to another: the base of the sinks that watch or hold events on their way
// to the recorder (the crash explorer's CauseTee, the read path's DeferredEvents and FlushOnYield), which override
// only emit() or cacheHit().
import type { EventKind } from "./event-kind.js";
import type { EventSink } from "./recorder.js";

export class ForwardingSink implements EventSink {
  constructor(readonly inner: EventSink) {}

  get enabled(): boolean {
    return this.inner.enabled;
  }
  set enabled(v: boolean) {
    this.inner.enabled = v;
  }
  get request(): number {
    return this.inner.request;
  }
  set request(v: number) {
    this.inner.request = v;
  }

  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void {
    this.inner.emit(kind, node, cache, slot, a, b, c, d);
  }

  cacheHit(node: number, cache: number, slot: number, offset: number, readFromDisk: number): boolean {
    return this.inner.cacheHit(node, cache, slot, offset, readFromDisk);
  }
}
