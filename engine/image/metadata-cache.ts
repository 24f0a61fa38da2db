// QEMU's Qcow2Cache, decision for decision: circular lookup from a hashed start index, victim = unpinned entry
// with the strictly smallest LRU counter (a hit does not bump it; put() does when the pin count drops to 0),
// dirty write-back with cache dependencies and "depends on flush". Every decision is an event. The victim
// choice is a policy (EngineConfig.cachePolicy): QEMU's LRU, or the FIFO and 2Q what-ifs described below.
import { EventKind } from "../events/event-kind.js";
import type { CachePolicy } from "./engine-config.js";
import type { EventSink } from "../events/recorder.js";
import { HUGE_PAGE, hugeRegion } from "../storage/huge-region.js";
import type { Storage } from "../storage/storage.js";

/** Larger tables are allocated plainly, so that a size this process cannot hold fails as cache-alloc.ts expects. */
const MAX_HUGE_CACHE = 2 ** 30;

export interface CacheHost {
  /** The image file the tables live in. */
  file: Storage;
  events: EventSink;
  node: number;
  /** bdrv_flush(bs->file): a file sync (may be a no-op in cache=unsafe). */
  flushFile(): void;
  /** Called before a table write-back; throws if the write would overlap other metadata. */
  checkOverlap?(cache: MetadataCache, offset: number, size: number): void;
  /** The coroutine that did this I/O yields (see coroutine-model.ts); other coroutines may run. */
  ioYield?(): void;
  /** The engine's settings; only the victim policy is read (default: QEMU's LRU). */
  config?: { cachePolicy?: CachePolicy };
}

/** 2Q's state beyond the ranks: which slots are in Am, and the A1out ghost queue (offsets only). */
export interface TwoQState {
  hot: Uint8Array;
  ghosts: number[];
}

/**
 * A cache's state at one moment, the one shape for checkpoints, views and panes: per slot the table offset,
 * rank (`lru`), pins and dirtiness; the rank counter, dependency and statistics; 2Q's queues; and the tables,
 * kept as T (bytes, a checkpoint codec's blob, or null where only the bookkeeping is wanted).
 */
export interface CacheState<T> {
  offsets: Float64Array;
  lru: Float64Array;
  refs: Int32Array;
  dirty: Uint8Array;
  tables: T;
  lruCounter: number;
  dependsOnFlush: boolean;
  hasDepends: boolean;
  hits: number;
  misses: number;
  writebacks: number;
  /** 2Q's queues; absent for LRU and FIFO, whose state is all in the ranks. */
  policy?: TwoQState;
}

/** The bookkeeping without the tables, read-only: what the timeline's views and the cache panes hold. */
export type CacheView = Readonly<CacheState<null>>;

export class MetadataCache {
  readonly offsets: Float64Array;
  readonly lru: Float64Array;
  readonly refs: Int32Array;
  readonly dirty: Uint8Array;
  readonly tables: Uint8Array;
  /** Big-endian word access to `tables` for scans over many entries. */
  readonly dataView: DataView;
  /** One view per slot, made once: table(i) is on the hot path. */
  private readonly views: Uint8Array[];
  private lastHit = 0;
  /** offset / tableSize -> slot, mirroring `offsets` (the hit path of a large cache must not scan). */
  private readonly where = new Map<number, number>();
  lruCounter = 0;
  /** Doubly linked list of entries with a non-zero LRU counter, oldest first; and how many have counter 0. */
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  private zeroLru: number;
  /** How many slots are dirty (the `dirty` array's sum): a write-back stops once it has met them all. */
  private dirtySlots = 0;
  depends: MetadataCache | null = null;
  dependsOnFlush = false;
  hits = 0;
  misses = 0;
  writebacks = 0;
  /**
   * How a miss picks its victim. All three keep one rank per slot (`lru`, from one growing counter; 0 = empty)
   * and take the unpinned slot of smallest rank, empty slots first in QEMU's circular order; they differ in
   * when a rank is given:
   * - "lru" (QEMU): when a table is released (put() drops its pin count to 0); hits are ranked by their release.
   * - "fifo": when a table is loaded; hits change nothing, so a hot table still leaves in load order.
   * - "2q" (Johnson and Shasha, 1994, simplified): a table seen for the first time enters A1in (FIFO, ranked at
   *   load); when A1in holds more than a quarter of the cache, its oldest leaves first and its offset is
   *   remembered in A1out (a ghost queue half the cache long); a table loaded again while remembered enters Am
   *   (LRU, ranked at release). A table touched once, as a sequential scan touches L2 slices, cannot push out
   *   tables that are used again.
   */
  readonly policy: CachePolicy;
  /** 2Q: 1 when the slot's table is in Am. */
  private readonly hot: Uint8Array;
  /** 2Q: A1out, offsets of tables evicted from A1in, oldest first. */
  private ghosts: number[] = [];

