// What the guest may legitimately read back after a crash, per 512-byte sector: every version it wrote (as a
// 32-bit hash), stamped with how many guest flushes had completed before it. A crashed image that reads an older
// version than the last flushed one lost flushed data; one that reads a version the sector never had shows garbage.

const SECTOR = 512;
/** A discard: afterwards the sector may read as anything it had, or zeros. */
export const ANY = -1;

/** FNV-1a over the sector's 32-bit words; never returns ANY. */
export function sectorHash(buf: Uint8Array, at: number): number {
  let h = 0x811c9dc5;
  const dv = new DataView(buf.buffer, buf.byteOffset + at, SECTOR);
  for (let i = 0; i < SECTOR; i += 4) h = Math.imul(h ^ dv.getUint32(i, true), 0x01000193);
  h >>>= 0;
  return h === 0xffffffff ? 0xfffffffe : h;
}

const ZERO_HASH = sectorHash(new Uint8Array(SECTOR), 0);

/** Fills a write's payload so that every sector says which request and sector it is: versions stay distinct. */
export function stampedData(request: number, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  const dv = new DataView(buf.buffer);
  for (let s = 0; s + 16 <= length; s += SECTOR) {
    dv.setUint32(s, 0x51435244, true); // "DRCQ": a marker to spot our data in a hex dump
    dv.setUint32(s + 4, request, true);
    dv.setUint32(s + 8, (offset + s) / SECTOR, true);
    dv.setUint32(s + 12, 0x0f0f0f0f ^ request, true);
  }
  return buf;
}

export type SectorVerdict = "ok" | "lost" | "garbage";

export class GuestHistory {
  /** sector -> [hash, stamp, hash, stamp, ...] oldest first. */
  private versions = new Map<number, number[]>();
  /** Guest flushes completed so far. */
  flushes = 0;

  /** The guest wrote `data` at `offset` (sector aligned parts only; a partial sector is recorded as ANY). */
  wrote(offset: number, data: Uint8Array): void {
    const first = Math.floor(offset / SECTOR);
    const last = Math.ceil((offset + data.length) / SECTOR);
    for (let s = first; s < last; s++) {
      const at = s * SECTOR - offset;
      this.push(s, at >= 0 && at + SECTOR <= data.length ? sectorHash(data, at) : ANY);
    }
  }

  zeroed(offset: number, length: number): void {
    this.fill(offset, length, ZERO_HASH);
  }

  discarded(offset: number, length: number): void {
    this.fill(offset, length, ANY);
  }

  private fill(offset: number, length: number, h: number): void {
    const first = Math.floor(offset / SECTOR);
    const last = Math.ceil((offset + length) / SECTOR);
    const partial = (s: number) => s * SECTOR < offset || (s + 1) * SECTOR > offset + length;
    for (let s = first; s < last; s++) this.push(s, partial(s) ? ANY : h);
  }

  private push(sector: number, h: number): void {
    let v = this.versions.get(sector);
    if (!v) this.versions.set(sector, (v = []));
    v.push(h, this.flushes);
  }

  touched(sector: number): boolean {
    return this.versions.has(sector);
  }

  /** Judges what a crashed image reads for `sector`, given the hash the image had before the replay. */
  judge(sector: number, read: number, original: () => number): SectorVerdict {
    const v = this.versions.get(sector);
    if (!v) return read === original() ? "ok" : "garbage";
    // The newest version a completed flush covered; from it on, every version is acceptable.
    let covered = -1;
    for (let i = 0; i < v.length; i += 2) if (v[i + 1]! < this.flushes) covered = i;
    const from = Math.max(covered, 0);
    for (let i = from; i < v.length; i += 2) if (v[i] === read || v[i] === ANY) return "ok";
    if (covered < 0) return read === original() ? "ok" : "garbage";
    for (let i = 0; i < covered; i += 2) if (v[i] === read || v[i] === ANY) return "lost";
    return read === original() ? "lost" : "garbage";
  }
}
