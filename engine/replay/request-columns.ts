// Guest requests kept column-wise in packed typed arrays (about 10 bytes each for a blkparse trace instead of an
// object with strings), so a timeline over millions of requests can hold them all; get(i) rebuilds the exact
// GuestRequest on demand. docs/ARCHITECTURE.md ("Timeline memory") gives the cost per request.
import { GUEST_OPS, type GuestOp, type GuestRequest } from "../workload/guest-request.js";
import { SOURCE_PARTS } from "../workload/block-event.js";

import { PackedColumn, UintColumn } from "./packed-column.js";

// One byte of op and flags: the op's index in bits 0-2, then flags. compressed/mayUnmap are almost always absent
// or true; an explicit false goes to a side map.
const OP_MASK = 7;
const FUA = 8;
const PREFLUSH = 16;
const HAS_PATTERN = 32;
const COMPRESSED = 64;
const MAY_UNMAP = 128;
const FALSE_COMPRESSED = 1;
const FALSE_MAY_UNMAP = 2;

/** "file:123" / "file#45" split into an interned head and a number, so sources cost no string each. */
const SOURCE = /^(.*[:#])([1-9]\d{0,14}|0)$/;

export class RequestColumns {
  length = 0;
  private capacity = 0;
  private opFlags!: UintColumn;
  /** Seconds, as nanoseconds after a per-block base (blkparse's times are whole nanoseconds). */
  private time!: PackedColumn;
  /** Bytes, as sectors when aligned. */
  private offset!: PackedColumn;
  private bytes!: PackedColumn;
  /** Number after the source head (line or record), or -1 when the head is the whole source. */
  private sourceNum!: PackedColumn;
  private sourceHead!: UintColumn;
  /** Interned device + 1 (0: none). */
  private device!: UintColumn;
  /** qemu-io -P bytes, allocated with the first request that has one. */
  private pattern: UintColumn | null = null;
  /** Patterns that are not a byte, and explicit compressed/mayUnmap = false, by index. */
  private oddPattern = new Map<number, number>();
  private falseFlags = new Map<number, number>();
  private strings: string[] = [];
  /** The head of the last source that split, and its id. */
  private lastHead = "";
  private lastHeadId = 0;
  private lastDevice: string | undefined = undefined;
  private lastDeviceId = 0;
  private stringIds = new Map<string, number>();
  /** Times never decrease (binary search for runToTime). */
  sortedByTime = true;
  private lastTime = -Infinity;

  constructor(capacity = 1024) {
    this.allocate(Math.max(16, capacity));
  }

  /** The columns of `requests`, trimmed to their length. */
  static from(requests: Iterable<GuestRequest>): RequestColumns {
    const n = Array.isArray(requests) ? requests.length : 1024;
    const c = new RequestColumns(n);
    for (const r of requests) c.push(r);
    c.trim();
    return c;
  }

  push(r: GuestRequest): void {
    const i = this.length;
    if (i === this.capacity) this.resize(i * 2);
    const op = GUEST_OPS.indexOf(r.op);
    if (op < 0) throw new Error(`request ${i}: unknown operation '${String(r.op)}'`);
    if (r.time < this.lastTime) this.sortedByTime = false;
    this.lastTime = r.time;
    this.time.set(i, r.time);
    this.offset.set(i, r.offset);
    this.bytes.set(i, r.length);
    let f = op | (r.fua ? FUA : 0) | (r.preflush ? PREFLUSH : 0);
    if (r.pattern !== undefined) {
      f |= HAS_PATTERN;
      this.pattern ??= new UintColumn(this.capacity);
      if (Number.isInteger(r.pattern) && r.pattern >= 0 && r.pattern <= 0xff && !Object.is(r.pattern, -0)) this.pattern.set(i, r.pattern);
      else this.oddPattern.set(i, r.pattern);
    }
    let no = 0;
    if (r.compressed === true) f |= COMPRESSED;
    else if (r.compressed === false) no |= FALSE_COMPRESSED;
    if (r.mayUnmap === true) f |= MAY_UNMAP;
    else if (r.mayUnmap === false) no |= FALSE_MAY_UNMAP;
    if (no) this.falseFlags.set(i, no);
    this.opFlags.set(i, f);
    const src = r.source;
    const head = this.lastHead;
    let num: number;
    let headId = this.lastHeadId;
    const parts = SOURCE_PARTS;
    // From a block trace parser, the parts it joined: the string is not read at all (see SOURCE_PARTS).
    if (parts.req === r && parts.source === src && parts.head === head && head !== "" && Number.isSafeInteger(parts.no) && parts.no >= 0) num = parts.no;
    // Most sources are the previous one's head with another number ("trace:1234"): no regex, no new string.
    else num = head !== "" && src.length > head.length && src.startsWith(head) ? digitsAfter(src, head.length) : -1;
    if (num < 0) {
      const m = SOURCE.exec(src);
      if (m) {
        this.lastHead = m[1]!;
        headId = this.lastHeadId = this.intern(m[1]!);
        num = Number(m[2]);
      } else headId = this.intern(src);
    }
    this.sourceHead.set(i, headId);
    this.sourceNum.set(i, num);
    this.setDevice(i, r.device);
    this.length = i + 1;
  }

  /** Forgets every request (a pass that starts over). */
  clear(): void {
    this.length = 0;
    this.pattern = null;
    this.oddPattern.clear();
    this.falseFlags.clear();
    this.sortedByTime = true;
    this.lastTime = -Infinity;
    this.allocate(16);
  }

  /** Passes `source` through, keeping every request: a trace parsed once can be replayed again from here. */
  *record(source: Iterable<GuestRequest>): Generator<GuestRequest> {
    for (const r of source) {
      this.push(r);
      yield r;
    }
  }

  /** The requests [from, to) again, as get(i) gives them. */
  *requests(from = 0, to = this.length): Generator<GuestRequest> {
    for (let i = from; i < to; i++) yield this.get(i);
  }

  /**
   * The requests [from, to) in one object rewritten for each, valid until the next: for a consumer that keeps
   * none of them (a replay loop copies what it keeps), no object per request, and the source string is made only
   * if read (a getter: a spread copy of it has no source).
   */
  *requestsReused(from = 0, to = this.length): Generator<GuestRequest> {
    const r = new ReusedRequest();
    for (let i = from; i < to; i++) {
      this.load(i, r);
      yield r;
    }
  }

  /** Rewrites `r` as request i (see requestsReused). */
  load(i: number, r: ReusedRequest): void {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`request ${i} is outside 0..${this.length - 1}`);
    const f = this.opFlags.get(i);
    r.time = this.time.get(i);
    r.op = GUEST_OPS[f & OP_MASK] as GuestOp;
    r.offset = this.offset.get(i);
    r.length = this.bytes.get(i);
    r.fua = (f & FUA) !== 0;
    r.preflush = (f & PREFLUSH) !== 0;
    r.sourceHead = this.strings[this.sourceHead.get(i)]!;
    r.sourceNum = this.sourceNum.get(i);
    const dev = this.device.get(i);
    r.device = dev > 0 ? this.strings[dev - 1] : undefined;
    r.pattern = f & HAS_PATTERN ? (this.oddPattern.get(i) ?? this.pattern!.get(i)) : undefined;
    const no = this.falseFlags.size ? (this.falseFlags.get(i) ?? 0) : 0;
    r.compressed = f & COMPRESSED ? true : no & FALSE_COMPRESSED ? false : undefined;
    r.mayUnmap = f & MAY_UNMAP ? true : no & FALSE_MAY_UNMAP ? false : undefined;
  }

  get(i: number): GuestRequest {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`request ${i} is outside 0..${this.length - 1}`);
    const f = this.opFlags.get(i);
    const num = this.sourceNum.get(i);
    const head = this.strings[this.sourceHead.get(i)]!;
    const r: GuestRequest = {
      time: this.time.get(i),
      op: GUEST_OPS[f & OP_MASK] as GuestOp,
      offset: this.offset.get(i),
      length: this.bytes.get(i),
      fua: (f & FUA) !== 0,
      preflush: (f & PREFLUSH) !== 0,
      source: num < 0 ? head : head + num,
    };
    const dev = this.device.get(i);
    if (dev > 0) r.device = this.strings[dev - 1];
    if (f & HAS_PATTERN) r.pattern = this.oddPattern.get(i) ?? this.pattern!.get(i);
    const no = this.falseFlags.size ? (this.falseFlags.get(i) ?? 0) : 0;
    if (f & COMPRESSED) r.compressed = true;
    else if (no & FALSE_COMPRESSED) r.compressed = false;
    if (f & MAY_UNMAP) r.mayUnmap = true;
    else if (no & FALSE_MAY_UNMAP) r.mayUnmap = false;
    return r;
  }

  timeAt(i: number): number {
    return this.time.get(i);
  }
  offsetAt(i: number): number {
    return this.offset.get(i);
  }
  lengthAt(i: number): number {
    return this.bytes.get(i);
  }
  opAt(i: number): GuestOp {
    return GUEST_OPS[this.opFlags.get(i) & OP_MASK] as GuestOp;
  }

  /** First index whose time is >= t (length when none). */
  firstAtOrAfter(t: number): number {
    if (this.sortedByTime) {
      let lo = 0;
      let hi = this.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.time.get(mid) >= t) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    }
    for (let i = 0; i < this.length; i++) if (this.time.get(i) >= t) return i;
    return this.length;
  }

  /** Bytes held by the columns (side maps counted at ~40 bytes an entry, strings not counted). */
  bytesHeld(): number {
    let n = this.opFlags.bytes() + this.sourceHead.bytes() + this.device.bytes() + (this.pattern?.bytes() ?? 0);
    for (const c of [this.time, this.offset, this.bytes, this.sourceNum]) n += c.bytes();
    return n + (this.oddPattern.size + this.falseFlags.size) * 40;
  }

  /** Lets go of the room kept for more requests (the columns grow by doubling). */
  trim(): void {
    if (this.capacity > this.length) this.resize(Math.max(16, this.length));
  }

  /**
   * Takes a structured clone of RequestColumns (a worker's copy: the same fields, no prototypes) back to a
   * RequestColumns with its columns.
   */
  static revive(data: unknown): RequestColumns {
    const c = Object.setPrototypeOf(data as object, RequestColumns.prototype) as RequestColumns;
    for (const u of [c.opFlags, c.sourceHead, c.device, c.pattern]) if (u) Object.setPrototypeOf(u, UintColumn.prototype);
    for (const p of [c.time, c.offset, c.bytes, c.sourceNum]) {
      Object.setPrototypeOf(p, PackedColumn.prototype);
      p.revive();
    }
    return c;
  }

  private setDevice(i: number, dev: string | undefined): void {
    if (dev !== this.lastDevice) {
      this.lastDevice = dev;
      this.lastDeviceId = dev === undefined ? 0 : this.intern(dev) + 1;
    }
    this.device.set(i, this.lastDeviceId);
  }

  private intern(s: string): number {
    let id = this.stringIds.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.stringIds.set(s, id);
    }
    return id;
  }

  private allocate(n: number): void {
    this.capacity = n;
    this.opFlags = new UintColumn(n);
    this.time = new PackedColumn(n, { scale: 1e9, based: true });
    this.offset = new PackedColumn(n, { scale: 1 / 512, based: false });
    this.bytes = new PackedColumn(n, { scale: 1 / 512, based: false });
    this.sourceNum = new PackedColumn(n, { scale: 1, based: true });
    this.sourceHead = new UintColumn(n);
    this.device = new UintColumn(n);
  }

  private resize(n: number): void {
    this.capacity = n;
    for (const c of [this.opFlags, this.time, this.offset, this.bytes, this.sourceNum, this.sourceHead, this.device, this.pattern]) c?.resize(n);
  }
}

/** One request object rewritten by RequestColumns.load: every field always present (one shape), the source made when read. */
export class ReusedRequest implements GuestRequest {
  time = 0;
  op: GuestOp = "read";
  offset = 0;
  length = 0;
  fua = false;
  preflush = false;
  device: string | undefined = undefined;
  pattern: number | undefined = undefined;
  compressed: boolean | undefined = undefined;
  mayUnmap: boolean | undefined = undefined;
  sourceHead = "";
  sourceNum = -1;

  get source(): string {
    return this.sourceNum < 0 ? this.sourceHead : this.sourceHead + this.sourceNum;
  }
}

/** The number spelled by s[from..] as SOURCE's second group accepts it (no leading zero, 1-15 digits), or -1. */
function digitsAfter(s: string, from: number): number {
  const n = s.length - from;
  if (n > 15 || (n > 1 && s.charCodeAt(from) === 48)) return -1;
  let v = 0;
  for (let k = from; k < s.length; k++) {
    const d = s.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}
