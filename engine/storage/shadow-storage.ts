// A copy-on-write layer over a read-only storage: writes land in 64 KiB pages held in memory, spilling to a
// temporary sidecar file past a limit, so replaying writes against a production image never touches it.
// Snapshots (time travel) share pages with the live layer; a shared page is copied on its next write, and the
// version left behind is kept as the words that differ from the next version of that page (chains stay short).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Storage } from "./storage.js";

const PAGE = 65536;
const PAGE_WORDS = PAGE / 4;
/** Older versions reached through at most this many deltas; past it a version stays whole. */
const MAX_CHAIN = 16;

/** A frozen page version as the 32-bit words where it differs from the (newer) version in slot `base`. */
interface PageDelta {
  base: number;
  idx: Uint16Array;
  val: Uint32Array;
}

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
  /** Writes and truncates so far (see Storage.writeGen). */
  writeGen = 0;
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
  /** Frozen versions (copied away from by a write while a snapshot held them) never change again. */
  private frozen = new Uint8Array(64);
  /** slot -> the older version of its page stored as a delta against it, or -1. */
  private dependent = new Int32Array(64).fill(-1);
  private slotPage = new Float64Array(64);
  private deltas: (PageDelta | undefined)[] = [];
  /** page -> its newest frozen version (always whole: the next older one is encoded against it). */
  private newest = new Map<number, number>();
  private deltaSlots = 0;
  private deltaBytes = 0;
  private readonly pageWords = new Uint32Array(PAGE_WORDS);

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
        } else this.readSlot(this.deltas[slot] ? this.wholeCopy(pi, slot) : slot, out, po);
        const valid = this.length - pos;
        if (valid < n) out.fill(0, valid);
      }
      done += n;
    }
    return Math.max(0, Math.min(buf.length, this.length - offset));
  }

  write(buf: Uint8Array, offset: number): void {
    this.writeGen++;
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
    // A frozen version may be the base of an older one's delta even when no snapshot holds it any more.
    if (slot !== undefined && !this.shared(slot) && !this.frozen[slot]) return slot;
    const page = this.scratch;
    if (slot !== undefined) this.readSlot(slot, page, 0);
    else if (!whole) this.read(page, pi * PAGE);
    const fresh = this.allocSlot(pi);
    this.pages.set(pi, fresh);
    if (slot !== undefined || !whole) this.writeSlot(fresh, page, 0, PAGE);
    if (slot !== undefined) {
      if (this.shared(slot)) this.freeze(slot, pi);
      else this.freeSlot(slot);
    }
    return fresh;
  }

  /** `slot` was just left behind by the live page `pi`: the page's previous newest version becomes a delta. */
  private freeze(slot: number, pi: number): void {
    if (this.frozen[slot]) return;
    this.frozen[slot] = 1;
    const prev = this.newest.get(pi);
    this.newest.set(pi, slot);
    if (prev === undefined || prev >= this.memLimitPages || slot >= this.memLimitPages || this.deltas[prev]) return;
    let depth = 0;
    for (let d = this.dependent[prev]!; d >= 0 && depth < MAX_CHAIN; d = this.dependent[d]!) depth++;
    if (depth >= MAX_CHAIN) return;
    const a = this.mem[prev]!;
    const b = this.mem[slot]!;
    const aw = new Uint32Array(a.buffer, a.byteOffset, PAGE_WORDS);
    const bw = new Uint32Array(b.buffer, b.byteOffset, PAGE_WORDS);
    const idx = new Uint16Array(PAGE_WORDS / 4);
    const val = new Uint32Array(PAGE_WORDS / 4);
    let n = 0;
    for (let w = 0; w < PAGE_WORDS; w++) {
      if (aw[w] === bw[w]) continue;
      if (n === idx.length) return; // too different: stays whole
      idx[n] = w;
      val[n++] = aw[w]!;
    }
    this.deltas[prev] = { base: slot, idx: idx.slice(0, n), val: val.slice(0, n) };
    this.mem[prev] = undefined;
    this.dependent[slot] = prev;
    this.deltaSlots++;
    this.deltaBytes += n * 6 + 64;
  }

  /** Gives live page `pi` a private whole copy of the delta-encoded version it shows. */
  private wholeCopy(pi: number, slot: number): number {
    const content = this.materialize(slot);
    const fresh = this.allocSlot(pi);
    this.writeSlot(fresh, content, 0, PAGE);
    this.pages.set(pi, fresh);
    if (!this.shared(slot)) this.freeSlot(slot);
    return fresh;
  }

  /** The whole content of a slot, following its deltas to a whole version. */
  private materialize(slot: number): Uint8Array {
    const chain: PageDelta[] = [];
    let s = slot;
    for (let d = this.deltas[s]; d; d = this.deltas[s]) {
      chain.push(d);
      s = d.base;
    }
    const words = this.pageWords;
    const bytes = new Uint8Array(words.buffer);
    this.readWhole(s, bytes, 0);
    for (let k = chain.length - 1; k >= 0; k--) {
      const d = chain[k]!;
      for (let i = 0; i < d.idx.length; i++) words[d.idx[i]!] = d.val[i]!;
    }
    return bytes;
  }

  truncate(size: number): void {
    this.writeGen++;
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
    // Versions kept as deltas are made whole when first read (see read()), not all at once here.
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
    return (this.nextSlot - this.freeSlots.length - this.deltaSlots) * PAGE + this.deltaBytes;
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
    this.frozen.fill(0);
    this.dependent.fill(-1);
    this.deltas = [];
    this.newest.clear();
    this.deltaSlots = 0;
    this.deltaBytes = 0;
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

  private allocSlot(pi: number): number {
    const slot = this.freeSlots.pop() ?? this.nextSlot++;
    if (slot >= this.shares.length) this.growSlots(slot);
    this.slotPage[slot] = pi;
    return slot;
  }

  private unlink(pi: number, slot: number): void {
    this.pages.delete(pi);
    if (!this.shared(slot)) this.freeSlot(slot);
  }

  private shared(slot: number): boolean {
    return slot < this.shares.length && this.shares[slot]! > 0;
  }

  private growSlots(slot: number): void {
    const n = Math.max(slot + 1, this.shares.length * 2);
    const grow = <T extends Int32Array | Uint8Array | Float64Array>(a: T, b: T, fill = 0): T => {
      b.fill(fill as never);
      b.set(a as never);
      return b;
    };
    this.shares = grow(this.shares, new Int32Array(n));
    this.frozen = grow(this.frozen, new Uint8Array(n));
    this.dependent = grow(this.dependent, new Int32Array(n), -1);
    this.slotPage = grow(this.slotPage, new Float64Array(n));
  }

  /** Nobody holds `slot` any more. A version encoded against it is re-based (or made whole) first. */
  private freeSlot(slot: number): void {
    const older = this.dependent[slot]!;
    const delta = this.deltas[slot];
    if (older >= 0) {
      const od = this.deltas[older]!;
      this.deltaBytes -= od.idx.length * 6;
      if (delta) {
        // older = base + delta + od: one delta against `delta.base`.
        const merged = mergeDeltas(delta, od);
        this.deltas[older] = merged;
        this.dependent[delta.base] = older;
        this.deltaBytes += merged.idx.length * 6;
      } else {
        const whole = this.materialize(older).slice();
        this.deltas[older] = undefined;
        this.mem[older] = whole;
        this.deltaSlots--;
        this.deltaBytes -= 64;
      }
    } else if (delta) this.dependent[delta.base] = -1;
    if (delta) {
      this.deltas[slot] = undefined;
      this.deltaSlots--;
      this.deltaBytes -= delta.idx.length * 6 + 64;
    }
    const pi = this.slotPage[slot]!;
    if (this.newest.get(pi) === slot) {
      if (older >= 0) this.newest.set(pi, older);
      else this.newest.delete(pi);
    }
    this.dependent[slot] = -1;
    this.frozen[slot] = 0;
    if (slot < this.memLimitPages) this.mem[slot] = undefined;
    this.freeSlots.push(slot);
  }

  private readSlot(slot: number, out: Uint8Array, po: number): void {
    if (this.deltas[slot]) out.set(this.materialize(slot).subarray(po, po + out.length));
    else this.readWhole(slot, out, po);
  }

  private readWhole(slot: number, out: Uint8Array, po: number): void {
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

/** `first` then `second`, as one delta against `first.base` (`second` wins where both change a word). */
function mergeDeltas(first: PageDelta, second: PageDelta): PageDelta {
  const idx = new Uint16Array(first.idx.length + second.idx.length);
  const val = new Uint32Array(idx.length);
  let i = 0, j = 0, n = 0;
  while (i < first.idx.length || j < second.idx.length) {
    const a = i < first.idx.length ? first.idx[i]! : Infinity;
    const b = j < second.idx.length ? second.idx[j]! : Infinity;
    if (b <= a) {
      idx[n] = b;
      val[n++] = second.val[j++]!;
      if (a === b) i++;
    } else {
      idx[n] = a;
      val[n++] = first.val[i++]!;
    }
  }
  return { base: first.base, idx: idx.slice(0, n), val: val.slice(0, n) };
}
