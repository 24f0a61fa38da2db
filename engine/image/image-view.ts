// A read-only view of a Qcow2Image: exactly what the debugger's panes and `info` commands read, and nothing that
// runs the engine (no guest I/O, no cache get, no event). Cache lookups here peek: no LRU counter, hit count or
// "last hit" moves, so looking cannot change what the engine decides next. The one place that reads the image's
// fields for the inspector: when the image's layout changes, this file is the one to follow it.
import { u32 } from "../format/bytes.js";
import type { Extensions } from "../format/extensions.js";
import type { HeaderGeometry, Qcow2Header } from "../format/header.js";
import { EventRecorder } from "../events/recorder.js";
import type { EngineConfig } from "./engine-config.js";
import type { CacheView, MetadataCache } from "./metadata-cache.js";
import { Qcow2Image } from "./qcow2-image.js";
import { reftableEntry } from "./refcounts.js";

/** A file the view reads (the image file, shadow layer included): reading it changes nothing. */
export interface ReadOnlyFile {
  readonly name: string;
  size(): number;
  /** Fills buf from offset; bytes past the end read as zero. Returns how many bytes were inside the file. */
  read(buf: Uint8Array, offset: number): number;
}

/**
 * One metadata cache, looked at: the cache-state arrays (the cache's own: view() copies them to keep a state; the
 * view never writes them and neither may its users), counters, and peeks at its tables.
 */
export interface CacheReadView extends Pick<CacheView, "offsets" | "lru" | "refs" | "dirty"> {
  readonly name: string;
  readonly size: number;
  readonly tableSize: number;
  readonly lruCounter: number;
  readonly hits: number;
  readonly misses: number;
  readonly writebacks: number;
  /** The slot holding the table at `offset`, or -1: a peek (QEMU's lookup without the get). */
  peek(offset: number): number;
  /** Bytes [from, to) of slot `slot`'s table (a view into the cache: do not write). */
  bytes(slot: number, from: number, to: number): Uint8Array;
  /** A copy of the bookkeeping (the one cache-state type), to compare against later. */
  view(): CacheView;
}

export interface ImageView {
  readonly filename: string;
  readonly file: ReadOnlyFile;
  readonly header: Readonly<Qcow2Header>;
  readonly geo: Readonly<HeaderGeometry>;
  readonly ext: Readonly<Extensions>;
  readonly config: Readonly<EngineConfig>;
  readonly clusterSize: number;
  readonly clusterBits: number;
  /** Bytes in an L2 slice (the L2 cache's table size). */
  readonly sliceSize: number;
  readonly backingName: string | null;
  /** The image has a backing node (unallocated clusters read from it, not as zeroes). */
  readonly hasBacking: boolean;
  readonly hasDataFile: boolean;
  readonly dataFileRaw: boolean;
  readonly lazyRefcounts: boolean;
  readonly dirty: boolean;
  /** The L1 table and refcount table as the engine holds them (do not write). */
  readonly l1: Uint8Array;
  readonly reftable: Uint8Array;
  readonly reftableSize: number;
  readonly l2Cache: CacheReadView;
  readonly refcountCache: CacheReadView;
  /** The event log the image records into, when it keeps one. */
  readonly recorder: EventRecorder | null;
  /** L1 entry i as [hi, lo]. */
  l1Entry(i: number): [number, number];
  /** The refcount block offset of reftable entry i (0: none). */
  reftableEntry(i: number): number;
}

// The getters below repeat one shape on purpose (`duplicates` pairs them): one plain getter per field read, so the
// field paths of Qcow2Image and MetadataCache that the inspector depends on are all in this file.
class CachePeek implements CacheReadView {
  constructor(private readonly c: MetadataCache) {}
  get name(): string {
    return this.c.name;
  }
  get size(): number {
    return this.c.size;
  }
  get tableSize(): number {
    return this.c.tableSize;
  }
  get offsets(): Float64Array {
    return this.c.offsets;
  }
  get lru(): Float64Array {
    return this.c.lru;
  }
  get refs(): Int32Array {
    return this.c.refs;
  }
  get dirty(): Uint8Array {
    return this.c.dirty;
  }
  get lruCounter(): number {
    return this.c.lruCounter;
  }
  get hits(): number {
    return this.c.hits;
  }
  get misses(): number {
    return this.c.misses;
  }
  get writebacks(): number {
    return this.c.writebacks;
  }
  view(): CacheView {
    return this.c.view();
  }
  peek(offset: number): number {
    // MetadataCache.lookup reads its offset index only (get() is what counts hits and moves LRU counters).
    return this.c.lookup(offset);
  }
  bytes(slot: number, from: number, to: number): Uint8Array {
    const base = slot * this.c.tableSize;
    return this.c.tables.subarray(base + from, base + to);
  }
}

class LiveImageView implements ImageView {
  readonly l2Cache: CacheReadView;
  readonly refcountCache: CacheReadView;
  constructor(private readonly img: Qcow2Image) {
    this.l2Cache = new CachePeek(img.l2Cache);
    this.refcountCache = new CachePeek(img.refcountCache);
  }
  get filename(): string {
    return this.img.filename;
  }
  get file(): ReadOnlyFile {
    return this.img.file;
  }
  get header(): Readonly<Qcow2Header> {
    return this.img.header;
  }
  get geo(): Readonly<HeaderGeometry> {
    return this.img.geo;
  }
  get ext(): Readonly<Extensions> {
    return this.img.ext;
  }
  get config(): Readonly<EngineConfig> {
    return this.img.config;
  }
  get clusterSize(): number {
    return this.img.clusterSize;
  }
  get clusterBits(): number {
    return this.img.clusterBits;
  }
  get sliceSize(): number {
    return this.img.sliceSize;
  }
  get backingName(): string | null {
    return this.img.backingName;
  }
  get hasBacking(): boolean {
    return this.img.backing !== null;
  }
  get hasDataFile(): boolean {
    return this.img.hasDataFile;
  }
  get dataFileRaw(): boolean {
    return this.img.dataFileRaw;
  }
  get lazyRefcounts(): boolean {
    return this.img.lazyRefcounts;
  }
  get dirty(): boolean {
    return this.img.dirty;
  }
  get l1(): Uint8Array {
    return this.img.l1;
  }
  get reftable(): Uint8Array {
    return this.img.reftable;
  }
  get reftableSize(): number {
    return this.img.reftableSize;
  }
  get recorder(): EventRecorder | null {
    return this.img.events instanceof EventRecorder ? this.img.events : null;
  }
  l1Entry(i: number): [number, number] {
    return [u32(this.img.l1, i * 8), u32(this.img.l1, i * 8 + 4)];
  }
  reftableEntry(i: number): number {
    return reftableEntry(this.img, i);
  }
}

/** One view per image, so a view can key memos (the host map) as the image itself would. */
const views = new WeakMap<Qcow2Image, ImageView>();

/** The read-only view of `img` (the same object for the same image). */
export function imageView(img: Qcow2Image): ImageView {
  let v = views.get(img);
  if (!v) views.set(img, (v = new LiveImageView(img)));
  return v;
}

/** A view as it is, or the view of an image (for inspection code that callers hand either). */
export function asImageView(img: Qcow2Image | ImageView): ImageView {
  return img instanceof Qcow2Image ? imageView(img) : img;
}
