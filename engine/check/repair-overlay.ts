// check -r works on this layer over the read-only image: every repair write lands in memory and every later read
// of the check sees it, so the whole repair (rebuild, refcount fixes, COPIED flags) is decided before the file is
// touched. Only when it completes are the changed ranges written to the file, in one pass, and synced.
import * as fs from "node:fs";
import type { Storage } from "../storage/storage.js";

const PAGE = 65536;

export class RepairOverlay implements Storage {
  readonly writable = true;
  readonly name: string;
  writeGen = 0;
  private length: number;
  /** page index -> the page's bytes as repaired (the base's bytes where nothing was written). */
  private readonly pages = new Map<number, Uint8Array>();
  /** Byte ranges written, page by page: [start, end) within the page, merged. */
  private readonly dirty = new Map<number, [number, number]>();

  constructor(private readonly base: Storage) {
    this.name = base.name;
    this.length = base.size();
  }

  size(): number {
    return this.length;
  }

  /** Whether any repair was written. */
  get changed(): boolean {
    return this.dirty.size !== 0;
  }

  read(buf: Uint8Array, offset: number): number {
    const inside = Math.max(0, Math.min(buf.length, this.length - offset));
    if (this.pages.size === 0) {
      this.base.read(buf, offset);
      buf.fill(0, inside);
      return inside;
    }
    let done = 0;
    while (done < buf.length) {
      const at = offset + done;
      const pi = Math.floor(at / PAGE);
      const within = at - pi * PAGE;
      const n = Math.min(buf.length - done, PAGE - within);
      const page = this.pages.get(pi);
      const dst = buf.subarray(done, done + n);
      if (page) dst.set(page.subarray(within, within + n));
      else this.base.read(dst, at);
      done += n;
    }
    buf.fill(0, inside);
    return inside;
  }

  write(buf: Uint8Array, offset: number): void {
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

  /** Writes every repaired range into the file `filename` (opened for writing here) and syncs it. */
  commit(filename: string): void {
    if (!this.changed) return;
    const fd = fs.openSync(filename, "r+");
    try {
      for (const pi of [...this.dirty.keys()].sort((a, b) => a - b)) {
        const [start, end] = this.dirty.get(pi)!;
        fs.writeSync(fd, this.pages.get(pi)!, start, end - start, pi * PAGE + start);
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
