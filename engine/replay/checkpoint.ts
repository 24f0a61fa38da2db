// Checkpoints for time travel, after rr: restore the nearest one at or before the target, then re-execute
// deterministically. A checkpoint is the whole engine state; its big arrays (L1, refcount table, cache tables)
// are kept as deflated XOR deltas against the previous checkpoint (delta-archive.ts), shadow pages are shared
// copy-on-write, and the spacing doubles (dropping every other checkpoint) whenever memory exceeds the budget.
import { captureImage, releaseImage, restoreImage, smallStateBytes, type BlobCodec, type ImageState } from "../image/image-snapshot.js";
import { ShadowStorage } from "../storage/shadow-storage.js";
import { DeltaArchive, type Blob } from "./delta-archive.js";
import type { ReplayEngine } from "./replay-engine.js";

/** The engine's state outside the image: where the event log ends and the counters per kind. */
export interface EngineSnapshot<B> {
  request: number;
  recorderLength: number;
  counts: Float64Array;
  /** Events emitted since the replay started (the sum of the counters): the work re-execution repeats. */
  work: number;
  image: ImageState<B>;
}

export function workDone(engine: ReplayEngine): number {
  let n = 0;
  for (const c of engine.recorder.counts) n += c;
  return n;
}

export function captureEngine<B>(engine: ReplayEngine, codec: BlobCodec<B>): EngineSnapshot<B> {
  return {
    request: engine.requests,
    recorderLength: engine.recorder.length,
    counts: engine.recorder.counts.slice(),
    work: workDone(engine),
    image: captureImage(engine.image, codec),
  };
}

/** Puts the engine back; the event log keeps what lies past the restored end (see EventRecorder.rewind). */
export function restoreEngine<B>(engine: ReplayEngine, s: EngineSnapshot<B>, codec: BlobCodec<B>): void {
  restoreImage(engine.image, s.image, codec);
  engine.recorder.rewind(s.recorderLength);
  engine.recorder.counts.set(s.counts);
  engine.recorder.request = s.request;
  engine.requests = s.request;
}

export interface Checkpoint extends EngineSnapshot<string> {
  /** Blob per key; the image state names its arrays by key. */
  blobs: Map<string, Blob>;
  bytes: number;
}

export interface CheckpointPolicy {
  /** Requests between checkpoints at most (doubles when memory runs over budget). */
  interval: number;
  /** Engine events between checkpoints at most: bounds the re-execution a jump costs. */
  maxEvents: number;
  /** Bytes checkpoints may hold (blobs, archive buffers, shadow pages only they hold). */
  budgetBytes: number;
  /**
   * When set: the most of the replay's time captures may take. A capture that took longer than this share of the
   * replay since the previous one widens the spacing by half (up to maxInterval requests): comparing big caches
   * (a 12.5 MiB L2 cache for 100 GiB) cost as much as replaying the requests between checkpoints.
   */
  captureShare?: number;
  maxInterval?: number;
}

export const DEFAULT_POLICY: CheckpointPolicy = { interval: 1024, maxEvents: 16384, budgetBytes: 768 * 1024 * 1024 };

export class CheckpointStore {
  readonly list: Checkpoint[] = [];
  readonly policy: CheckpointPolicy;
  /** How many times the spacing doubled to stay within the budget. */
  thinnings = 0;
  private archive = new DeltaArchive();
  private blobBytes = 0;

  constructor(private readonly engine: ReplayEngine, policy: Partial<CheckpointPolicy> = {}) {
    this.policy = { ...DEFAULT_POLICY, ...policy };
  }

  get last(): Checkpoint | undefined {
    return this.list[this.list.length - 1];
  }

  /** True when the engine stands past the last checkpoint by a full interval (of requests or of events). */
  due(): boolean {
    const last = this.last;
    if (!last) return true;
    const r = this.engine.requests;
    if (r <= last.request) return false;
    return r - last.request >= this.policy.interval || workDone(this.engine) - last.work >= this.policy.maxEvents;
  }

