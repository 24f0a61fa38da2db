// The host files under the image as the cost model sees them (profiles with a `host` section): which ranges hold
// data (SEEK_DATA at the start, plus what the replay writes), where each file ends, which pages the host page cache
// holds (LRU, warm at the start: the files were just written or copied), and what is dirty since the last sync.
// An I/O that the page cache or a hole answers never reaches the device; a write into a hole or past the end
// allocates blocks, which the next fdatasync pays for with a journal commit.
import type { Storage } from "../storage/storage.js";
import { ShadowStorage } from "../storage/shadow-storage.js";
import { ioCost, type HostProfile } from "./host-profile.js";

const PAGE = 4096;
const MIB = 1024 * 1024;
/** Pages prefilled as warm per file at most (1 GiB): enough for metadata, bounded start-up time. */
const WARM_PAGES = 1 << 18;

/** Sorted, disjoint [start, end) ranges. */
export class ExtentSet {
  private starts: number[] = [];
  private ends: number[] = [];

  /** Index of the first range whose end is > at. */
  private find(at: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const i = this.find(start - 1);
    // Merge every range that touches [start, end).
    let j = i;
    while (j < this.starts.length && this.starts[j]! <= end) {
      start = Math.min(start, this.starts[j]!);
      end = Math.max(end, this.ends[j]!);
      j++;
    }
    this.starts.splice(i, j - i, start);
    this.ends.splice(i, j - i, end);
  }

  /** Bytes of [start, end) covered. */
  covered(start: number, end: number): number {
    let n = 0;
    for (let i = this.find(start); i < this.starts.length && this.starts[i]! < end; i++) n += Math.min(end, this.ends[i]!) - Math.max(start, this.starts[i]!);
    return n;
  }

  total(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i]! - this.starts[i]!;
    return n;
  }

  ranges(): [number, number][] {
    return this.starts.map((s, i) => [s, this.ends[i]!]);
  }
}

/** What a host file holds when the replay starts. */
export interface HostFileState {
  size: number;
  data: ExtentSet;
  /** Bytes below this are allocated even where they read as holes (fallocate'd, unwritten extents). */
  fallocatedEnd: number;
}

/** SEEK_DATA/SEEK_HOLE over a storage (its base file for a shadow), and st_blocks to tell fallocate'd files. */
export function probeHostFile(storage: Storage): HostFileState {
  const base = storage instanceof ShadowStorage ? storage.base : storage;
  const size = base.size();
  const data = new ExtentSet();
  const h = base as Partial<{ holeStatus(o: number, b: number): { zero: boolean; bytes: number }; allocatedSize(): number }>;
  if (typeof h.holeStatus !== "function") data.add(0, size);
  else {
    for (let off = 0; off < size; ) {
      const s = h.holeStatus(off, size - off);
      const n = Math.max(1, Math.min(s.bytes, size - off));
      if (!s.zero) data.add(off, off + n);
      off += n;
    }
  }
  // More blocks on disk than data ranges: the rest was fallocate'd (preallocation=falloc/full reads as holes on
  // filesystems that report unwritten extents as holes).
  const allocated = typeof h.allocatedSize === "function" ? h.allocatedSize() : 0;
  const fallocatedEnd = allocated > data.total() + MIB ? Math.min(size, allocated) : 0;
  return { size, data, fallocatedEnd };
}

interface FileState extends HostFileState {
  /** Ranges fallocate(ZERO_RANGE) allocated during the replay and not written since (unwritten extents). */
  unwritten: ExtentSet;
  dirtyBytes: number;
  allocSinceSync: boolean;
  /** Page-cache writes into holes or unwritten extents since the last sync (each its own extent to write back). */
  allocWrites: number;
}

/** A write over written blocks, into blocks allocated but never written, or into a hole / past the end. */
type WriteKind = "over" | "unwritten" | "alloc";

/** One read or write as the host sees it: `device` bytes go to the device (charged by the caller's device model). */
export interface HostCharge {
  us: number;
  deviceBytes: number;
}

export class HostFiles {
  private readonly files = new Map<number, FileState>();
  /** Page cache: key = file * 2^37 + page; Map order is recency. */
  private readonly cache = new Map<number, true>();
  private readonly capacityPages: number;

  constructor(
    readonly host: HostProfile,
    /** O_DIRECT (cache=none, directsync): no page cache. */
    readonly direct: boolean,
    initial: Map<number, HostFileState>,
  ) {
    this.capacityPages = Math.max(1, Math.floor(host.pageCacheBytes / PAGE));
    for (const [file, st] of initial) {
      this.files.set(file, { ...st, unwritten: new ExtentSet(), dirtyBytes: 0, allocSinceSync: false, allocWrites: 0 });
      if (direct) continue;
      let budget = Math.min(WARM_PAGES, this.capacityPages);
      for (const [s, e] of st.data.ranges()) {
        for (let p = Math.floor(s / PAGE); p * PAGE < e && budget > 0; p++, budget--) this.cache.set(this.key(file, p), true);
        if (budget <= 0) break;
      }
    }
  }

  private key(file: number, page: number): number {
    return file * 2 ** 37 + page;
  }

  private file(file: number): FileState {
    let f = this.files.get(file);
    if (!f) {
      // A file we know nothing of (a backing file opened later): all data, nothing cached.
      f = { size: Infinity, data: new ExtentSet(), fallocatedEnd: Infinity, unwritten: new ExtentSet(), dirtyBytes: 0, allocSinceSync: false, allocWrites: 0 };
      this.files.set(file, f);
    }
    return f;
  }

