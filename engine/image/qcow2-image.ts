// The qcow2 image: its header, L1 and refcount tables in memory (as QEMU keeps them), its two metadata caches,
// its data file and backing node. Opening reads only the header, extensions, L1 and refcount table: cost grows
// with what is asked, not with the image size. Reads, writes and block status live in sibling modules.
import type { ClusterIndex } from "./overlap-check.js";
import * as path from "node:path";
import { u32 } from "../format/bytes.js";
import type { Extensions } from "../format/extensions.js";
import { UnsupportedError } from "../format/format-error.js";
import { hasIncompat, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, type HeaderGeometry, type Qcow2Header, QCOW2_MAGIC } from "../format/header.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import { EventRecorder, type EventSink } from "../events/recorder.js";
import { FileStorage } from "../storage/file-storage.js";
import { ShadowStorage } from "../storage/shadow-storage.js";
import type { Storage } from "../storage/storage.js";
import { BackingGate } from "./backing-gate.js";
import { RawNode, type BlockNode, type BlockStatus } from "./block-node.js";
import { backingNodeConfig, cacheSizes, defaultConfig, usesODirect, type EngineConfig } from "./engine-config.js";
import { MetadataCache, type CacheHost } from "./metadata-cache.js";
import { ImageRuntime } from "./image-runtime.js";
import { qcow2BlockStatus } from "./block-status.js";
import { qcow2Read } from "./read-path.js";
import type { Snapshot } from "../format/snapshot-table.js";
import { qcow2Write } from "./write-path.js";
import { qcow2WriteCompressed } from "./compressed-write.js";
import type { CoroutineModel } from "./coroutine-model.js";
import type { Lookup } from "./cluster-lookup.js";
import { qcow2Discard, qcow2WriteZeroes } from "./zero-discard.js";
import { closeWritable, guestFlush } from "./flush.js";
import { GuestIoError } from "./guest-io-error.js";
import { vmStateOffset } from "./l1-table-resize.js";
import { repairDirtyImage } from "../check/open-repair.js";
import { checkHeadTables, dataFileOf, decodeHead, readFirstCluster } from "./image-head.js";
import { allocateCache } from "./cache-alloc.js";
import { CorruptionSignal, OL_ACTIVE_L2, OL_REFCOUNT_BLOCK, preWriteOverlapCheck } from "./overlap-check.js";

export interface OpenOptions {
  config?: Partial<EngineConfig>;
  /** Write in place (the user said --write). Otherwise writes go to a shadow layer. */
  write?: boolean;
  /** Allow writes at all (false: a pure inspection, any write is an error). */
  writable?: boolean;
  events?: EventSink;
  /** Override the backing chain (tests); undefined = follow the header. */
  noBacking?: boolean;
  /** Open even if the image is marked corrupt (read-only inspection, like qemu-img info/check). */
  allowCorrupt?: boolean;
  gate?: BackingGate;
  depth?: number;
  /** Storage factory (tests, shadow). */
  storage?: Storage;
  /** Where QEMU's stderr reports go: corruption ("qcow2: Marking image as corrupt: ...") and failed frees. */
  onCorruption?: (message: string) => void;
  /** The backing node's format, over the image's backing format extension (qemu-io `open -o backing.driver=`). */
  backingFormat?: "qcow2" | "raw";
}

export class Qcow2Image implements BlockNode, CacheHost {
  readonly format = "qcow2";
  /** Everything requests change, in one object that checkpoints capture whole (image-runtime.ts). */
  readonly rt: ImageRuntime;
  geo: HeaderGeometry;
  ext: Extensions;
  backingName: string | null = null;
  snapshots: Snapshot[] = [];
  /** The image was dirty and this open repaired it first (qcow2_do_open's check with fix=all). */
  repairedAtOpen = false;
  /** The image carries consistent persistent dirty bitmaps (which the engine does not update). */
  persistentBitmaps = false;
  backing: BlockNode | null = null;
  dataFile: Storage;
  hasDataFile = false;
  dataFileRaw = false;
  config: EngineConfig;
  events: EventSink;
  node: number;
  /** Bytes in an L2 slice and entries per slice. */
  sliceSize: number;
  sliceEntries: number;
  subclusterBits: number;
  subclusterSize: number;
  /** Scratch reused by getHostOffset (see cluster-lookup.ts); meaningless between calls. */
  readonly lookupResult: Lookup = { type: 0, host: 0, entryHi: 0, entryLo: 0, bytes: 0, l2Offset: 0, l2Index: 0 };
  /** The overlap check's index of the clusters holding L2 tables and refcount blocks (overlap-check.ts). */
  overlapIndex: ClusterIndex | null = null;
  readonly onCorruption: (message: string) => void;
  private closed = false;

