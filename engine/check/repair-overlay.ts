// check -r works on this layer over the read-only image: every repair write lands in memory and every later read
// of the check sees it, so the whole repair (rebuild, refcount fixes, COPIED flags) is decided before the file is
// touched. Only when it completes are the changed ranges written to the file, in one pass, and synced.
// Refcount updates go through QEMU's refcount block cache and reach the file only when it is flushed (at close);
// a check that fails fatally leaves them unwritten. Writes made in `cached` mode are told apart for that.
import * as fs from "node:fs";
import { punchHoleFd } from "../storage/fallocate.js";
import { discardRange, type Storage } from "../storage/storage.js";

const PAGE = 65536;

interface LoggedWrite {
  /** The bytes written, or the length of a discard. */
  buf: Uint8Array | number;
  offset: number;
  cached: boolean;
}

export class RepairOverlay implements Storage {
  readonly writable = true;
  readonly name: string;
  writeGen = 0;
  /** Writes made now go through QEMU's refcount block cache. */
  cached = false;
  /** Distinct offsets written in cached mode (the cache entries QEMU has made dirty). */
  readonly cachedTables = new Set<number>();
  private length: number;
  /** page index -> the page's bytes as repaired (the base's bytes where nothing was written). */
  private readonly pages = new Map<number, Uint8Array>();
  /** Byte ranges written, page by page: [start, end) within the page, merged. */
  private readonly dirty = new Map<number, [number, number]>();
  /** Every write in order, so that the cached ones can be taken back. */
  private log: LoggedWrite[] = [];
  /**
   * Discarded ranges [start, end) outside the pages held, merged: freed clusters read as zeros without a page of
   * memory each (a repair may free millions). A page written later holds its zeros itself.
   */
  private holes: [number, number][] = [];

  constructor(private readonly base: Storage) {
    this.name = base.name;
    this.length = base.size();
  }

  size(): number {
    return this.length;
  }

  /** Whether any repair was written. */
  get changed(): boolean {
    return this.dirty.size !== 0 || this.holes.length !== 0;
  }

  read(buf: Uint8Array, offset: number): number {
    const inside = Math.max(0, Math.min(buf.length, this.length - offset));
    if (this.pages.size === 0) {
      this.readBase(buf, offset);
      buf.fill(0, inside);
      return inside;
    }
    // A page walk like ShadowStorage.read's (`duplicates` pairs them); this overlay keeps one version per page and
    // no sidecar, so sharing the loop would bring the shadow's versions in for nothing.
    let done = 0;
    while (done < buf.length) {
      const at = offset + done;
      const pi = Math.floor(at / PAGE);
      const within = at - pi * PAGE;
      const n = Math.min(buf.length - done, PAGE - within);
      const page = this.pages.get(pi);
      const dst = buf.subarray(done, done + n);
      if (page) dst.set(page.subarray(within, within + n));
      else this.readBase(dst, at);
      done += n;
    }
    buf.fill(0, inside);
    return inside;
  }

  /** The base's bytes with the discarded ranges zeroed. */
  private readBase(dst: Uint8Array, at: number): void {
    this.base.read(dst, at);
    for (let i = this.firstHoleEndingAfter(at); i < this.holes.length; i++) {
      const [s, e] = this.holes[i]!;
      if (s >= at + dst.length) break;
      dst.fill(0, Math.max(0, s - at), Math.min(dst.length, e - at));
    }
  }

  /** A discard (QEMU punches a hole): the range, inside the image, reads as zeros. */
  punchHole(offset: number, length: number): void {
    this.log.push({ buf: length, offset, cached: this.cached });
    this.applyHole(offset, length);
  }

