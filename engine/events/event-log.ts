// The event log's records and their reading side (EventRecorder, recorder.ts, writes them): chunks of int32 words,
// a per-block index of record positions and base requests, and the decoded window every reader goes through. The
// accessors decode sequentially from a cursor, so a forward scan costs O(1) per event.
import { EventKind } from "./event-kind.js";
import { BLOCK, CHUNK_WORDS, decodeRecord, type EventArrays, MAX_RECORD, MULTI, REGS, resetRegs } from "./event-record.js";
import { expandShape } from "./event-shapes.js";

export interface EngineEvent {
  seq: number;
  kind: EventKind;
  request: number;
  /** Which image node of a backing chain (0 = the active layer). */
  node: number;
  cache: number;
  slot: number;
  a: number;
  b: number;
  c: number;
  /** A fourth payload, used by few kinds (AddTask: qiov_offset * 2 + 1 when the request has an AIO task pool). */
  d: number;
}

/** Events the reader's window holds: two blocks. */
export const WINDOW = 2 * BLOCK;

export abstract class EventLog {
  length = 0;
  protected chunks: Int32Array[] = [];
  /** Events physically held (>= length: a rewind keeps what lies past the end, see rewind()). */
  protected held = 0;
  /** Per block: the chunk * CHUNK_WORDS + word of its first record, and its first event's request. */
  protected blockPos = new Float64Array(64);
  protected blockReq = new Float64Array(64);
  /** The reader's registers, as of the end of its window (valid while cCount > 0, unless readerRegsAtWriter). */
  protected readonly dRegs = new Float64Array(REGS).fill(NaN);
  /**
   * The window ends where the writer is (the writer handed its last record to a following reader), so the
   * reader's registers are the writer's: copied when a reader continues decoding or the writer is put back
   * (syncReaderRegs), not on every event. While a reader follows, every record written extends the window, so
   * the two stay together until decodeTo, dropFrom or clear moves the window.
   */
  protected readerRegsAtWriter = false;
  // The reader's window: events [cBase, cBase + cCount) decoded (cBase a block's first), up to two blocks, event i in
  // slot i % WINDOW, each with the place and length of its record and, in a record of several events (a pair, a
  // shape), its place there (cHalf 1, 2, ...; 0 for a record of one). While a reader follows the writer (`follow`:
  // it read the newest events, as the cost model does with each request's events right after it), the writer
  // appends what it writes, across block boundaries too; with no such reader (the engine alone) the writer leaves
  // the window alone and pays nothing for it. Records change only by dropFrom(), which empties the window.
  protected cBase = 0;
  protected cCount = 0;
  protected follow = false;
  protected readonly c: EventArrays = {
    kind: new Int32Array(WINDOW + 1),
    req: new Float64Array(WINDOW + 1),
    node: new Float64Array(WINDOW + 1),
    cache: new Float64Array(WINDOW + 1),
    slot: new Float64Array(WINDOW + 1),
    a: new Float64Array(WINDOW + 1),
    b: new Float64Array(WINDOW + 1),
    c: new Float64Array(WINDOW + 1),
    d: new Float64Array(WINDOW + 1),
  };
  protected readonly cPos = new Float64Array(WINDOW + 1);
  protected readonly cLen = new Int32Array(WINDOW + 1);
  protected readonly cHalf = new Uint8Array(WINDOW + 1);

  /** Sets the reader's registers from the writer's (readerRegsAtWriter). */
  protected abstract syncReaderRegs(): void;

  // --- reading ---

  /** Decodes event i's block (once: later reads of the block are array loads); returns i's place in it. */
  protected ensure(i: number): number {
    const k = i - this.cBase;
    if (k >= 0 && k < this.cCount) return i % WINDOW;
    return this.decodeTo(i);
  }

  protected decodeTo(i: number): number {
    if (!(i >= 0 && i < this.held)) throw new RangeError(`event ${i} is not in the log (${this.held} held)`);
    let pos: number;
    let prevReq: number;
    if (this.cCount > 0 && i >= this.cBase && i < this.cBase + WINDOW) {
      if (this.readerRegsAtWriter) this.syncReaderRegs();
      const last = (this.cBase + this.cCount - 1) % WINDOW;
      pos = this.nextRecord(this.cPos[last]! + this.cLen[last]!);
      prevReq = this.c.req[last]!;
    } else {
      const b = Math.floor(i / BLOCK);
      this.cBase = b * BLOCK;
      this.cCount = 0;
      this.readerRegsAtWriter = false;
      pos = this.blockPos[b]!;
      prevReq = this.blockReq[b]!;
    }
    const k = i - this.cBase;
    // The rest of the block at once: a forward scan then reads array entries only.
    const end = Math.min(Math.floor(k / BLOCK) * BLOCK + BLOCK, this.held - this.cBase);
    // A reader of the newest events is likely to read the next ones as they come: the writer fills them in.
    this.follow = end === this.held - this.cBase;
    while (this.cCount < end) {
      const n = this.cCount;
      const w = (this.cBase + n) % WINDOW;
      // A block's first event has its request relative to the block's base.
      if (n % BLOCK === 0) {
        prevReq = this.blockReq[(this.cBase + n) / BLOCK]!;
        resetRegs(this.dRegs);
      }
      const ci = Math.floor(pos / CHUNK_WORDS);
      const len = decodeRecord(this.chunks[ci]!, pos - ci * CHUNK_WORDS, prevReq, this.c, w, this.dRegs);
      this.cPos[w] = pos;
      if (len > 0) {
        this.cLen[w] = len;
        this.cHalf[w] = 0;
        this.cCount = n + 1;
        pos = this.nextRecord(pos + len);
      } else {
        // A pair or a shape: its events share the record, each with its place in it (1-based) in cHalf.
        const words = Math.floor(-len / MULTI);
        const count = -len - words * MULTI;
        for (let j = 0; j < count; j++) {
          this.cPos[w + j] = pos;
          this.cLen[w + j] = words;
          this.cHalf[w + j] = j + 1;
        }
        this.cCount = n + count;
        pos = this.nextRecord(pos + words);
      }
      prevReq = this.c.req[w]!;
    }
    return i % WINDOW;
  }