  private constructor(
    readonly filename: string,
    readonly file: Storage,
    first: Uint8Array,
    opts: OpenOptions,
  ) {
    this.config = defaultConfig(opts.config);
    this.events = opts.events ?? new EventRecorder();
    this.node = opts.depth ?? 0;
    this.onCorruption = opts.onCorruption ?? (() => {});
    const head = decodeHead(first, filename, this.config.lazyRefcounts);
    const h = head.header;
    this.geo = head.geo;
    const cs = this.geo.clusterSize;
    this.ext = head.ext;
    this.backingName = head.backingName;
    const lazyRefcounts = head.lazyRefcounts;

    // L1 table: bounded by the header check (32 MiB); bytes past EOF read as zero, as QEMU's file layer does.
    const l1 = new Uint8Array(h.l1Size * 8);
    if (h.l1Size > 0) file.read(l1, h.l1TableOffset);
    const reftable = new Uint8Array(h.refcountTableClusters * cs);
    file.read(reftable, h.refcountTableOffset);

    const sizes = cacheSizes(h.size, cs, this.geo.l2EntryBytes, this.config);
    this.sliceSize = sizes.l2EntrySize;
    this.sliceEntries = sizes.l2EntrySize / this.geo.l2EntryBytes;
    this.subclusterBits = this.geo.extendedL2 ? h.clusterBits - 5 : h.clusterBits;
    this.subclusterSize = 2 ** this.subclusterBits;
    const l2Cache = allocateCache(this, 1, sizes.l2Entries, sizes.l2EntrySize);
    const refcountCache = allocateCache(this, 0, sizes.refcountEntries, cs);
    const rt = (this.rt = new ImageRuntime(h, l1, reftable, l2Cache, refcountCache, lazyRefcounts, hasIncompat(h, INCOMPAT_DIRTY), hasIncompat(h, INCOMPAT_CORRUPT), this.config));

    this.dataFile = file;
    // A node starts with flushed_gen == write_gen: only writes through this node make a flush sync.
    rt.fileSyncedGen = rt.dataSyncedGen = file.writeGen ?? -1;
    const data = dataFileOf(head, filename);
    this.hasDataFile = data.hasDataFile;
    this.dataFileRaw = data.dataFileRaw;
  }