  constructor(
    readonly host: CacheHost,
    /** QEMU's is_l2_cache flag: 1 for the L2 cache, 0 for the refcount cache. */
    readonly id: 0 | 1,
    readonly size: number,
    readonly tableSize: number,
  ) {
    this.offsets = new Float64Array(size);
    this.lru = new Float64Array(size);
    this.prev = new Int32Array(size);
    this.next = new Int32Array(size);
    this.zeroLru = size;
    this.refs = new Int32Array(size);
    this.dirty = new Uint8Array(size);
    // A cache of 2 MiB or more sits on huge pages where the kernel gives them: a big image's L2 lookups land at
    // random, and with 4 KiB pages each was a TLB miss (and each first touch a fault).
    const bytes = size * tableSize;
    const region = bytes >= HUGE_PAGE && bytes <= MAX_HUGE_CACHE ? hugeRegion(Math.ceil(bytes / HUGE_PAGE) * HUGE_PAGE) : undefined;
    this.tables = region ? new Uint8Array(region, 0, bytes) : new Uint8Array(bytes);
    this.dataView = new DataView(this.tables.buffer);
    this.views = [];
    for (let i = 0; i < size; i++) this.views.push(this.tables.subarray(i * tableSize, (i + 1) * tableSize));
    this.policy = host.config?.cachePolicy ?? "lru";
    this.hot = new Uint8Array(this.policy === "2q" ? size : 0);
  }

  get name(): string {
    return this.id === 1 ? "L2" : "refcount";
  }

  table(i: number): Uint8Array {
    return this.views[i]!;
  }

  /** qcow2_cache_get / get_empty: returns the slot, pinned. */
  get(offset: number, readFromDisk: boolean): number {
    const ev = this.host.events;
    const node = this.host.node;
    const rd = readFromDisk ? 1 : 0;
    if (Math.floor(offset / this.tableSize) * this.tableSize !== offset) throw this.unaligned(offset, rd);
    // Consecutive gets are mostly for the same table (lookup, allocation and linking of one request).
    const hit = this.offsets[this.lastHit] === offset ? this.lastHit : this.where.get(offset / this.tableSize);
    if (hit !== undefined) {
      // Same answer as QEMU's circular scan: a table is cached in at most one slot. The sink records the
      // get and get_done of a hit in one go when nothing can come between them.
      const both = ev.cacheHit(node, this.id, hit, offset, rd);
      if (!both) ev.emit(EventKind.CacheGet, node, this.id, -1, offset, rd, 0);
      this.hits++;
      this.refs[hit]!++;
      this.lastHit = hit;
      if (!both) ev.emit(EventKind.CacheGetDone, node, this.id, hit, offset, 0, 0);
      return hit;
    }
    return this.miss(offset, readFromDisk);
  }