  private applyHole(offset: number, length: number): void {
    const end = Math.min(offset + length, this.length);
    for (let pi = Math.floor(offset / PAGE); pi * PAGE < end; pi++) {
      const page = this.pages.get(pi);
      if (page) {
        const a = Math.max(offset, pi * PAGE) - pi * PAGE;
        const b = Math.min(end, (pi + 1) * PAGE) - pi * PAGE;
        this.apply(new Uint8Array(b - a), pi * PAGE + a);
      }
    }
    if (end <= offset) return;
    // Kept sorted and disjoint: discards come in ascending order, so this is almost always an append.
    const i = this.firstHoleEndingAfter(offset);
    const next = this.holes[i];
    if (next && next[0] <= end) {
      next[0] = Math.min(next[0], offset);
      next[1] = Math.max(next[1], end);
    } else if (i > 0 && this.holes[i - 1]![1] === offset) this.holes[i - 1]![1] = end;
    else this.holes.splice(i, 0, [offset, end]);
    this.writeGen++;
  }

  /** Index of the first hole whose end lies after `at` (binary search over the sorted holes). */
  private firstHoleEndingAfter(at: number): number {
    let lo = 0;
    let hi = this.holes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.holes[mid]![1] <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  write(buf: Uint8Array, offset: number): void {
    this.log.push({ buf: buf.slice(), offset, cached: this.cached });
    if (this.cached) this.cachedTables.add(offset);
    this.apply(buf, offset);
  }

  /**
   * QEMU made the image unusable (a fatal corruption) before flushing its refcount block cache: the cached writes
   * never reach the file. The others are replayed without them.
   */
  dropCached(): void {
    const direct = this.log.filter((w) => !w.cached);
    this.pages.clear();
    this.dirty.clear();
    this.holes = [];
    this.length = this.base.size();
    this.cachedTables.clear();
    this.log = direct;
    for (const w of direct) {
      if (typeof w.buf === "number") this.applyHole(w.offset, w.buf);
      else this.apply(w.buf, w.offset);
    }
  }

  private apply(buf: Uint8Array, offset: number): void {
    let done = 0;
    while (done < buf.length) {
      const at = offset + done;
      const pi = Math.floor(at / PAGE);
      const within = at - pi * PAGE;
      const n = Math.min(buf.length - done, PAGE - within);
      let page = this.pages.get(pi);
      if (!page) {
        page = new Uint8Array(PAGE);
        if (pi * PAGE < this.length) this.read(page, pi * PAGE);
        this.pages.set(pi, page);
      }
      page.set(buf.subarray(done, done + n), within);
      const d = this.dirty.get(pi);
      this.dirty.set(pi, d ? [Math.min(d[0], within), Math.max(d[1], within + n)] : [within, within + n]);
      done += n;
    }
    this.length = Math.max(this.length, offset + buf.length);
    this.writeGen++;
  }

  truncate(): void {
    throw new Error(`${this.name}: check -r does not resize the image`);
  }

  flush(): void {}

  close(): void {}

  /**
   * Writes every repaired range into `out`, the storage the image is being opened on (a read-write open repairs a
   * dirty image before it serves a request), and flushes it once, as qcow2_mark_clean() flushes the caches.
   */
  applyTo(out: Storage): void {
    if (!this.changed) return;
    this.eachChange(
      (s, e) => discardRange(out, s, e - s),
      (bytes, at) => out.write(bytes, at),
    );
    out.flush();
  }

  /** The repair in file order for a writer: holes first (a page written after its discard holds its own zeros), then the written ranges. */
  private eachChange(hole: (start: number, end: number) => void, write: (bytes: Uint8Array, at: number) => void): void {
    for (const [s, e] of this.holes) hole(s, e);
    for (const pi of [...this.dirty.keys()].sort((a, b) => a - b)) {
      const [start, end] = this.dirty.get(pi)!;
      write(this.pages.get(pi)!.subarray(start, end), pi * PAGE + start);
    }
  }

  /** Writes every repaired range into the file `filename` (opened for writing here) and syncs it. */
  commit(filename: string): void {
    if (!this.changed) return;
    const fd = fs.openSync(filename, "r+");
    try {
      const zeros = new Uint8Array(PAGE * 16);
      this.eachChange(
        (s, e) => {
          if (punchHoleFd(fd, s, e - s)) return;
          for (let at = s; at < e; at += zeros.length) fs.writeSync(fd, zeros, 0, Math.min(zeros.length, e - at), at);
        },
        (bytes, at) => fs.writeSync(fd, bytes, 0, bytes.length, at),
      );
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
