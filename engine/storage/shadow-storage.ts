// A copy-on-write layer over a read-only storage: writes land in 64 KiB pages held in memory (as runs of one
// byte when they are that simple, see run-page.ts), spilling to a bounded, unlinked temp file (shadow-sidecar.ts)
// past a memory limit, so replaying writes against a production image never touches it.
// Snapshots (time travel) share pages with the live layer; a shared page is copied on its next write, and the
// version left behind is kept as the words that differ from the next version of that page (page-delta.ts).
import { mergeDeltas, packDelta, unpackDelta, type PageDelta } from "./page-delta.js";
import { PAGE, RunPage } from "./run-page.js";
import { ShadowSidecar } from "./shadow-sidecar.js";
import { MAX_WRITE_ALIGN, padWriteEnd, type Storage } from "./storage.js";

const PAGE_WORDS = PAGE / 4;
/** Older versions reached through at most this many deltas; past it a version stays whole (at 16, the whole
 *  versions were two thirds of a 1M-request timeline's shadow; a read that deep inflates some ms of deltas). */
const MAX_CHAIN = 256;

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
  /** O_DIRECT write padding (Storage.writeAlign); set by the image that owns this file. */
  writeAlign?: () => number;
  /** Writes and truncates so far (see Storage.writeGen). */
  writeGen = 0;
  readonly writable = true;
  readonly name: string;
  private length: number;
  /** Bytes of the base still visible (shrinking the file hides the rest for good). */
  private baseValid: number;
  /** page index -> slot. A slot's content is in `mem` (bytes or runs), in the sidecar (filePage), or a delta. */
  private pages = new Map<number, number>();
  private mem: (Uint8Array | RunPage | undefined)[] = [];
  private readonly sidecar: ShadowSidecar;
  /** slot -> its page in the sidecar, or -1. */
  private filePage = new Int32Array(64).fill(-1);
  private nextSlot = 0;
  /** Bytes of whole pages held in memory, and the most they may take before pages go to the sidecar. */
  private memBytes = 0;
  private readonly memLimit: number;
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

  constructor(readonly base: Storage, memLimitBytes = 256 * 1024 * 1024, tempLimitBytes?: number) {
    this.name = base.name;
    this.length = base.size();
    this.baseValid = this.length;
    this.memLimit = Math.max(PAGE, memLimitBytes);
    this.sidecar = new ShadowSidecar(tempLimitBytes);
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

  /** Bytes the live layer's pages take (memory and sidecar; a page of runs takes a few bytes a run). */
  shadowBytes(): number {
    let n = 0;
    for (const slot of this.pages.values()) n += this.slotBytes(slot);
    return n;
  }

  private slotBytes(slot: number): number {
    const m = this.mem[slot];
    if (m instanceof Uint8Array || this.filePage[slot]! >= 0) return PAGE;
    if (m) return 64 + m.runs * 16;
    const d = this.deltas[slot];
    return d ? d.bytes + 64 : 0;
  }

  spilled(): boolean {
    return this.sidecar.open;
  }

  /** Bytes of temp file written so far (at most the temp limit). */
  tempBytes(): number {
    return this.sidecar.bytes();
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

  // The page walk is read()'s (`duplicates` pairs them); what each does per page differs (versions, spills).
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
    if (this.writeAlign && offset + buf.length > this.length - MAX_WRITE_ALIGN) padWriteEnd(this, offset + buf.length);
  }

  /** A slot for page `pi` that may be written in place: a new one (filled from below unless `whole` is about
   *  to be overwritten), a private copy of a slot a snapshot holds, or the page's own slot. */
  private ownSlot(pi: number, whole: boolean): number {
    const slot = this.pages.get(pi);
    // A frozen version may be the base of an older one's delta even when no snapshot holds it any more.
    if (slot !== undefined && !this.shared(slot) && !this.frozen[slot]) return slot;
    const page = this.scratch;
    const fresh = this.allocSlot(pi);
    const src = slot === undefined ? undefined : this.mem[slot];
    try {
      if (src instanceof RunPage && !this.deltas[slot!]) this.mem[fresh] = src.clone();
      else if (slot !== undefined) {
        // A whole page stays whole: looking for runs in a metadata table on every copy costs more than it saves.
        this.readSlot(slot, page, 0);
        this.placeBytes(fresh, page, true);
      } else if (!whole && pi * PAGE >= Math.min(this.baseValid, this.base.size())) {
        // Past the base (a growing image's new clusters): zeroes, known without reading or scanning them.
        this.mem[fresh] = RunPage.uniform(0);
      } else if (!whole) {
        this.read(page, pi * PAGE);
        this.writeSlot(fresh, page, 0, PAGE);
      }
    } catch (e) {
      // The temp limit: the layer stays as it was.
      this.freeSlots.push(fresh);
      throw e;
    }
    this.pages.set(pi, fresh);
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
    if (prev === undefined || this.deltas[prev]) return;
    // Only whole pages in memory are delta-encoded (runs are small already; the sidecar is bounded anyway).
    const a = this.mem[prev];
    const b = this.mem[slot];
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) return;
    let depth = 0;
    for (let d = this.dependent[prev]!; d >= 0 && depth < MAX_CHAIN; d = this.dependent[d]!) depth++;
    if (depth >= MAX_CHAIN) return;
    const aw = new Uint32Array(a.buffer, a.byteOffset, PAGE_WORDS);
    const bw = new Uint32Array(b.buffer, b.byteOffset, PAGE_WORDS);
    const idx = new Uint16Array(PAGE_WORDS / 4);
    const val = new Uint32Array(PAGE_WORDS / 4);
    let n = 0;
    // Equal stretches are skipped natively, 256 bytes at a time: versions of a table differ in a few entries.
    const ab = Buffer.from(a.buffer, a.byteOffset, PAGE);
    const bb = Buffer.from(b.buffer, b.byteOffset, PAGE);
    for (let at = 0; at < PAGE; at += 256) {
      if (ab.compare(bb, at, at + 256, at, at + 256) === 0) continue;
      for (let w = at / 4; w < (at + 256) / 4; w++) {
        if (aw[w] === bw[w]) continue;
        if (n === idx.length) return; // too different: stays whole
        idx[n] = w;
        val[n++] = aw[w]!;
      }
    }
    const delta = packDelta(slot, idx, val, n);
    this.deltas[prev] = delta;
    this.mem[prev] = undefined;
    this.memBytes -= PAGE;
    this.dependent[slot] = prev;
    this.deltaSlots++;
    this.deltaBytes += delta.bytes + 64;
  }

  /** Gives live page `pi` a private whole copy of the delta-encoded version it shows. */
  private wholeCopy(pi: number, slot: number): number {
    const content = this.materialize(slot);
    this.room();
    const fresh = this.allocSlot(pi);
    this.placeBytes(fresh, content, true);
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
      const { idx, val } = unpackDelta(chain[k]!);
      for (let i = 0; i < idx.length; i++) words[idx[i]!] = val[i]!;
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
    let n = 0;
    for (let slot = 0; slot < this.nextSlot; slot++) n += this.slotBytes(slot);
    return n;
  }

  flush(): void {}

  /** When set, close() keeps the layer alive (so --save-as can copy it after the image is closed). */
  retain = false;

  close(): void {
    if (this.retain) return;
    this.dispose();
  }

  dispose(): void {
    this.sidecar.close();
    this.filePage.fill(-1);
    this.memBytes = 0;
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
    this.filePage = grow(this.filePage, new Int32Array(n), -1);
  }

  /** Nobody holds `slot` any more. A version encoded against it is re-based (or made whole) first. */
  private freeSlot(slot: number): void {
    const older = this.dependent[slot]!;
    const delta = this.deltas[slot];
    if (older >= 0) {
      const od = this.deltas[older]!;
      this.deltaBytes -= od.bytes;
      if (delta) {
        // older = base + delta + od: one delta against `delta.base`.
        const merged = mergeDeltas(delta, od);
        this.deltas[older] = merged;
        this.dependent[delta.base] = older;
        this.deltaBytes += merged.bytes;
      } else {
        const whole = this.materialize(older).slice();
        this.deltas[older] = undefined;
        this.mem[older] = whole;
        this.memBytes += PAGE;
        this.deltaSlots--;
        this.deltaBytes -= 64;
      }
    } else if (delta) this.dependent[delta.base] = -1;
    if (delta) {
      this.deltas[slot] = undefined;
      this.deltaSlots--;
      this.deltaBytes -= delta.bytes + 64;
    }
    const pi = this.slotPage[slot]!;
    if (this.newest.get(pi) === slot) {
      if (older >= 0) this.newest.set(pi, older);
      else this.newest.delete(pi);
    }
    this.dependent[slot] = -1;
    this.frozen[slot] = 0;
    if (this.mem[slot] instanceof Uint8Array) this.memBytes -= PAGE;
    this.mem[slot] = undefined;
    const fp = this.filePage[slot]!;
    if (fp >= 0) {
      this.sidecar.free(fp);
      this.filePage[slot] = -1;
    }
    this.freeSlots.push(slot);
  }

  private readSlot(slot: number, out: Uint8Array, po: number): void {
    if (this.deltas[slot]) out.set(this.materialize(slot).subarray(po, po + out.length));
    else this.readWhole(slot, out, po);
  }

  private readWhole(slot: number, out: Uint8Array, po: number): void {
    const m = this.mem[slot];
    if (m instanceof Uint8Array) out.set(m.subarray(po, po + out.length));
    else if (m) m.read(out, po);
    else if (this.filePage[slot]! >= 0) this.sidecar.read(out, this.filePage[slot]!, po);
    else out.fill(0);
  }

  /** Throws (the temp limit) unless one more whole page fits in memory or in the sidecar. */
  private room(): void {
    if (this.memBytes + PAGE > this.memLimit) this.sidecar.reserve();
  }

  /** Gives a slot without content the whole page `bytes`: in memory while the budget lasts, else the sidecar. */
  private placeBytes(slot: number, bytes: Uint8Array, copy: boolean): void {
    if (this.memBytes + PAGE <= this.memLimit) {
      this.mem[slot] = copy ? bytes.slice(0, PAGE) : bytes;
      this.memBytes += PAGE;
      return;
    }
    const k = this.sidecar.alloc();
    this.filePage[slot] = k;
    this.sidecar.write(bytes, k, 0, PAGE);
  }

  private writeSlot(slot: number, data: Uint8Array, po: number, n: number): void {
    const m = this.mem[slot];
    if (m instanceof Uint8Array) {
      m.set(data.subarray(0, n), po);
      return;
    }
    if (m) {
      if (m.write(data, po, n)) return;
      // Too many runs now: the page becomes bytes (checked for room first, so a failure changes nothing).
      this.room();
      const bytes = m.toBytes();
      bytes.set(data.subarray(0, n), po);
      this.mem[slot] = undefined;
      this.placeBytes(slot, bytes, false);
      return;
    }
    const fp = this.filePage[slot]!;
    if (fp >= 0) {
      this.sidecar.write(data, fp, po, n);
      return;
    }
    // A fresh slot: ownSlot() gives it a whole page first.
    if (po !== 0 || n !== PAGE) throw new Error(`shadow: partial first write to a page (${n} bytes at ${po})`);
    const runs = RunPage.from(data);
    if (runs) this.mem[slot] = runs;
    else this.placeBytes(slot, data, true);
  }
}
