// Guest requests kept column-wise in typed arrays (about 50 bytes each instead of an object with strings), so a
// timeline over millions of requests can hold them all; request(i) rebuilds the exact GuestRequest on demand.
import { GUEST_OPS, type GuestOp, type GuestRequest } from "../workload/guest-request.js";

const FUA = 1;
const PREFLUSH = 2;
const COMPRESSED = 4;
const MAY_UNMAP = 8;
const HAS_PATTERN = 16;
const HAS_COMPRESSED = 32;
const HAS_MAY_UNMAP = 64;

/** "file:123" / "file#45" split into an interned head and a number, so sources cost no string each. */
const SOURCE = /^(.*[:#])([1-9]\d{0,14}|0)$/;

export class RequestColumns {
  length = 0;
  private time = new Float64Array(0);
  private offset = new Float64Array(0);
  private bytes = new Float64Array(0);
  private op = new Uint8Array(0);
  private flags = new Uint8Array(0);
  private pattern = new Float64Array(0);
  private sourceHead = new Int32Array(0);
  /** Number after the head, or -1 when the head is the whole source. */
  private sourceNum = new Float64Array(0);
  private device = new Int32Array(0);
  private strings: string[] = [];
  private stringIds = new Map<string, number>();
  /** Times never decrease (binary search for runToTime). */
  sortedByTime = true;

  constructor(capacity = 1024) {
    this.grow(Math.max(16, capacity));
  }

  static from(requests: Iterable<GuestRequest>): RequestColumns {
    const n = Array.isArray(requests) ? requests.length : 1024;
    const c = new RequestColumns(n);
    for (const r of requests) c.push(r);
    return c;
  }

  push(r: GuestRequest): void {
    const i = this.length;
    if (i === this.time.length) this.grow(i * 2);
    const op = GUEST_OPS.indexOf(r.op);
    if (op < 0) throw new Error(`request ${i}: unknown operation '${String(r.op)}'`);
    if (i > 0 && r.time < this.time[i - 1]!) this.sortedByTime = false;
    this.time[i] = r.time;
    this.offset[i] = r.offset;
    this.bytes[i] = r.length;
    this.op[i] = op;
    let f = (r.fua ? FUA : 0) | (r.preflush ? PREFLUSH : 0);
    if (r.pattern !== undefined) {
      f |= HAS_PATTERN;
      this.pattern[i] = r.pattern;
    }
    if (r.compressed !== undefined) f |= HAS_COMPRESSED | (r.compressed ? COMPRESSED : 0);
    if (r.mayUnmap !== undefined) f |= HAS_MAY_UNMAP | (r.mayUnmap ? MAY_UNMAP : 0);
    this.flags[i] = f;
    const m = SOURCE.exec(r.source);
    if (m) {
      this.sourceHead[i] = this.intern(m[1]!);
      this.sourceNum[i] = Number(m[2]);
    } else {
      this.sourceHead[i] = this.intern(r.source);
      this.sourceNum[i] = -1;
    }
    this.device[i] = r.device === undefined ? -1 : this.intern(r.device);
    this.length = i + 1;
  }

  get(i: number): GuestRequest {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`request ${i} is outside 0..${this.length - 1}`);
    const f = this.flags[i]!;
    const num = this.sourceNum[i]!;
    const head = this.strings[this.sourceHead[i]!]!;
    const r: GuestRequest = {
      time: this.time[i]!,
      op: GUEST_OPS[this.op[i]!] as GuestOp,
      offset: this.offset[i]!,
      length: this.bytes[i]!,
      fua: (f & FUA) !== 0,
      preflush: (f & PREFLUSH) !== 0,
      source: num < 0 ? head : head + num,
    };
    if (this.device[i]! >= 0) r.device = this.strings[this.device[i]!];
    if (f & HAS_PATTERN) r.pattern = this.pattern[i];
    if (f & HAS_COMPRESSED) r.compressed = (f & COMPRESSED) !== 0;
    if (f & HAS_MAY_UNMAP) r.mayUnmap = (f & MAY_UNMAP) !== 0;
    return r;
  }

  timeAt(i: number): number {
    return this.time[i]!;
  }
  offsetAt(i: number): number {
    return this.offset[i]!;
  }
  lengthAt(i: number): number {
    return this.bytes[i]!;
  }
  opAt(i: number): GuestOp {
    return GUEST_OPS[this.op[i]!] as GuestOp;
  }

  /** First index whose time is >= t (length when none). */
  firstAtOrAfter(t: number): number {
    if (this.sortedByTime) {
      let lo = 0;
      let hi = this.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.time[mid]! >= t) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    }
    for (let i = 0; i < this.length; i++) if (this.time[i]! >= t) return i;
    return this.length;
  }

  /** Bytes held by the columns. */
  bytesHeld(): number {
    return this.time.length * (8 * 5 + 4 * 2 + 2);
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

  private grow(n: number): void {
    const f64 = (a: Float64Array) => {
      const x = new Float64Array(n);
      x.set(a);
      return x;
    };
    const u8 = (a: Uint8Array) => {
      const x = new Uint8Array(n);
      x.set(a);
      return x;
    };
    const i32 = (a: Int32Array) => {
      const x = new Int32Array(n);
      x.set(a);
      return x;
    };
    this.time = f64(this.time);
    this.offset = f64(this.offset);
    this.bytes = f64(this.bytes);
    this.sourceNum = f64(this.sourceNum);
    this.op = u8(this.op);
    this.flags = u8(this.flags);
    this.pattern = f64(this.pattern);
    this.sourceHead = i32(this.sourceHead);
    this.device = i32(this.device);
  }
}
