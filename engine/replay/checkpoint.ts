// Checkpoints for time travel, after rr: restore the nearest one at or before the target, then re-execute
// deterministically. A checkpoint is the whole engine state; its big arrays (L1, refcount table, cache tables)
// are delta-encoded against the previous checkpoint with a full copy now and then, shadow pages are shared
// copy-on-write, and the spacing doubles (dropping every other checkpoint) whenever memory exceeds the budget.
import { captureImage, releaseImage, restoreImage, smallStateBytes, type BlobCodec, type ImageState } from "../image/image-snapshot.js";
import { ShadowStorage } from "../storage/shadow-storage.js";
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

interface FullBlob {
  full: Uint8Array;
  prev: null;
  bytes: number;
  chainBytes: number;
  chainLength: number;
}
interface DeltaBlob {
  full: null;
  /** The blob this one changes (same key, previous checkpoint). */
  prev: Blob;
  /** Changed 32-bit words (ascending) and their new values. */
  idx: Uint32Array;
  val: Uint32Array;
  bytes: number;
  /** Delta bytes and deltas since the last full copy, this one included. */
  chainBytes: number;
  chainLength: number;
}
type Blob = FullBlob | DeltaBlob;

const MAX_CHAIN = 1024;
const BLOCK = 4096;
const SUB = 256;

function blobLength(b: Blob): number {
  while (b.full === null) b = b.prev;
  return b.full.length;
}

/** The delta-encoded store of every big array, by key; `refs` is the content at the latest capture. */
class DeltaArchive {
  private refs = new Map<string, { bytes: Uint8Array; blob: Blob }>();
  private scratch = new Map<string, { blob: Blob | null; bytes: Uint8Array }>();
  private idx = new Uint32Array(1024);
  private val = new Uint32Array(1024);

  store(key: string, live: Uint8Array): Blob {
    const ref = this.refs.get(key);
    const aligned = live.length % 4 === 0 && live.byteOffset % 4 === 0;
    if (!ref || ref.bytes.length !== live.length || !aligned) {
      const blob: FullBlob = { full: live.slice(), prev: null, bytes: live.length, chainBytes: 0, chainLength: 0 };
      this.refs.set(key, { bytes: live.slice(), blob });
      // The buffer loads will use, allocated now: a first jump must not pay for the GC a big allocation starts.
      if (this.scratch.get(key)?.bytes.length !== live.length) this.scratch.set(key, { blob: null, bytes: new Uint8Array(live.length) });
      return blob;
    }
    const n = this.diff(ref.bytes, live);
    const bytes = n * 8;
    const prev = ref.blob;
    let blob: Blob;
    if (prev.chainBytes + bytes > live.length / 2 || prev.chainLength >= MAX_CHAIN) {
      blob = { full: live.slice(), prev: null, bytes: live.length, chainBytes: 0, chainLength: 0 };
    } else {
      blob = { full: null, prev, idx: this.idx.slice(0, n), val: this.val.slice(0, n), bytes, chainBytes: prev.chainBytes + bytes, chainLength: prev.chainLength + 1 };
    }
    ref.blob = blob;
    return blob;
  }

  /** Words where `live` differs from `ref` go to idx/val; `ref` is brought up to date. Returns how many. */
  private diff(ref: Uint8Array, live: Uint8Array): number {
    const r = Buffer.from(ref.buffer, ref.byteOffset, ref.length);
    const l = Buffer.from(live.buffer, live.byteOffset, live.length);
    const rw = new Uint32Array(ref.buffer, ref.byteOffset, ref.length / 4);
    const lw = new Uint32Array(live.buffer, live.byteOffset, live.length / 4);
    let n = 0;
    for (let start = 0; start < live.length; start += BLOCK) {
      const end = Math.min(live.length, start + BLOCK);
      if (l.compare(r, start, end, start, end) === 0) continue;
      // A changed block usually differs in a word or two (an L2 entry): find them by sub-blocks, natively.
      for (let sub = start; sub < end; sub += SUB) {
        const subEnd = Math.min(end, sub + SUB);
        if (l.compare(r, sub, subEnd, sub, subEnd) === 0) continue;
        n = this.diffWords(rw, lw, sub / 4, subEnd / 4, n);
      }
    }
    return n;
  }

