// The checkpoints' store of big arrays (L1, refcount table, cache tables), by key. Each capture keeps only the
// 32-bit words that changed since the previous one, as XOR with their old value, deflated: XOR makes a delta undo
// itself, so a load walks from the content it last built to any other checkpoint's, backwards or forwards, and one
// buffer per key serves as both the diff reference and the load result. A chain starts with a delta against
// zeros (a fresh image's caches are empty), so no checkpoint holds a full copy of a mostly empty 12 MiB cache.
import { deflateRawSync, inflateRawSync } from "node:zlib";

export interface Blob {
  /** The blob this one changes (previous checkpoint, same key); null: a delta against zeros of `length` bytes. */
  prev: Blob | null;
  /** Increases along a chain (not contiguous once blobs are merged). */
  depth: number;
  length: number;
  /** Unaligned arrays: a plain copy (no deltas). */
  plain: Uint8Array | null;
  /** Deflated (or, when small, raw) [gaps..., xors...] as little-endian 32-bit words; null when nothing changed. */
  packed: Uint8Array | null;
  deflated: boolean;
  /** Changed words. */
  count: number;
  /** Bytes held. */
  bytes: number;
}

/** Below this many raw bytes a delta is not worth deflating. */
const DEFLATE_FROM = 256;
const BLOCK = 4096;
const SUB = 256;
/** Words of the array a many-delta walk applies at a time (64 KiB: stays in the CPU's cache). */
const REGION = 16384;

function xorAt(w: Uint32Array, k: number, x: number): void {
  w[k] = (w[k]! ^ x) >>> 0;
}

interface KeyState {
  /** The content of `at`: the diff reference and the buffer loads return. */
  cur: Uint8Array;
  at: Blob;
  /** The latest blob stored: store() diffs against its content. */
  last: Blob;
  /** Whole copies of a big array at a few blobs spread over the chain, where a far load starts walking. */
  anchors: { blob: Blob; bytes: Uint8Array }[];
  /** Changed words stored since the last anchor, and how many make the next one. */
  sinceAnchor: number;
  spacing: number;
}

/**
 * At most this many anchors per array of at least ANCHOR_MIN_BYTES, first every ANCHOR_WORDS changed words, the
 * spacing doubling as the chain grows (dropping every other anchor). Without them a jump across a million-request
 * timeline XOR-ed ~300 deltas (60 ms); each anchor costs one copy of the array, independent of the trace length.
 */
const ANCHORS = 4;
const ANCHOR_MIN_BYTES = 1 << 20;
const ANCHOR_WORDS = 1 << 18;
/** Copying an anchor in costs about as much as walking this many deltas. */
const ANCHOR_COPY_STEPS = 8;

function keyState(cur: Uint8Array, blob: Blob, spacing: number): KeyState {
  return { cur, at: blob, last: blob, anchors: [], sinceAnchor: 0, spacing };
}

function words(a: Uint8Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length >>> 2);
}

export class DeltaArchive {
  private keys = new Map<string, KeyState>();
  private readonly anchorMinBytes: number;
  private readonly anchorWords: number;
  private readonly anchorCopySteps: number;

  /** The options are for tests: anchors on small arrays, close together, used whenever nearer. */
  constructor(opts: { anchorMinBytes?: number; anchorWords?: number; anchorCopySteps?: number } = {}) {
    this.anchorMinBytes = opts.anchorMinBytes ?? ANCHOR_MIN_BYTES;
    this.anchorWords = opts.anchorWords ?? ANCHOR_WORDS;
    this.anchorCopySteps = opts.anchorCopySteps ?? ANCHOR_COPY_STEPS;
  }

  private idx = new Uint32Array(1024);
  private xor = new Uint32Array(1024);

  store(key: string, live: Uint8Array): Blob {
    const st = this.keys.get(key);
    const aligned = live.length % 4 === 0 && live.byteOffset % 4 === 0;
    if (!aligned) {
      const blob = this.blob(null, 0, live.length);
      blob.plain = live.slice();
      blob.bytes = live.length;
      this.keys.set(key, keyState(live.slice(), blob, this.anchorWords));
      return blob;
    }
    let cur: Uint8Array;
    let prev: Blob | null = null;
    if (st && st.cur.length === live.length && st.last.plain === null) {
      this.moveTo(st, st.last);
      cur = st.cur;
      prev = st.last;
    } else {
      cur = new Uint8Array(live.length);
    }
    const n = this.diff(cur, live);
    const blob = this.encode(this.blob(prev, prev ? prev.depth + 1 : 0, live.length), this.idx, this.xor, n);
    if (st && st.cur === cur) {
      st.at = st.last = blob;
      if (cur.length >= this.anchorMinBytes) this.anchor(st, n);
    } else {
      this.keys.set(key, keyState(cur, blob, this.anchorWords));
    }
    return blob;
  }