  private unaligned(offset: number, rd: number): Error {
    this.host.events.emit(EventKind.CacheGet, this.host.node, this.id, -1, offset, rd, 0);
    return new Error(`cannot get entry from ${this.name} cache: offset 0x${offset.toString(16)} is unaligned`);
  }

  /** get() of a table not cached: a victim is written back if dirty, and the table read into its slot. */
  private miss(offset: number, readFromDisk: boolean): number {
    const ev = this.host.events;
    const node = this.host.node;
    const rd = readFromDisk ? 1 : 0;
    ev.emit(EventKind.CacheGet, node, this.id, -1, offset, rd, 0);
    const n = this.size;
    const victim = this.victim(((offset / this.tableSize) * 4) % n);
    if (victim < 0) throw new Error(`${this.name} cache: every entry is pinned`);
    this.misses++;
    const i = victim;
    const evicted = this.offsets[i]!;
    ev.emit(EventKind.CacheGetReplaceEntry, node, this.id, i, evicted, offset, 0);
    this.entryFlush(i);
    ev.emit(EventKind.CacheGetRead, node, this.id, i, offset, readFromDisk ? 1 : 0, 0);
    this.setOffset(i, 0);
    const t = this.table(i);
    if (readFromDisk) {
      this.host.file.read(t, offset);
      ev.emit(EventKind.MetadataRead, node, this.id, i, offset, this.tableSize, 0);
      this.host.ioYield?.();
    } else {
      t.fill(0);
    }
    this.setOffset(i, offset);
    if (this.policy !== "lru") this.loaded(i, evicted, offset);
    this.refs[i]!++;
    ev.emit(EventKind.CacheGetDone, node, this.id, i, offset, 1, 0);
    return i;
  }

  /**
   * The slot caching `offset` when no one holds it pinned, else -1: what the write fast path (fast-write.ts) asks
   * before it stands in for get()s that would all hit.
   */
  unpinnedSlot(offset: number): number {
    const i = this.offsets[this.lastHit] === offset ? this.lastHit : (this.where.get(offset / this.tableSize) ?? -1);
    return i >= 0 && this.refs[i] === 0 ? i : -1;
  }

  /**
   * What `n` get()-put() pairs of the cached, unpinned table in slot i, one after the other, leave behind (their
   * events aside, which the caller emits): the hits, the last hit, and the rank the last put() gives it.
   */
  repeatHit(i: number, n: number): void {
    this.hits += n;
    this.lastHit = i;
    if (this.policy === "lru" || (this.policy === "2q" && this.hot[i])) {
      this.lruCounter += n;
      this.setLru(i, this.lruCounter);
    }
  }

  put(i: number): void {
    if (--this.refs[i]! === 0 && (this.policy === "lru" || (this.policy === "2q" && this.hot[i]))) this.setLru(i, ++this.lruCounter);
  }

  /** FIFO and 2Q rank a table when it is loaded; 2Q also sorts it into A1in or Am, and remembers A1in's victims. */
  private loaded(i: number, evicted: number, offset: number): void {
    if (this.policy === "2q") {
      // Remembered in A1out: seen again, so it enters Am. The ghost is looked up before the victim joins A1out.
      const g = this.ghosts.indexOf(offset);
      if (g >= 0) this.ghosts.splice(g, 1);
      if (evicted && !this.hot[i]) {
        this.ghosts.push(evicted);
        if (this.ghosts.length > Math.max(1, Math.floor(this.size / 2))) this.ghosts.shift();
      }
      this.hot[i] = g >= 0 ? 1 : 0;
    }
    this.setLru(i, ++this.lruCounter);
  }

