// The host write log: every write, size change and sync the engine issues to its image file (and external data
// file), in order, with the request and the decision that caused it. A Storage decorator plus an event-sink tee,
// so the engine needs no hook: nothing is logged unless a crash explorer wraps an image's storage with these.
import { EventKind, CACHE_L2, CACHE_REFCOUNT } from "../events/event-kind.js";
import type { EventSink } from "../events/recorder.js";
import { ForwardingSink } from "../events/forwarding-sink.js";
import type { Storage } from "../storage/storage.js";

/** Which engine decision a host write carries out. */
export type WriteCause = "guest-data" | "cow" | "cow-zero" | "compressed" | "l2" | "refcount" | "reftable" | "l1" | "header" | "discard" | "other";

export const CAUSE_TEXT: Record<WriteCause, string> = {
  "guest-data": "guest data",
  cow: "COW data",
  "cow-zero": "zeroes instead of COW",
  compressed: "compressed data",
  l2: "L2 write-back",
  refcount: "refcount write-back",
  reftable: "refcount table update",
  l1: "L1 update",
  header: "header update",
  discard: "freed cluster punched",
  other: "other",
};

/** Writes that change metadata (what `check` reads) rather than guest data. */
export function isMetadataCause(c: WriteCause): boolean {
  return c === "l2" || c === "refcount" || c === "reftable" || c === "l1" || c === "header" || c === "other";
}

export interface HostOp {
  /** Position in the whole log (0-based, never reused). */
  seq: number;
  kind: "write" | "truncate" | "sync";
  /** 0 = the image file, 1 = its external data file. */
  target: 0 | 1;
  offset: number;
  /** Bytes written; for a truncate, the new size. */
  length: number;
  /** A copy of the bytes written (writes only). */
  data?: Uint8Array;
  cause: WriteCause;
  /** The request (1-based replay step) that issued it. */
  request: number;
  /** That request's guest range (for data writes: which guest clusters it may change). */
  guestOffset: number;
  guestLength: number;
}

/** Where metadata lives, so a write can be labelled by its offset when it is issued. */
export interface MetadataLayout {
  classify(target: 0 | 1, offset: number): WriteCause | undefined;
}

export class HostWriteLog {
  /** Ops since the last completed sync (the volatile writes). */
  volatile: HostOp[] = [];
  seq = 0;
  syncs = 0;
  writes = 0;
  request = 0;
  guestOffset = 0;
  guestLength = 0;
  layout: MetadataLayout | null = null;
  /** Called just before a sync makes the volatile ops durable: the moment a crash loses the most. */
  beforeSync: ((log: HostWriteLog) => void) | null = null;
  /** Size changes are the host file system's metadata: applied to the durable image at once (see docs/crash.md). */
  onTruncate: ((target: 0 | 1, size: number) => void) | null = null;
  /** Called after a sync: the ops it made durable. */
  afterSync: ((ops: HostOp[]) => void) | null = null;
  /** Ops issued but not yet labelled by the event that follows them. */
  private pending: HostOp[] = [];

  record(kind: "write" | "truncate", target: 0 | 1, offset: number, length: number, data?: Uint8Array): void {
    // The labelling event follows its write at once; an op still pending now gets no event.
    this.settlePending();
    const cause = this.layout?.classify(target, offset);
    const op: HostOp = { seq: this.seq++, kind, target, offset, length, data, cause: cause ?? "other", request: this.request, guestOffset: this.guestOffset, guestLength: this.guestLength };
    if (kind === "truncate") {
      this.onTruncate?.(target, length);
      return;
    }
    this.writes++;
    if (cause === undefined) this.pending.push(op);
    this.volatile.push(op);
  }

  /** Labels the ops issued since the last labelling event (the event follows the write in the engine). */
  label(cause: WriteCause): void {
    for (const op of this.pending) op.cause = cause;
    this.pending.length = 0;
  }

  /** Ops no event claimed: zero-filled writes are freed clusters punched by the discard queue. */
  private settlePending(): void {
    for (const op of this.pending) op.cause = op.data && isZero(op.data) ? "discard" : "other";
    this.pending.length = 0;
  }

  sync(): void {
    this.settlePending();
    this.beforeSync?.(this);
    const done = this.volatile;
    this.volatile = [];
    this.syncs++;
    this.seq++;
    this.afterSync?.(done);
  }
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]) return false;
  return true;
}

/** A storage whose writes, size changes and syncs go to a HostWriteLog as well as to the storage below. */
export class LoggedStorage implements Storage {
  readonly writable = true;
  readonly name: string;

  constructor(
    readonly inner: Storage,
    readonly log: HostWriteLog,
    readonly target: 0 | 1,
  ) {
    this.name = inner.name;
  }
  size(): number {
    return this.inner.size();
  }
  read(buf: Uint8Array, offset: number): number {
    return this.inner.read(buf, offset);
  }
  write(buf: Uint8Array, offset: number): void {
    this.log.record("write", this.target, offset, buf.length, buf.slice());
    this.inner.write(buf, offset);
  }
  truncate(size: number): void {
    this.log.record("truncate", this.target, size, size);
    this.inner.truncate(size);
  }
  flush(): void {
    this.log.sync();
    this.inner.flush();
  }
  close(): void {
    this.inner.close();
  }
}

/** Passes every event on, and labels the host writes that the event reports (DataWrite, CowWrite, ...). */
export class CauseTee extends ForwardingSink {
  /** Set when a guest flush (FlushToOs) ran since the last reset. */
  guestFlushed = false;

  constructor(
    inner: EventSink,
    readonly log: HostWriteLog,
  ) {
    super(inner);
  }

  override emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void {
    if (node === 0) {
      switch (kind) {
        case EventKind.DataWrite:
          this.log.label(this.compressing ? "compressed" : "guest-data");
          break;
        case EventKind.CowWrite:
          this.log.label("cow");
          break;
        case EventKind.SkipCow:
          this.log.label("cow-zero");
          break;
        case EventKind.MetadataWrite:
          this.log.label(cache === CACHE_L2 ? "l2" : cache === CACHE_REFCOUNT ? "refcount" : "reftable");
          break;
        case EventKind.L1Update:
          this.log.label("l1");
          break;
        case EventKind.FlushToOs:
          this.guestFlushed = true;
          break;
      }
    }
    // d too: add_task's pool and qiov_offset (the crash explorer's event list showed 'pool (nil)' without it).
    this.inner.emit(kind, node, cache, slot, a, b, c, d);
  }

  // cacheHit: passed on (ForwardingSink); cache events label no host write.

  /** The replay driver says whether the current request is a compressed write. */
  compressing = false;
}