  /** The content of a blob, in a buffer owned by the archive (valid until the next load or store of the key). */
  load(key: string, blob: Blob): Uint8Array {
    const st = this.keys.get(key);
    if (!st || st.cur.length !== blob.length) {
      // A chain of another length (the table grew since): rebuilt in a buffer of its own length.
      const cur = new Uint8Array(blob.length);
      const fresh: KeyState = { ...keyState(cur, blob, this.anchorWords), last: st?.last ?? blob };
      this.rebuild(fresh, blob);
      if (!st) this.keys.set(key, fresh);
      return fresh.cur;
    }
    this.moveTo(st, blob);
    return st.cur;
  }

  /**
   * Folds `older` into `newer` (newer.prev === older), in place: `newer` then stands for the same content with
   * older's predecessor as its base, and `older` can be dropped.
   */
  merge(older: Blob, newer: Blob): void {
    if (newer.prev !== older) throw new Error("merge: not consecutive blobs");
    const a = this.decode(older);
    const b = this.decode(newer);
    const n = a.idx.length + b.idx.length;
    const idx = new Uint32Array(n);
    const xor = new Uint32Array(n);
    let i = 0, j = 0, k = 0;
    while (i < a.idx.length || j < b.idx.length) {
      const ai = i < a.idx.length ? a.idx[i]! : Infinity;
      const bj = j < b.idx.length ? b.idx[j]! : Infinity;
      let w: number, x: number;
      if (ai === bj) {
        w = ai;
        x = (a.xor[i++]! ^ b.xor[j++]!) >>> 0;
      } else if (ai < bj) {
        w = ai;
        x = a.xor[i++]!;
      } else {
        w = bj;
        x = b.xor[j++]!;
      }
      if (x === 0) continue;
      idx[k] = w;
      xor[k++] = x;
    }
    newer.prev = older.prev;
    // A key buffer standing at `older` (or any blob dropped before) still finds its way: XOR-ing older's own
    // delta and then newer's merged one gives back newer's original delta.
    this.encode(newer, idx, xor, k);
  }

  /** Bytes of the anchors (part of overheadBytes): bounded by ANCHORS copies of each big array, whatever the trace. */
  anchorBytes(): number {
    let n = 0;
    for (const s of this.keys.values()) for (const a of s.anchors) n += a.bytes.length;
    return n;
  }

  /** Bytes of the archive's own buffers (one content buffer per key and its anchors, diff scratch). */
  overheadBytes(): number {
    let n = (this.idx.length + this.xor.length) * 4;
    for (const s of this.keys.values()) {
      n += s.cur.length;
      for (const a of s.anchors) n += a.bytes.length;
    }
    return n;
  }

  private blob(prev: Blob | null, depth: number, length: number): Blob {
    return { prev, depth, length, plain: null, packed: null, deflated: false, count: 0, bytes: 0 };
  }

  /** Brings st.cur from the content of st.at to that of `target`, XOR-ing every delta on the path between them. */
  private moveTo(st: KeyState, target: Blob): void {
    if (st.at === target) return;
    // Depths differ by about the deltas between two blobs of a chain: start from the nearest anchor if it is
    // nearer than where the buffer stands.
    let best = Math.abs(st.at.depth - target.depth);
    let from: KeyState["anchors"][number] | null = null;
    for (const a of st.anchors) {
      const d = Math.abs(a.blob.depth - target.depth) + this.anchorCopySteps;
      if (d < best) {
        best = d;
        from = a;
      }
    }
    if (from) {
      st.cur.set(from.bytes);
      st.at = from.blob;
      if (st.at === target) return;
    }
    let x: Blob | null = st.at;
    let y: Blob | null = target;
    const path: Blob[] = [];
    while (x !== y) {
      if (x === null || y === null) return this.rebuild(st, target);
      if (x.depth >= y.depth) {
        path.push(x);
        x = x.prev;
      } else {
        path.push(y);
        y = y.prev;
      }
    }
    if (path.some((b) => b.plain !== null)) return this.rebuild(st, target);
    this.applyAll(words(st.cur), path);
    st.at = target;
  }