  /**
   * The decoded block follows the writer: the event just written (which the cost model reads next), its record at
   * `pos` (chunk * CHUNK_WORDS + word) and `len` words long, is read back from the window's arrays without
   * decoding, when it extends the window.
   */
  protected followOne(i: number, kind: EventKind, req: number, node: number, cache: number, slot: number, a: number, b: number, c: number, d: number, pos: number, len: number): void {
    const k = i - this.cBase;
    if (k !== this.cCount) return;
    const w = i % WINDOW;
    const e = this.c;
    e.kind[w] = kind;
    e.req[w] = req;
    e.node[w] = node;
    e.cache[w] = cache;
    e.slot[w] = slot;
    e.a[w] = a;
    e.b[w] = b;
    e.c[w] = c;
    e.d[w] = d;
    this.cPos[w] = pos;
    this.cLen[w] = len;
    this.cHalf[w] = 0;
    this.cCount = k + 1;
    this.readerRegsAtWriter = true;
  }

  /** followOne() for a pair record (a cache_get and the get_done of its hit). */
  protected followPair(i: number, req: number, node: number, cache: number, slot: number, offset: number, readFromDisk: number, pos: number, len: number): void {
    const k = i - this.cBase;
    if (k !== this.cCount) return;
    const w = i % WINDOW;
    const e = this.c;
    e.kind[w] = EventKind.CacheGet;
    e.kind[w + 1] = EventKind.CacheGetDone;
    e.req[w] = e.req[w + 1] = req;
    e.node[w] = e.node[w + 1] = node;
    e.cache[w] = e.cache[w + 1] = cache;
    e.slot[w] = -1;
    e.slot[w + 1] = slot;
    e.a[w] = e.a[w + 1] = offset;
    e.b[w] = readFromDisk;
    e.b[w + 1] = 0;
    e.c[w] = e.c[w + 1] = 0;
    e.d[w] = e.d[w + 1] = 0;
    this.cPos[w] = this.cPos[w + 1] = pos;
    this.cLen[w] = this.cLen[w + 1] = len;
    this.cHalf[w] = 1;
    this.cHalf[w + 1] = 2;
    this.cCount = k + 2;
    this.readerRegsAtWriter = true;
  }

  /** followOne() for a shape record: its events go into the window expanded from the values at hand. */
  protected followShape(e: number, id: number, first: number, count: number, v: Float64Array, req: number, pos: number, len: number): void {
    const k = e - this.cBase;
    if (k !== this.cCount) return;
    const w = e % WINDOW;
    expandShape(id, first, count, req, v, this.c, w);
    for (let j = 0; j < count; j++) {
      this.cPos[w + j] = pos;
      this.cLen[w + j] = len;
      this.cHalf[w + j] = j + 1;
    }
    this.cCount = k + count;
    // A shape leaves the registers alone, but a block it started reset the writer's: the reader's are those.
    this.readerRegsAtWriter = true;
  }

  /** Where the record after one ending at `end` starts: a record that might not fit a chunk starts the next. */
  protected nextRecord(end: number): number {
    const ci = Math.floor(end / CHUNK_WORDS);
    return end - ci * CHUNK_WORDS + MAX_RECORD > CHUNK_WORDS ? (ci + 1) * CHUNK_WORDS : end;
  }

  kindAt(i: number): EventKind {
    return this.c.kind[this.ensure(i)]! as EventKind;
  }
  requestAt(i: number): number {
    return this.c.req[this.ensure(i)]!;
  }
  slotAt(i: number): number {
    return this.c.slot[this.ensure(i)]!;
  }
  cacheAt(i: number): number {
    return this.c.cache[this.ensure(i)]!;
  }
  nodeAt(i: number): number {
    return this.c.node[this.ensure(i)]!;
  }
  aAt(i: number): number {
    return this.c.a[this.ensure(i)]!;
  }
  bAt(i: number): number {
    return this.c.b[this.ensure(i)]!;
  }
  cAt(i: number): number {
    return this.c.c[this.ensure(i)]!;
  }
  dAt(i: number): number {
    return this.c.d[this.ensure(i)]!;
  }

  get(i: number): EngineEvent {
    const k = this.ensure(i);
    const c = this.c;
    return { seq: i, kind: c.kind[k]! as EventKind, request: c.req[k]!, node: c.node[k]!, cache: c.cache[k]!, slot: c.slot[k]!, a: c.a[k]!, b: c.b[k]!, c: c.c[k]!, d: c.d[k]! };
  }

  *events(from = 0, to = this.length): Generator<EngineEvent> {
    for (let i = from; i < to; i++) yield this.get(i);
  }

  /** Bytes the records of the held events take, per event (for the memory benchmark). */
  bytesPerEvent(): number {
    if (this.held === 0) return 0;
    const k = this.ensure(this.held - 1);
    return Math.round(((this.cPos[k]! + this.cLen[k]!) * 4 * 10) / this.held) / 10;
  }
  /** Values kept outside the records: none since every value is inline (kept for callers of the old layout). */
  sideValues(): number {
    return 0;
  }
  capacityBytes(): number {
    return this.chunks.length * CHUNK_WORDS * 4;
  }
}
