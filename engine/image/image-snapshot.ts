// Capture and restore of everything a Qcow2Image changes while it runs, for time travel: header fields, L1 and
// refcount tables, both metadata caches, allocator cursor, flags, discard queue, decompressed-cluster buffer, the
// shadow layers it writes to, and the same for every qcow2 node of its backing chain (their caches move on reads).
import type { Qcow2Header } from "../format/header.js";
import { ShadowStorage, type ShadowSnapshot } from "../storage/shadow-storage.js";
import type { Storage } from "../storage/storage.js";
import type { CacheState, MetadataCache } from "./metadata-cache.js";
import { Qcow2Image } from "./qcow2-image.js";
import { metadataTablesChanged } from "./overlap-check.js";

/**
 * How the big byte arrays (L1, refcount table, cache tables) are kept: copied, shared or delta-encoded. `key`
 * names the array's stream and is the same at every capture of the same image.
 */
export interface BlobCodec<B> {
  store(key: string, live: Uint8Array): B;
  /** The bytes of a stored blob. The caller copies them and never keeps or changes the array returned. */
  load(key: string, blob: B): Uint8Array;
}

/** Plain copies: what a one-off snapshot (and a test) wants. */
export const copyCodec: BlobCodec<Uint8Array> = {
  store: (_key, live) => live.slice(),
  load: (_key, blob) => blob,
};

export interface ImageState<B> {
  header: Qcow2Header;
  l1: B;
  reftable: B;
  reftableSize: number;
  l2: CacheState<B>;
  refcount: CacheState<B>;
  freeClusterIndex: number;
  /** qcow2_alloc_bytes' cursor for packing compressed clusters. */
  freeByteOffset: number;
  dirty: boolean;
  corrupt: boolean;
  lazyRefcounts: boolean;
  metadataPreallocationChecked: boolean;
  metadataPreallocation: boolean;
  pendingDiscards: number[];
  /** Files written since their last sync (their next flush reaches the disk); see Qcow2Image.flushFile. */
  unsynced: { file: boolean; dataFile: boolean; skipped: boolean };
  compressed: { offset: number; data: Uint8Array } | null;
  file: ShadowSnapshot | null;
  dataFile: ShadowSnapshot | null;
  /** The next qcow2 node of the backing chain (raw nodes hold no state). */
  backing: ImageState<B> | null;
}

function captureCache<B>(c: MetadataCache, codec: BlobCodec<B>, key: string): CacheState<B> {
  return c.capture((tables) => codec.store(key, tables));
}

function restoreCache<B>(c: MetadataCache, s: CacheState<B>, other: MetadataCache, codec: BlobCodec<B>, key: string): void {
  c.restore({ ...s, tables: codec.load(key, s.tables) }, other);
}

function snapStorage(s: Storage, name: string): ShadowSnapshot | null {
  if (s instanceof ShadowStorage) return s.snapshot();
  if (s.writable) throw new Error(`${name}: time travel needs writes to go to a shadow layer (the image is open for writing in place)`);
  return null;
}

export function captureImage<B>(img: Qcow2Image, codec: BlobCodec<B>, prefix = ""): ImageState<B> {
  const dataFile = img.dataFile !== img.file ? snapStorage(img.dataFile, img.filename) : null;
  return {
    header: { ...img.header },
    l1: codec.store(prefix + "l1", img.l1),
    reftable: codec.store(prefix + "reftable", img.reftable),
    reftableSize: img.reftableSize,
    l2: captureCache(img.l2Cache, codec, prefix + "l2"),
    refcount: captureCache(img.refcountCache, codec, prefix + "refcount"),
    freeClusterIndex: img.freeClusterIndex,
    freeByteOffset: img.freeByteOffset,
    dirty: img.dirty,
    corrupt: img.corrupt,
    lazyRefcounts: img.lazyRefcounts,
    metadataPreallocationChecked: img.metadataPreallocationChecked,
    metadataPreallocation: img.metadataPreallocation,
    pendingDiscards: img.pendingDiscards.slice(),
    unsynced: { file: img.file.writeGen !== img.fileSyncedGen, dataFile: img.dataFile.writeGen !== img.dataSyncedGen, skipped: img.dataWriteSkipped },
    // The buffer is never written after it is filled, so it is shared.
    compressed: img.compressedState,
    file: snapStorage(img.file, img.filename),
    dataFile,
    backing: img.backing instanceof Qcow2Image ? captureImage(img.backing, codec, prefix + "b.") : null,
  };
}

function restoreBytes(live: Uint8Array, stored: Uint8Array): Uint8Array {
  if (live.length !== stored.length) return stored.slice();
  live.set(stored);
  return live;
}

export function restoreImage<B>(img: Qcow2Image, s: ImageState<B>, codec: BlobCodec<B>, prefix = ""): void {
  Object.assign(img.header, s.header);
  img.l1 = restoreBytes(img.l1, codec.load(prefix + "l1", s.l1));
  img.reftable = restoreBytes(img.reftable, codec.load(prefix + "reftable", s.reftable));
  metadataTablesChanged(img);
  img.reftableSize = s.reftableSize;
  restoreCache(img.l2Cache, s.l2, img.refcountCache, codec, prefix + "l2");
  restoreCache(img.refcountCache, s.refcount, img.l2Cache, codec, prefix + "refcount");
  img.freeClusterIndex = s.freeClusterIndex;
  img.freeByteOffset = s.freeByteOffset;
  img.dirty = s.dirty;
  img.corrupt = s.corrupt;
  img.lazyRefcounts = s.lazyRefcounts;
  img.metadataPreallocationChecked = s.metadataPreallocationChecked;
  img.metadataPreallocation = s.metadataPreallocation;
  img.pendingDiscards = s.pendingDiscards.slice();
  img.compressedState = s.compressed;
  if (s.file) (img.file as ShadowStorage).restore(s.file);
  if (s.dataFile) (img.dataFile as ShadowStorage).restore(s.dataFile);
  // Write generations only grow (restoring storage writes too): keep "synced" as a relation to the current one.
  img.fileSyncedGen = s.unsynced.file ? -1 : (img.file.writeGen ?? -1);
  img.dataSyncedGen = s.unsynced.dataFile ? -1 : (img.dataFile.writeGen ?? -1);
  img.dataWriteSkipped = s.unsynced.skipped;
  if (s.backing && img.backing instanceof Qcow2Image) restoreImage(img.backing, s.backing, codec, prefix + "b.");
}

/** Lets go of the shadow pages a state holds (call once, when the state is dropped). */
export function releaseImage<B>(img: Qcow2Image, s: ImageState<B>): void {
  if (s.file) (img.file as ShadowStorage).release(s.file);
  if (s.dataFile) (img.dataFile as ShadowStorage).release(s.dataFile);
  if (s.backing && img.backing instanceof Qcow2Image) releaseImage(img.backing, s.backing);
}

/** Bytes a state holds outside its blobs and shadow pages (for memory accounting). */
export function smallStateBytes<B>(s: ImageState<B>): number {
  const cache = (c: CacheState<B>) => c.offsets.byteLength + c.lru.byteLength + c.refs.byteLength + c.dirty.byteLength;
  return 512 + cache(s.l2) + cache(s.refcount) + s.pendingDiscards.length * 8 + (s.file?.pages.length ?? 0) * 12 + (s.backing ? smallStateBytes(s.backing) : 0);
}