  static open(filename: string, opts: OpenOptions = {}): Qcow2Image {
    const base = opts.storage ?? new FileStorage(filename, Boolean(opts.write));
    let file: Storage = base;
    if (!opts.storage && !opts.write && opts.writable) file = new ShadowStorage(base);
    try {
      return Qcow2Image.openOn(filename, file, opts);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  private static openOn(filename: string, file: Storage, opts: OpenOptions): Qcow2Image {
    const first = readFirstCluster(file);
    const img = new Qcow2Image(filename, file, first, opts);
    // What QEMU validates at open after the tables: the snapshot table, the bitmaps and crypto extensions.
    const tables = checkHeadTables(img, file, filename);
    img.snapshots = tables.snapshots;
    img.persistentBitmaps = tables.persistentBitmaps;
    // QEMU marks persistent dirty bitmaps in use and records every write in them; the engine does not model
    // bitmaps, so writing such a file for real would leave them stale (an incremental backup would miss data).
    if (img.persistentBitmaps && opts.write)
      throw new UnsupportedError(filename, "image has persistent dirty bitmaps, which qcowdbg does not update; refusing to write it in place (replays on the default shadow layer are fine)");
    if (img.corrupt && opts.writable && !opts.allowCorrupt)
      throw new UnsupportedError(filename, "qcow2: Image is corrupt; cannot be opened read/write");
    // A read-write open repairs a dirty image before anything else uses it (qcow2_do_open), then reads it afresh.
    if (img.rt.dirty && opts.writable) {
      repairDirtyImage(file, filename, img.onCorruption);
      const repaired = Qcow2Image.openOn(filename, file, opts);
      repaired.repairedAtOpen = true;
      return repaired;
    }
    const gate = opts.gate ?? new BackingGate(img.config.maxChainDepth);
    if (!opts.gate) gate.enter(filename);
    if (img.hasDataFile) {
      const name = img.ext.dataFile!;
      const resolved = path.isAbsolute(name) ? name : path.join(path.dirname(filename), name);
      const base = new FileStorage(resolved, Boolean(opts.write));
      img.dataFile = !opts.write && opts.writable ? new ShadowStorage(base) : base;
      img.rt.dataSyncedGen = img.dataFile.writeGen ?? -1;
    }
    // Under O_DIRECT (cache=none, directsync) the block layer pads writes to the file's request alignment.
    const writeAlign = (): number => (usesODirect(img.config.cacheMode) ? img.rt.directIoAlign : 1);
    img.file.writeAlign = writeAlign;
    if (img.dataFile !== img.file) img.dataFile.writeAlign = writeAlign;
    if (img.backingName !== null && !opts.noBacking) {
      const depth = (opts.depth ?? 0) + 1;
      const resolved = gate.resolve(filename, img.backingName, depth);
      img.backing = openNode(resolved, opts.backingFormat ?? img.ext.backingFormat, { ...opts, backingFormat: undefined, write: false, writable: false, gate, depth, storage: undefined, events: img.events, config: opts.config && backingNodeConfig(opts.config) });
    }
    return img;
  }

  /** Read access to the runtime state most callers look at (writes go through `rt`). */
  get header(): Qcow2Header {
    return this.rt.header;
  }
  get l1(): Uint8Array {
    return this.rt.l1;
  }
  get reftable(): Uint8Array {
    return this.rt.reftable;
  }
  /** Entries in the refcount table: the array holds the table's clusters whole (refcount_table_clusters). */
  get reftableSize(): number {
    return this.rt.reftable.length / 8;
  }
  get l2Cache(): MetadataCache {
    return this.rt.l2Cache;
  }
  get refcountCache(): MetadataCache {
    return this.rt.refcountCache;
  }
  get lazyRefcounts(): boolean {
    return this.rt.lazyRefcounts;
  }
  get dirty(): boolean {
    return this.rt.dirty;
  }
  get corrupt(): boolean {
    return this.rt.corrupt;
  }

  get virtualSize(): number {
    return this.header.size;
  }
  get clusterSize(): number {
    return this.geo.clusterSize;
  }
  get clusterBits(): number {
    return this.header.clusterBits;
  }

  /** L1 entry as [hi, lo]. */
  l1Entry(i: number): [number, number] {
    return [u32(this.l1, i * 8), u32(this.l1, i * 8 + 4)];
  }
  /** The L1 entry's L2 offset and COPIED flag (hot paths: no [hi, lo] pair, no boxed word with bit 63 set). */
  l1Offset(i: number): number {
    const l1 = this.rt.l1;
    return (u32(l1, i * 8) & 0x00ffffff) * 0x100000000 + ((u32(l1, i * 8 + 4) & 0xfffffe00) >>> 0);
  }
  l1Copied(i: number): boolean {
    return (this.rt.l1[i * 8]! & 0x80) !== 0;
  }

  read(buf: Uint8Array, offset: number): void {
    if (this.rt.unusable) throw new GuestIoError("ENOMEDIUM", `${this.filename}: image was made unusable by a corruption`);
    qcow2Read(this, buf, offset);
  }

  /** True when writes are allowed (in place with --write, or into the shadow layer). */
  get writable(): boolean {
    return this.file.writable;
  }

  private checkWrite(offset: number, bytes: number): void {
    if (this.rt.unusable) throw new GuestIoError("ENOMEDIUM", `${this.filename}: image was made unusable by a corruption`);
    if (!this.writable || this.rt.readOnly) throw new UnsupportedError(this.filename, "image is open read-only");
    if (this.corrupt) throw new UnsupportedError(this.filename, "image is marked corrupt; refusing to write");
    if (this.header.cryptMethod !== 0) throw new UnsupportedError(this.filename, "writing encrypted images is not supported");
    if (offset < 0 || bytes < 0 || offset + bytes > this.virtualSize)
      throw new RangeError(`request [${offset}, ${offset + bytes}) is outside the image (virtual size ${this.virtualSize})`);
  }

  /** A guest write; in writethrough and directsync modes it is followed by a flush, as the block layer does. */
  write(data: Uint8Array, offset: number): void {
    this.checkWrite(offset, data.length);
    if (data.length) qcow2Write(this, data, offset);
    this.afterWrite();
  }

  /**
   * qcow2_save_vmstate (qemu-io `write -b`): the driver's own write at the VM state offset + pos, past the block
   * layer (no bounds but the L1 table's, which grows), then blk_save_vmstate's flush when the write cache is off.
   */
  saveVmState(data: Uint8Array, pos: number): void {
    this.checkWrite(0, 0);
    qcow2Write(this, data, vmStateOffset(this) + pos);
    this.afterWrite();
  }

  /** qcow2_load_vmstate (qemu-io `read -b`): the driver's read at the VM state offset + pos, not clamped to the virtual size. */
  loadVmState(buf: Uint8Array, pos: number): void {
    if (this.rt.unusable) throw new GuestIoError("ENOMEDIUM", `${this.filename}: image was made unusable by a corruption`);
    qcow2Read(this, buf, vmStateOffset(this) + pos, true);
  }

  /** A compressed write (qemu-io `write -c`, BDRV_REQ_WRITE_COMPRESSED). */
  writeCompressed(data: Uint8Array, offset: number): void {
    this.checkWrite(offset, data.length);
    // Writethrough is FUA emulation in QEMU's block layer, which the compressed write path does not do.
    if (data.length) qcow2WriteCompressed(this, data, offset);
  }

  /** noFallback is BDRV_REQ_NO_FALLBACK (qemu-io `write -z -n`): a piece the driver refuses fails with ENOTSUP. */
  writeZeroes(offset: number, bytes: number, unmap = false, noFallback = false): void {
    this.checkWrite(offset, bytes);
    // A guest zero write keeps BDRV_REQ_MAY_UNMAP even without BDRV_O_UNMAP: blk_co_pwrite_zeroes goes straight to
    // bdrv_co_pwritev_part, not through bdrv_co_pwrite_zeroes, which would drop it.
    if (bytes) qcow2WriteZeroes(this, offset, bytes, unmap, noFallback);
    this.afterWrite();
  }

  discard(offset: number, bytes: number): void {
    this.checkWrite(offset, bytes);
    // bdrv_co_pdiscard does nothing on a node opened without BDRV_O_UNMAP (qemu-io -d ignore, discard=ignore).
    if (bytes && this.config.discardUnmap) qcow2Discard(this, offset, bytes);
  }

  flush(): void {
    // bdrv_co_flush on a node without a driver succeeds without doing anything.
    if (!this.writable || this.rt.unusable || this.rt.readOnly) return;
    guestFlush(this);
  }

  private afterWrite(): void {
    if (this.config.cacheMode === "writethrough" || this.config.cacheMode === "directsync") guestFlush(this);
  }

  blockStatus(offset: number, bytes: number): BlockStatus {
    return qcow2BlockStatus(this, offset, bytes);
  }

  /**
   * Writes a chunk's task has issued and not yet seen complete (coroutine model). QEMU bumps a node's write
   * generation when a write completes: a flush while one is in flight does not count it.
   */
  private readonly inflight = new Map<Storage, number>();

  beginInflightWrite(file: Storage, generations: number): void {
    this.inflight.set(file, (this.inflight.get(file) ?? 0) + generations);
  }

  endInflightWrite(file: Storage, generations: number): void {
    this.inflight.set(file, (this.inflight.get(file) ?? 0) - generations);
  }

  /** bs->write_gen of a file node: its writes that have completed. */
  private writeGen(file: Storage): number {
    return file.writeGen === undefined ? -1 : file.writeGen - (this.inflight.get(file) ?? 0);
  }

  /** bdrv_flush(bs->file): a sync only when the file was written since its last one (never with cache=unsafe). */
  flushFile(): void {
    const rt = this.rt;
    if (this.dataFile === this.file && rt.dataWriteSkipped) rt.fileSyncedGen = -1;
    if (!this.syncFile(this.file, rt.fileSyncedGen, 0)) return;
    rt.fileSyncedGen = this.writeGen(this.file);
    if (this.dataFile === this.file) rt.dataWriteSkipped = false;
  }

  /** bdrv_flush(s->data_file) for an external data file (a guest flush reaches it before the image file). */
  flushDataFile(): void {
    if (this.dataFile === this.file) return;
    const rt = this.rt;
    if (rt.dataWriteSkipped) rt.dataSyncedGen = -1;
    if (!this.syncFile(this.dataFile, rt.dataSyncedGen, 1)) return;
    rt.dataSyncedGen = this.writeGen(this.dataFile);
    rt.dataWriteSkipped = false;
  }

  /**
   * bdrv_co_flush on a file node: BDRV_O_NO_FLUSH (cache=unsafe) skips it, and so does an unchanged write
   * generation (block/io.c flushed_gen == write_gen): QEMU then issues no fdatasync and does not yield.
   */
  private syncFile(file: Storage, syncedGen: number, which: number): boolean {
    if (this.config.cacheMode === "unsafe" || this.config.noFlush) return false;
    if (file.writeGen !== undefined && this.writeGen(file) === syncedGen) return false;
    this.events.emit(EventKind.FlushToDisk, this.node, CACHE_NONE, -1, which, 0, 0);
    file.flush();
    this.ioYield();
    return true;
  }

  /** Set while a multi-chunk write runs its chunks as modelled coroutines (never at a checkpoint: between requests). */
  co: CoroutineModel | null = null;

  ioYield(): void {
    if (this.co) this.co.mainIo();
  }

  /** CacheHost: a table write-back is held against the other metadata (qcow2_cache_entry_flush). */
  checkOverlap(cache: MetadataCache, offset: number, size: number): void {
    preWriteOverlapCheck(this, cache.id === 1 ? OL_ACTIVE_L2 : OL_REFCOUNT_BLOCK, offset, size, false);
  }

  /** Closes as QEMU does: a writable image is flushed and its dirty bit cleared first. */
  close(beforeInactivate?: () => void): void {
    if (this.closed) return;
    try {
      if (this.writable && !this.rt.readOnly && !this.corrupt) closeWritable(this, beforeInactivate);
      // Marked corrupt here: the qcow2 node has no driver left, but closing its file node flushes what the
      // corruption report wrote (a sync, unless nothing was written since the last one or cache=unsafe).
      else if (this.writable && this.corrupt) this.flushFile();
      // A read-only qcow2 node (a backing file, or an image opened without --write) runs qcow2_inactivate too:
      // both caches are written back (nothing is dirty) and QEMU's trace shows each; its file flush is a no-op.
      else if (!this.corrupt) {
        this.l2Cache.write();
        this.refcountCache.write();
      }
    } catch (e) {
      // A write-back the overlap check refused: the image is now marked corrupt, and closing goes on as QEMU's.
      if (!(e instanceof CorruptionSignal)) throw e;
    }
    this.closed = true;
    this.file.close();
    if (this.dataFile !== this.file) this.dataFile.close();
    this.backing?.close();
  }
}

/** Opens a backing node: qcow2 when the format says so or the magic matches, raw otherwise. */
export function openNode(filename: string, format: string | undefined, opts: OpenOptions): BlockNode {
  const file = new FileStorage(filename, false);
  const magic = new Uint8Array(4);
  file.read(magic, 0);
  const isQcow2 = u32(magic, 0) === QCOW2_MAGIC;
  const fmt = format ?? (isQcow2 ? "qcow2" : "raw");
  if (fmt === "raw") return new RawNode(filename, file);
  if (fmt !== "qcow2") {
    file.close();
    throw new UnsupportedError(filename, `backing format '${fmt}' is not supported (qcow2 and raw are)`);
  }
  try {
    return Qcow2Image.open(filename, { ...opts, storage: file });
  } catch (e) {
    file.close();
    throw e;
  }
}
