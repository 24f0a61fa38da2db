// A copy-on-write layer over a read-only storage: writes land in 64 KiB pages held in memory, spilling to a
// temporary sidecar file past a limit, so replaying writes against a production image never touches it.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Storage } from "./storage.js";

const PAGE = 65536;

export class ShadowStorage implements Storage {
  readonly writable = true;
  readonly name: string;
  private length: number;
  /** page index -> slot; slots < memLimitPages live in `mem`, the rest in the sidecar file. */
  private pages = new Map<number, number>();
  private mem: Uint8Array[] = [];
  private sidecarFd = -1;
  private sidecarPath = "";
  private nextSlot = 0;
  private readonly memLimitPages: number;
  private readonly scratch = new Uint8Array(PAGE);

  constructor(readonly base: Storage, memLimitBytes = 256 * 1024 * 1024) {
    this.name = base.name;
    this.length = base.size();
    this.memLimitPages = Math.max(1, Math.floor(memLimitBytes / PAGE));
  }

  size(): number {
    return this.length;
  }

  /** Bytes held by the shadow (memory + sidecar). */
  shadowBytes(): number {
    return this.pages.size * PAGE;
  }

  spilled(): boolean {
    return this.sidecarFd >= 0;
  }

  read(buf: Uint8Array, offset: number): number {
    let done = 0;
    while (done < buf.length) {
      const pos = offset + done;
      const pi = Math.floor(pos / PAGE);
      const po = pos - pi * PAGE;
      const n = Math.min(buf.length - done, PAGE - po);
      const out = buf.subarray(done, done + n);
      if (pos >= this.length) out.fill(0);
      else {
        const slot = this.pages.get(pi);
        if (slot === undefined) this.base.read(out, pos);
        else this.readSlot(slot, out, po);
        const valid = this.length - pos;
        if (valid < n) out.fill(0, valid);
      }
      done += n;
    }
    return Math.max(0, Math.min(buf.length, this.length - offset));
  }

  write(buf: Uint8Array, offset: number): void {
    let done = 0;
    while (done < buf.length) {
      const pos = offset + done;
      const pi = Math.floor(pos / PAGE);
      const po = pos - pi * PAGE;
      const n = Math.min(buf.length - done, PAGE - po);
      let slot = this.pages.get(pi);
      if (slot === undefined) {
        const page = this.scratch;
        if (n < PAGE) this.read(page, pi * PAGE);
        slot = this.allocSlot();
        this.pages.set(pi, slot);
        this.writeSlot(slot, page, 0, PAGE);
      }
      this.writeSlot(slot, buf.subarray(done, done + n), po, n);
      done += n;
    }
    if (offset + buf.length > this.length) this.length = offset + buf.length;
  }

  truncate(size: number): void {
    if (size < this.length) {
      // Zero the tail of the last page and drop pages wholly past the end, so a later grow reads zeros.
      for (const [pi] of this.pages) if (pi * PAGE >= size) this.pages.delete(pi);
      const pi = Math.floor(size / PAGE);
      const slot = this.pages.get(pi);
      if (slot !== undefined) {
        const po = size - pi * PAGE;
        this.writeSlot(slot, new Uint8Array(PAGE - po), po, PAGE - po);
      } else if (size % PAGE !== 0 && size < this.base.size()) {
        const page = new Uint8Array(PAGE);
        this.base.read(page.subarray(0, size - pi * PAGE), pi * PAGE);
        const s = this.allocSlot();
        this.pages.set(pi, s);
        this.writeSlot(s, page, 0, PAGE);
      }
      // Base pages beyond the new end must not reappear if the file grows again.
      for (let p = Math.ceil(size / PAGE); p * PAGE < Math.min(this.length, this.base.size()); p++) {
        if (!this.pages.has(p)) {
          const s = this.allocSlot();
          this.pages.set(p, s);
          this.writeSlot(s, new Uint8Array(PAGE), 0, PAGE);
        }
      }
    }
    this.length = size;
  }

  flush(): void {}

  /** When set, close() keeps the layer alive (so --save-as can copy it after the image is closed). */
  retain = false;

  close(): void {
    if (this.retain) return;
    this.dispose();
  }

  dispose(): void {
    if (this.sidecarFd >= 0) {
      fs.closeSync(this.sidecarFd);
      fs.rmSync(this.sidecarPath, { force: true });
      this.sidecarFd = -1;
    }
    this.mem = [];
    this.pages.clear();
    this.base.close();
  }

  /** Streams the merged content (base + shadow) into another storage, e.g. for --save-as. */
  copyTo(out: Storage): void {
    const page = new Uint8Array(PAGE);
    for (let off = 0; off < this.length; off += PAGE) {
      const n = Math.min(PAGE, this.length - off);
      const view = page.subarray(0, n);
      this.read(view, off);
      out.write(view, off);
    }
    out.truncate(this.length);
  }

  private allocSlot(): number {
    return this.nextSlot++;
  }

  private readSlot(slot: number, out: Uint8Array, po: number): void {
    if (slot < this.memLimitPages) out.set(this.mem[slot]!.subarray(po, po + out.length));
    else fs.readSync(this.sidecarFd, out, 0, out.length, (slot - this.memLimitPages) * PAGE + po);
  }

  private writeSlot(slot: number, data: Uint8Array, po: number, n: number): void {
    if (slot < this.memLimitPages) {
      let p = this.mem[slot];
      if (!p) p = this.mem[slot] = new Uint8Array(PAGE);
      p.set(data.subarray(0, n), po);
      return;
    }
    if (this.sidecarFd < 0) {
      this.sidecarPath = path.join(os.tmpdir(), `qcowdbg-shadow-${process.pid}-${Date.now()}.bin`);
      this.sidecarFd = fs.openSync(this.sidecarPath, "w+", 0o600);
    }
    let w = 0;
    while (w < n) w += fs.writeSync(this.sidecarFd, data, w, n - w, (slot - this.memLimitPages) * PAGE + po + w);
  }
}