  capture(): Checkpoint {
    const t0 = performance.now();
    const cp = this.captureNow();
    const t1 = performance.now();
    const share = this.policy.captureShare;
    const max = this.policy.maxInterval ?? 8192;
    // Only ever widened: time between captures includes the user's pauses, which must not narrow anything.
    if (share !== undefined && this.lastEnd > 0 && t1 - t0 > share * (t0 - this.lastEnd) && this.policy.interval < max) {
      this.policy.interval = Math.min(max, Math.ceil(this.policy.interval * 1.5));
      this.policy.maxEvents = Math.ceil(this.policy.maxEvents * 1.5);
      this.widenings++;
    }
    this.lastEnd = t1;
    return cp;
  }

  /** Times the spacing was widened because captures took too long (captureShare). */
  widenings = 0;
  private lastEnd = 0;

  private captureNow(): Checkpoint {
    const last = this.last;
    if (last && this.engine.requests <= last.request) throw new Error(`checkpoints are taken in order (last at ${last.request}, engine at ${this.engine.requests})`);
    const blobs = new Map<string, Blob>();
    const codec: BlobCodec<string> = {
      store: (key, live) => {
        blobs.set(key, this.archive.store(key, live));
        return key;
      },
      load: () => {
        throw new Error("not for loading");
      },
    };
    const snap = captureEngine(this.engine, codec);
    const cp: Checkpoint = { ...snap, blobs, bytes: 0 };
    cp.bytes = this.sizeOf(cp);
    this.blobBytes += cp.bytes;
    this.list.push(cp);
    while (this.memoryBytes() > this.policy.budgetBytes && this.list.length > 2) this.thin();
    return cp;
  }

  /** The last checkpoint at or before `request`. */
  nearest(request: number): Checkpoint {
    let lo = 0;
    let hi = this.list.length - 1;
    if (hi < 0 || this.list[0]!.request > request) throw new Error(`no checkpoint at or before request ${request}`);
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.list[mid]!.request <= request) lo = mid;
      else hi = mid - 1;
    }
    return this.list[lo]!;
  }

  restore(cp: Checkpoint): void {
    const codec: BlobCodec<string> = {
      store: () => {
        throw new Error("not for storing");
      },
      load: (key) => this.archive.load(key, cp.blobs.get(key)!),
    };
    restoreEngine(this.engine, cp, codec);
  }

  /** Memory the checkpoints hold beyond the live engine. */
  memoryBytes(): number {
    let shadow = 0;
    const f = this.engine.image.file;
    if (f instanceof ShadowStorage) shadow = f.retainedBytes() - f.shadowBytes();
    return this.blobBytes + this.archive.overheadBytes() + Math.max(0, shadow);
  }

  /** Of memoryBytes(), the archive's anchor copies: a fixed cost (a few copies of each cache), not per request. */
  anchorBytes(): number {
    return this.archive.anchorBytes();
  }

  /** Drops every other checkpoint (never the first or the last) and doubles the spacing. */
  private thin(): void {
    this.thinnings++;
    this.policy.interval *= 2;
    this.policy.maxEvents *= 2;
    for (let i = this.list.length - 2; i >= 1; i--) if (i % 2 === 1) this.remove(i);
  }

  private remove(i: number): void {
    const cp = this.list[i]!;
    const next = this.list[i + 1]!;
    for (const [key, blob] of cp.blobs) {
      const nb = next.blobs.get(key);
      if (nb && nb.prev === blob) this.archive.merge(blob, nb);
    }
    releaseImage(this.engine.image, cp.image);
    this.blobBytes -= cp.bytes + next.bytes;
    next.bytes = this.sizeOf(next);
    this.blobBytes += next.bytes;
    this.list.splice(i, 1);
  }

  private sizeOf(cp: Checkpoint): number {
    let n = smallStateBytes(cp.image) + cp.counts.byteLength;
    for (const b of cp.blobs.values()) n += b.bytes;
    return n;
  }

  /** Lets go of every checkpoint's shadow pages. */
  dispose(): void {
    for (const cp of this.list) releaseImage(this.engine.image, cp.image);
    this.list.length = 0;
    this.blobBytes = 0;
  }
}