  /**
   * QEMU's victim: scanning circularly from `start`, the unpinned entry with the strictly smallest LRU counter.
   * Used entries have unique counters, so only never-used (counter 0) entries tie, and the first one met wins.
   * The same answer without the O(n) scan: counter-0 entries are searched from `start` only while some exist,
   * and the others sit in a list ordered by counter.
   */
  private victim(start: number): number {
    const n = this.size;
    if (this.zeroLru > 0) {
      let i = start;
      do {
        if (this.lru[i] === 0 && this.refs[i] === 0) return i;
        if (++i === n) i = 0;
      } while (i !== start);
    }
    if (this.policy === "2q") {
      // Evict from A1in while it holds more than a quarter of the cache, else from Am; the other if all pinned.
      let a1in = 0;
      for (let i = 0; i < n; i++) if (this.offsets[i] && !this.hot[i]) a1in++;
      const fromA1in = a1in > Math.max(1, Math.floor(n / 4));
      for (let i = this.head; i >= 0; i = this.next[i]!) if (this.refs[i] === 0 && (this.hot[i] === 0) === fromA1in) return i;
    }
    for (let i = this.head; i >= 0; i = this.next[i]!) if (this.refs[i] === 0) return i;
    return -1;
  }

  /** What a checkpoint must keep besides the ranks (2Q's queues); undefined for LRU and FIFO. */
  private policyState(): TwoQState | undefined {
    return this.policy === "2q" ? { hot: this.hot.slice(), ghosts: this.ghosts.slice() } : undefined;
  }

  private setLru(i: number, v: number): void {
    const old = this.lru[i]!;
    // Already last (the table released again, as each request's L2 and refcount tables are): it stays there.
    if (old !== 0 && v !== 0 && i === this.tail) {
      this.lru[i] = v;
      return;
    }
    if (old === 0) this.zeroLru--;
    else this.unlink(i);
    this.lru[i] = v;
    if (v === 0) this.zeroLru++;
    else {
      // Counters only grow, so a new value always goes to the tail.
      this.prev[i] = this.tail;
      this.next[i] = -1;
      if (this.tail >= 0) this.next[this.tail] = i;
      else this.head = i;
      this.tail = i;
    }
  }

  private unlink(i: number): void {
    const p = this.prev[i]!, nx = this.next[i]!;
    if (p >= 0) this.next[p] = nx;
    else this.head = nx;
    if (nx >= 0) this.prev[nx] = p;
    else this.tail = p;
  }

  /** Rebuilds the LRU list from the counters (after restore or empty). */
  private rebuildLru(): void {
    this.head = this.tail = -1;
    this.zeroLru = 0;
    const order: number[] = [];
    for (let i = 0; i < this.size; i++) {
      if (this.lru[i] === 0) this.zeroLru++;
      else order.push(i);
    }
    order.sort((a, b) => this.lru[a]! - this.lru[b]!);
    for (const i of order) {
      this.prev[i] = this.tail;
      this.next[i] = -1;
      if (this.tail >= 0) this.next[this.tail] = i;
      else this.head = i;
      this.tail = i;
    }
  }

  markDirty(i: number): void {
    if (!this.dirty[i]) this.dirtySlots++;
    this.dirty[i] = 1;
  }

  /** qcow2_cache_is_table_offset: the slot caching `offset`, or -1. */
  lookup(offset: number): number {
    return offset === 0 ? -1 : (this.where.get(offset / this.tableSize) ?? -1);
  }

  private setOffset(i: number, offset: number): void {
    const old = this.offsets[i]!;
    if (old) this.where.delete(old / this.tableSize);
    this.offsets[i] = offset;
    if (offset) this.where.set(offset / this.tableSize, i);
  }

  /** qcow2_cache_discard: drop a table (its cluster was freed). */
  discard(i: number): void {
    this.setOffset(i, 0);
    this.setLru(i, 0);
    if (this.dirty[i]) this.dirtySlots--;
    this.dirty[i] = 0;
    if (this.policy === "2q") this.hot[i] = 0;
  }

