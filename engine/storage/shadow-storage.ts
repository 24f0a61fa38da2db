// A copy-on-write layer over a read-only storage: writes land in 64 KiB pages held in memory, spilling to a
// temporary sidecar file past a limit, so replaying writes against a production image never touches it.
// Snapshots (time travel) share pages with the live layer; a shared page is copied on its next write.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Storage } from "./storage.js";

const PAGE = 65536;

/** The layer's content at one moment: which slot holds each page, and the length. Cheap: slots are shared.
 *  Typed arrays rather than a Map, so thousands of snapshots cost the garbage collector nothing. */
export interface ShadowSnapshot {
  readonly length: number;
  readonly baseValid: number;
  readonly pages: Float64Array;
  readonly slots: Int32Array;
  released: boolean;
}

export class ShadowStorage implements Storage {
  readonly writable = true;
  readonly name: string;
  private length: number;
  /** Bytes of the base still visible (shrinking the file hides the rest for good). */
  private baseValid: number;
  /** page index -> slot; slots < memLimitPages live in `mem`, the rest in the sidecar file. */
  private pages = new Map<number, number>();
  private mem: (Uint8Array | undefined)[] = [];
  private sidecarFd = -1;
  private sidecarPath = "";
  private nextSlot = 0;
  private readonly memLimitPages: number;
  private readonly scratch = new Uint8Array(PAGE);
  /** slot -> how many snapshots hold it; a held slot is never written in place. */
  private shares = new Int32Array(64);
  private freeSlots: number[] = [];

  constructor(readonly base: Storage, memLimitBytes = 256 * 1024 * 1024) {
    this.name = base.name;
    this.length = base.size();
    this.baseValid = this.length;
    this.memLimitPages = Math.max(1, Math.floor(memLimitBytes / PAGE));
  }

  size(): number {
    return this.length;
  }

  /** Holes as the base file has them; pages written through the shadow count as data. */
  holeStatus(offset: number, bytes: number): { zero: boolean; bytes: number } {
    const pi = Math.floor(offset / PAGE);
    if (this.pages.has(pi)) return { zero: false, bytes: Math.min(bytes, (pi + 1) * PAGE - offset) };
    const h = this.base as Partial<{ holeStatus(o: number, b: number): { zero: boolean; bytes: number } }>;
    let r = typeof h.holeStatus === "function" ? h.holeStatus(offset, bytes) : { zero: offset >= this.base.size(), bytes };
    // Stop at the next shadowed page, which may hold data.
    for (let p = pi + 1; p * PAGE < offset + r.bytes; p++)
      if (this.pages.has(p)) {
        r = { zero: r.zero, bytes: p * PAGE - offset };
        break;
      }
    return r;
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
        if (slot === undefined) {
          const fromBase = Math.max(0, Math.min(n, this.baseValid - pos));
          if (fromBase > 0) this.base.read(out.subarray(0, fromBase), pos);
          if (fromBase < n) out.fill(0, fromBase);
        } else this.readSlot(slot, out, po);
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
      const slot = this.ownSlot(pi, n === PAGE);
      this.writeSlot(slot, buf.subarray(done, done + n), po, n);
      done += n;
    }
    if (offset + buf.length > this.length) this.length = offset + buf.length;
  }

  /** A slot for page `pi` that may be written in place: a new one (filled from below unless `whole` is about
   *  to be overwritten), a private copy of a slot a snapshot holds, or the page's own slot. */
  private ownSlot(pi: number, whole: boolean): number {
    const slot = this.pages.get(pi);
    if (slot !== undefined && !this.shared(slot)) return slot;
    const page = this.scratch;
    if (slot !== undefined) this.readSlot(slot, page, 0);
    else if (!whole) this.read(page, pi * PAGE);
    const fresh = this.allocSlot();
    this.pages.set(pi, fresh);
    if (slot !== undefined || !whole) this.writeSlot(fresh, page, 0, PAGE);
    return fresh;
  }

  truncate(size: number): void {
    if (size < this.length) {
      // Base bytes past the new end must never come back if the file grows again.
      this.baseValid = Math.min(this.baseValid, size);
      for (const [pi, slot] of this.pages) if (pi * PAGE >= size) this.unlink(pi, slot);
      const pi = Math.floor(size / PAGE);
      const po = size - pi * PAGE;
      if (this.pages.has(pi)) this.writeSlot(this.ownSlot(pi, false), new Uint8Array(PAGE - po), po, PAGE - po);
    }
    this.length = size;
  }

  /** Captures the current content; pages stay shared until either side writes them. Release it when done. */
  snapshot(): ShadowSnapshot {
    const pages = new Float64Array(this.pages.size);
    const slots = new Int32Array(this.pages.size);
    let i = 0;
    for (const [pi, slot] of this.pages) {
      if (slot >= this.shares.length) this.growShares(slot);
      this.shares[slot]!++;
      pages[i] = pi;
      slots[i++] = slot;
    }
    return { length: this.length, baseValid: this.baseValid, pages, slots, released: false };
  }

  /** Puts the layer back to a snapshot (which stays valid and held). */
  restore(s: ShadowSnapshot): void {
    if (s.released) throw new Error("shadow snapshot was released");
    for (const slot of this.pages.values()) if (!this.shared(slot)) this.freeSlot(slot);
    this.pages = new Map();
    for (let i = 0; i < s.pages.length; i++) this.pages.set(s.pages[i]!, s.slots[i]!);
    this.length = s.length;
    this.baseValid = s.baseValid;
  }

  /** Lets go of a snapshot: slots nobody else holds are freed. Releasing twice is harmless. */
  release(s: ShadowSnapshot): void {
    if (s.released) return;
    s.released = true;
    for (let i = 0; i < s.pages.length; i++) {
      const slot = s.slots[i]!;
      if (--this.shares[slot]! > 0) continue;
      if (this.pages.get(s.pages[i]!) !== slot) this.freeSlot(slot);
    }
  }

  /** Bytes held by the live layer and every snapshot (each distinct page version once). */
  retainedBytes(): number {
    return (this.nextSlot - this.freeSlots.length) * PAGE;
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
    this.shares.fill(0);
    this.freeSlots = [];
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
    return this.freeSlots.pop() ?? this.nextSlot++;
  }

  private unlink(pi: number, slot: number): void {
    this.pages.delete(pi);
    if (!this.shared(slot)) this.freeSlot(slot);
  }

  private shared(slot: number): boolean {
    return slot < this.shares.length && this.shares[slot]! > 0;
  }

  private growShares(slot: number): void {
    const n = new Int32Array(Math.max(slot + 1, this.shares.length * 2));
    n.set(this.shares);
    this.shares = n;
  }

  private freeSlot(slot: number): void {
    if (slot < this.memLimitPages) this.mem[slot] = undefined;
    this.freeSlots.push(slot);
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