  /** Words [from, to) where `lw` differs from `rw` go to idx/val from index n; returns the new count. */
  private diffWords(rw: Uint32Array, lw: Uint32Array, from: number, to: number, n: number): number {
    for (let w = from; w < to; w++) {
      const v = lw[w]!;
      if (rw[w] === v) continue;
      rw[w] = v;
      if (n === this.idx.length) {
        const i2 = new Uint32Array(n * 2);
        i2.set(this.idx);
        this.idx = i2;
        const v2 = new Uint32Array(n * 2);
        v2.set(this.val);
        this.val = v2;
      }
      this.idx[n] = w;
      this.val[n++] = v;
    }
    return n;
  }

  /** The content of a blob, in a buffer owned by the archive (valid until the next load of the same key). */
  load(key: string, blob: Blob): Uint8Array {
    const len = blobLength(blob);
    let sc = this.scratch.get(key);
    if (!sc || sc.bytes.length !== len) {
      sc = { blob: null, bytes: new Uint8Array(len) };
      this.scratch.set(key, sc);
    }
    if (sc.blob === blob) return sc.bytes;
    const chain: DeltaBlob[] = [];
    let b: Blob = blob;
    while (b !== sc.blob && b.full === null) {
      chain.push(b);
      b = b.prev;
    }
    if (b !== sc.blob) sc.bytes.set((b as FullBlob).full);
    const words = new Uint32Array(sc.bytes.buffer, 0, len >>> 2);
    for (let k = chain.length - 1; k >= 0; k--) {
      const d = chain[k]!;
      for (let i = 0; i < d.idx.length; i++) words[d.idx[i]!] = d.val[i]!;
    }
    sc.blob = blob;
    return sc.bytes;
  }

  /** One blob standing for `older` then `newer` (newer.prev === older), to drop the checkpoint holding `older`. */
  merge(key: string, older: Blob, newer: DeltaBlob): Blob {
    let z: Blob;
    if (older.full !== null) {
      const full = older.full.slice();
      const words = new Uint32Array(full.buffer, 0, full.length >>> 2);
      for (let i = 0; i < newer.idx.length; i++) words[newer.idx[i]!] = newer.val[i]!;
      z = { full, prev: null, bytes: full.length, chainBytes: 0, chainLength: 0 };
    } else {
      const a = older, b = newer;
      const idx = new Uint32Array(a.idx.length + b.idx.length);
      const val = new Uint32Array(idx.length);
      let i = 0, j = 0, n = 0;
      while (i < a.idx.length || j < b.idx.length) {
        const ai = i < a.idx.length ? a.idx[i]! : Infinity;
        const bj = j < b.idx.length ? b.idx[j]! : Infinity;
        if (bj <= ai) {
          idx[n] = bj;
          val[n++] = b.val[j++]!;
          if (ai === bj) i++;
        } else {
          idx[n] = ai;
          val[n++] = a.val[i++]!;
        }
      }
      const bytes = n * 8;
      const base = a.prev;
      z = { full: null, prev: base, idx: idx.slice(0, n), val: val.slice(0, n), bytes, chainBytes: base.chainBytes + bytes, chainLength: base.chainLength + 1 };
    }
    const ref = this.refs.get(key);
    if (ref && ref.blob === newer) ref.blob = z;
    return z;
  }

  /** Bytes of the archive's own buffers (reference copies and load scratch). */
  overheadBytes(): number {
    let n = (this.idx.length + this.val.length) * 4;
    for (const r of this.refs.values()) n += r.bytes.length;
    for (const s of this.scratch.values()) n += s.bytes.length;
    return n;
  }
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
    const after = this.list[i + 2];
    for (const [key, blob] of cp.blobs) {
      const nb = next.blobs.get(key);
      if (!nb || nb.full !== null || nb.prev !== blob) continue;
      const z = this.archive.merge(key, blob, nb);
      next.blobs.set(key, z);
      const ab = after?.blobs.get(key);
      if (ab && ab.full === null && ab.prev === nb) ab.prev = z;
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