  entryFlush(i: number): void {
    if (!this.dirty[i] || !this.offsets[i]) return;
    const ev = this.host.events;
    ev.emit(EventKind.CacheEntryFlush, this.host.node, this.id, i, this.offsets[i]!, 0, 0);
    if (this.depends) {
      this.flushDependency();
    } else if (this.dependsOnFlush) {
      this.host.flushFile();
      this.dependsOnFlush = false;
    }
    this.host.checkOverlap?.(this, this.offsets[i]!, this.tableSize);
    this.host.file.write(this.table(i), this.offsets[i]!);
    this.writebacks++;
    ev.emit(EventKind.MetadataWrite, this.host.node, this.id, i, this.offsets[i]!, this.tableSize, 0);
    this.host.ioYield?.();
    this.dirty[i] = 0;
    this.dirtySlots--;
  }

  /** qcow2_cache_write: write back every dirty entry in index order. */
  write(): void {
    this.host.events.emit(EventKind.CacheFlush, this.host.node, this.id, -1, 0, 0, 0);
    // QEMU looks at every slot; the slots past the last dirty one write nothing, so the loop stops there.
    for (let i = 0; i < this.size && this.dirtySlots > 0; i++) this.entryFlush(i);
  }

  /** qcow2_cache_flush: write back, then sync the file. */
  flush(): void {
    this.write();
    this.host.flushFile();
  }

  flushDependency(): void {
    this.depends!.flush();
    this.depends = null;
    this.dependsOnFlush = false;
  }

  setDependency(dep: MetadataCache): void {
    if (dep.depends) dep.flushDependency();
    if (this.depends && this.depends !== dep) this.flushDependency();
    this.depends = dep;
  }

  setDependsOnFlush(): void {
    this.dependsOnFlush = true;
  }

  /** qcow2_cache_empty: flush, then forget everything. */
  empty(): void {
    this.flush();
    this.offsets.fill(0);
    this.where.clear();
    this.lru.fill(0);
    this.lruCounter = 0;
    this.rebuildLru();
    this.hot.fill(0);
    this.ghosts = [];
  }

  dirtyCount(): number {
    return this.dirtySlots;
  }

  /**
   * The cache's whole state, with the tables kept as `keepTables` returns them (a copy, a checkpoint codec's
   * blob, or null for a view of the bookkeeping). The one capture of a cache: restore() takes back what it gives.
   */
  capture<T>(keepTables: (tables: Uint8Array) => T): CacheState<T> {
    return {
      offsets: this.offsets.slice(),
      lru: this.lru.slice(),
      refs: this.refs.slice(),
      dirty: this.dirty.slice(),
      tables: keepTables(this.tables),
      lruCounter: this.lruCounter,
      dependsOnFlush: this.dependsOnFlush,
      hasDepends: this.depends !== null,
      hits: this.hits,
      misses: this.misses,
      writebacks: this.writebacks,
      policy: this.policyState(),
    };
  }

  /** The bookkeeping without the tables (panes, the timeline's per-event views). */
  view(): CacheView {
    return this.capture(() => null);
  }

  /** Restores what capture() gave, with the tables as bytes (time travel). */
  restore(s: CacheState<Uint8Array>, other: MetadataCache): void {
    this.offsets.set(s.offsets);
    this.where.clear();
    for (let i = 0; i < this.size; i++) if (this.offsets[i]) this.where.set(this.offsets[i]! / this.tableSize, i);
    this.lru.set(s.lru);
    this.refs.set(s.refs);
    this.dirty.set(s.dirty);
    this.dirtySlots = 0;
    for (let i = 0; i < this.size; i++) this.dirtySlots += this.dirty[i]!;
    this.tables.set(s.tables);
    this.lruCounter = s.lruCounter;
    this.rebuildLru();
    this.hot.fill(0);
    if (s.policy) this.hot.set(s.policy.hot);
    this.ghosts = s.policy ? s.policy.ghosts.slice() : [];
    this.dependsOnFlush = s.dependsOnFlush;
    this.depends = s.hasDepends ? other : null;
    this.hits = s.hits;
    this.misses = s.misses;
    this.writebacks = s.writebacks;
  }
}