  /**
   * XORs every delta of `path` into w. Many deltas are applied region by region (64 KiB of the array at a time,
   * every delta's words there): one delta after another writes all over a 12 MiB cache, and a far jump walking
   * hundreds of deltas then spent most of its time in cache misses.
   */
  private applyAll(w: Uint32Array, path: Blob[]): void {
    const ds = path.filter((b) => b.count > 0).map((b) => this.decode(b));
    if (ds.length <= 4) {
      for (const { idx, xor } of ds) for (let i = 0; i < idx.length; i++) xorAt(w, idx[i]!, xor[i]!);
      return;
    }
    const at = new Int32Array(ds.length);
    for (let end = REGION; end - REGION < w.length; end += REGION) {
      for (let d = 0; d < ds.length; d++) {
        const { idx, xor } = ds[d]!;
        let i = at[d]!;
        for (; i < idx.length && idx[i]! < end; i++) xorAt(w, idx[i]!, xor[i]!);
        at[d] = i;
      }
    }
  }

  /** Counts n more changed words and copies the array at the latest blob when they make an anchor's spacing. */
  private anchor(st: KeyState, n: number): void {
    st.sinceAnchor += n;
    if (st.sinceAnchor < st.spacing) return;
    st.sinceAnchor = 0;
    st.anchors.push({ blob: st.last, bytes: st.cur.slice() });
    if (st.anchors.length > ANCHORS) {
      st.anchors = st.anchors.filter((_, i) => i % 2 === 1);
      st.spacing *= 2;
    }
  }

  /** Builds target's content from zeros (or its plain copy) up its chain. */
  private rebuild(st: KeyState, target: Blob): void {
    const chain: Blob[] = [];
    let b: Blob | null = target;
    while (b !== null && b.plain === null) {
      chain.push(b);
      b = b.prev;
    }
    if (b !== null) st.cur.set(b.plain!);
    else st.cur.fill(0);
    this.applyAll(words(st.cur), chain);
    st.at = target;
  }

  private decode(b: Blob): { idx: Uint32Array; xor: Uint32Array } {
    const n = b.count;
    if (n === 0 || !b.packed) return { idx: new Uint32Array(0), xor: new Uint32Array(0) };
    // A fresh buffer either way, so the gaps become indices in place.
    let raw: Uint8Array = b.deflated ? inflateRawSync(b.packed) : b.packed.slice();
    if (raw.byteOffset % 4 !== 0) raw = raw.slice();
    const all = new Uint32Array(raw.buffer, raw.byteOffset, 2 * n);
    let w = -1;
    for (let i = 0; i < n; i++) all[i] = w += all[i]!;
    return { idx: all.subarray(0, n), xor: all.subarray(n) };
  }

  private encode(b: Blob, idx: Uint32Array, xor: Uint32Array, n: number): Blob {
    b.count = n;
    if (n === 0) {
      b.packed = null;
      b.deflated = false;
      b.bytes = 0;
      return b;
    }
    const all = new Uint32Array(2 * n);
    let prev = -1;
    for (let i = 0; i < n; i++) {
      all[i] = idx[i]! - prev;
      prev = idx[i]!;
    }
    all.set(xor.subarray(0, n), n);
    const raw = new Uint8Array(all.buffer);
    b.deflated = raw.length >= DEFLATE_FROM;
    b.packed = b.deflated ? new Uint8Array(deflateRawSync(raw, { level: 1 })) : raw;
    b.bytes = b.packed.byteLength + 96;
    return b;
  }

  /** Words where `live` differs from `cur` go to idx/xor (XOR of both); `cur` becomes `live`. Returns how many. */
  private diff(cur: Uint8Array, live: Uint8Array): number {
    const r = Buffer.from(cur.buffer, cur.byteOffset, cur.length);
    const l = Buffer.from(live.buffer, live.byteOffset, live.length);
    const rw = words(cur);
    const lw = words(live);
    let n = 0;
    for (let start = 0; start < live.length; start += BLOCK) {
      const end = Math.min(live.length, start + BLOCK);
      if (l.compare(r, start, end, start, end) === 0) continue;
      // A changed block usually differs in a word or two (an L2 entry): find them by sub-blocks, natively.
      for (let sub = start; sub < end; sub += SUB) {
        const subEnd = Math.min(end, sub + SUB);
        if (l.compare(r, sub, subEnd, sub, subEnd) === 0) continue;
        n = this.diffWords(rw, lw, sub >>> 2, subEnd >>> 2, n);
      }
    }
    return n;
  }

  private diffWords(rw: Uint32Array, lw: Uint32Array, from: number, to: number, n: number): number {
    for (let w = from; w < to; w++) {
      const v = lw[w]!;
      const o = rw[w]!;
      if (o === v) continue;
      rw[w] = v;
      if (n === this.idx.length) {
        const i2 = new Uint32Array(n * 2);
        i2.set(this.idx);
        this.idx = i2;
        const x2 = new Uint32Array(n * 2);
        x2.set(this.xor);
        this.xor = x2;
      }
      this.idx[n] = w;
      this.xor[n++] = (o ^ v) >>> 0;
    }
    return n;
  }
}