  /** Pages of [offset, offset+bytes) not in the page cache; touches them (they are cached after this I/O). */
  private missingBytes(file: number, offset: number, bytes: number, fill: boolean): number {
    let missing = 0;
    const first = Math.floor(offset / PAGE);
    const last = Math.floor((offset + Math.max(1, bytes) - 1) / PAGE);
    for (let p = first; p <= last; p++) {
      const k = this.key(file, p);
      if (this.cache.delete(k)) this.cache.set(k, true);
      else {
        missing += PAGE;
        if (fill) {
          this.cache.set(k, true);
          if (this.cache.size > this.capacityPages) this.cache.delete(this.cache.keys().next().value!);
        }
      }
    }
    return Math.min(missing, bytes);
  }

  /** Bytes of the range that hold data (or are allocated) on the host. */
  private dataBytes(f: FileState, offset: number, end: number): number {
    const alloc = Math.min(end, f.fallocatedEnd) - offset;
    return Math.max(alloc > 0 ? alloc : 0, f.data.covered(offset, end) + (f.size === Infinity ? end - offset : 0));
  }

  read(file: number, offset: number, bytes: number): HostCharge {
    const f = this.file(file);
    if (offset < 0) return this.direct ? { us: 0, deviceBytes: bytes } : { us: ioCost(this.host.cachedRead, bytes), deviceBytes: 0 };
    const end = offset + bytes;
    const data = Math.min(bytes, this.dataBytes(f, offset, end));
    if (this.direct) {
      if (data > 0) return { us: 0, deviceBytes: data };
      return { us: ioCost(this.host.directHoleRead, bytes), deviceBytes: 0 };
    }
    const missing = this.missingBytes(file, offset, bytes, true);
    // A hole's first read fills zero pages (and read-ahead); once cached it reads like any cached page.
    const us = ioCost(data > 0 || missing === 0 ? this.host.cachedRead : this.host.holeRead, bytes);
    // A hole answers from zero pages: only pages with data reach the device.
    return { us, deviceBytes: data > 0 ? Math.min(missing, data) : 0 };
  }

  write(file: number, offset: number, bytes: number): HostCharge {
    const f = this.file(file);
    if (offset < 0) return this.direct ? { us: 0, deviceBytes: bytes } : this.buffered(f, file, 0, bytes, "over");
    const end = offset + bytes;
    const written = f.data.covered(offset, end);
    // Blocks allocated but never written: zeroed by fallocate in this replay, or preallocated (falloc/full).
    const unwritten = Math.min(bytes - written, f.unwritten.covered(offset, end) + Math.max(0, Math.min(end, f.fallocatedEnd) - offset));
    const grows = end > f.size && f.size !== Infinity;
    const kind: WriteKind = f.size === Infinity || (written >= bytes && !grows) ? "over" : written + unwritten >= bytes && !grows ? "unwritten" : "alloc";
    f.data.add(offset, end);
    if (grows) f.size = end;
    if (kind !== "over") f.allocSinceSync = true;
    const h = this.host;
    if (this.direct) {
      if (kind === "over") return { us: 0, deviceBytes: bytes };
      return { us: ioCost(kind === "unwritten" ? (h.directUnwrittenWrite ?? h.directAllocWrite) : h.directAllocWrite, bytes), deviceBytes: 0 };
    }
    return this.buffered(f, file, offset, bytes, kind);
  }

  private buffered(f: FileState, file: number, offset: number, bytes: number, kind: WriteKind): HostCharge {
    f.dirtyBytes += bytes;
    if (kind !== "over") f.allocWrites++;
    if (offset >= 0) this.missingBytes(file, offset, bytes, true);
    const h = this.host;
    const cost = kind === "over" ? h.bufferedWrite : kind === "unwritten" ? (h.bufferedUnwrittenWrite ?? h.bufferedAllocWrite) : h.bufferedAllocWrite;
    return { us: ioCost(cost, bytes), deviceBytes: 0 };
  }

  /**
   * fdatasync of one file: the device flush, the dirty pages, a journal commit after allocation, and each
   * page-cache allocating write after the first (its own extent written back and converted).
   */
  sync(file: number): number {
    const f = this.files.get(file);
    const h = this.host;
    let us = h.syncUs;
    if (f) {
      us += (h.syncUsPerMiB * f.dirtyBytes) / MIB + (f.allocSinceSync ? (this.direct ? h.directSyncAllocUs : h.syncAllocUs) : 0);
      us += (h.syncUsPerAllocWrite ?? 0) * Math.max(0, f.allocWrites - 1);
      f.dirtyBytes = 0;
      f.allocSinceSync = false;
      f.allocWrites = 0;
    }
    return us;
  }

  /** fallocate(ZERO_RANGE) (write-zeroes over a COW area) or PUNCH_HOLE (a discard reaching the file). */
  zeroRange(file: number, offset: number, bytes: number): number {
    const f = this.file(file);
    if (offset >= 0) {
      f.unwritten.add(offset, offset + bytes);
      if (offset + bytes > f.size) f.size = offset + bytes;
    }
    f.allocSinceSync = true;
    return this.host.zeroRangeUs;
  }

  punchHole(): number {
    return this.host.punchHoleUs;
  }
}
