// Capture and restore of everything a Qcow2Image changes while it runs, for time travel: its ImageRuntime whole
// (walked by its keys: header, tables, caches and their geometry, options, cursors, flags, ...), the shadow layers
// it writes to, and the same for every qcow2 node of its backing chain (their caches move on reads).
import { ShadowStorage, type ShadowSnapshot } from "../storage/shadow-storage.js";
import type { Storage } from "../storage/storage.js";
import { MetadataCache, type CacheState } from "./metadata-cache.js";
import type { ImageRuntime } from "./image-runtime.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { isQcow2Node } from "./block-node.js";
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

/**
 * A cache as a checkpoint keeps it: its per-slot arrays (offsets, LRU ranks, pins, dirty flags) packed into one
 * byte array and kept by the codec like the tables, so a delta-encoding codec stores only the slots that changed
 * (copied whole, they were half of what each of a long timeline's checkpoints held).
 */
export type KeptCache<B> = Omit<CacheState<B>, "offsets" | "lru" | "refs" | "dirty"> & { size: number; slots: B };

/** A runtime field as a checkpoint keeps it: a cache as above, a byte array by the codec, the rest copied. */
type Kept<V, B> = V extends MetadataCache ? KeptCache<B> : V extends Uint8Array ? B : V;
export type RuntimeState<B> = { [K in keyof ImageRuntime]: Kept<ImageRuntime[K], B> };

export interface ImageState<B> {
  /** Every field of the image's ImageRuntime, by the same name. */
  rt: RuntimeState<B>;
  /** The files' write generations at capture: a sync generation equal to one means "synced" (see restore). */
  writeGens: { file: number; dataFile: number };
  file: ShadowSnapshot | null;
  dataFile: ShadowSnapshot | null;
  /** The next qcow2 node of the backing chain (raw nodes hold no state). */
  backing: ImageState<B> | null;
}

function snapStorage(s: Storage, name: string): ShadowSnapshot | null {
  if (s instanceof ShadowStorage) return s.snapshot();
  if (s.writable) throw new Error(`${name}: time travel needs writes to go to a shadow layer (the image is open for writing in place)`);
  return null;
}

const isPlainObject = (v: object) => Object.getPrototypeOf(v) === Object.prototype;

type SlotArrays = Pick<CacheState<unknown>, "offsets" | "lru" | "refs" | "dirty">;

/** offsets and lru (8 bytes a slot), refs (4), dirty (1), in one array of a multiple of 4 bytes. */
function packSlots(s: SlotArrays): Uint8Array {
  const n = s.offsets.length;
  const out = new Uint8Array(Math.ceil((21 * n) / 4) * 4);
  out.set(new Uint8Array(s.offsets.buffer, s.offsets.byteOffset, 8 * n), 0);
  out.set(new Uint8Array(s.lru.buffer, s.lru.byteOffset, 8 * n), 8 * n);
  out.set(new Uint8Array(s.refs.buffer, s.refs.byteOffset, 4 * n), 16 * n);
  out.set(s.dirty.subarray(0, n), 20 * n);
  return out;
}

function unpackSlots(b: Uint8Array, n: number): SlotArrays {
  const part = (from: number, bytes: number) => b.slice(from, from + bytes).buffer;
  return { offsets: new Float64Array(part(0, 8 * n)), lru: new Float64Array(part(8 * n, 8 * n)), refs: new Int32Array(part(16 * n, 4 * n)), dirty: b.slice(20 * n, 21 * n) };
}

/** One runtime value as kept: walked by kind, so a field added to ImageRuntime is captured without a new line here. */
function keep<B>(v: unknown, codec: BlobCodec<B>, key: string): unknown {
  if (v instanceof MetadataCache) {
    const { offsets, lru, refs, dirty, ...rest } = v.capture((tables) => codec.store(key, tables));
    return { ...rest, size: offsets.length, slots: codec.store(key + ".slots", packSlots({ offsets, lru, refs, dirty })) };
  }
  if (v instanceof Uint8Array) return codec.store(key, v);
  if (Array.isArray(v)) return v.slice();
  if (typeof v === "function") throw new Error(`ImageRuntime.${key}: a function is not state`);
  // A plain object (the header, the decompressed-cluster buffer): its fields, the buffers in it shared (never changed once filled).
  if (typeof v === "object" && v !== null) {
    if (!isPlainObject(v)) throw new Error(`ImageRuntime.${key}: no rule to capture a ${v.constructor.name}`);
    return { ...v };
  }
  return v;
}

const writeGen = (s: Storage) => s.writeGen ?? -1;

/** The image's state, and that of every qcow2 node below it; `prefix` names the node's blob streams. */
export function captureImage<B>(img: Qcow2Image, codec: BlobCodec<B>, prefix = ""): ImageState<B> {
  const rt: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(img.rt)) rt[k] = keep(v, codec, prefix + k);
  return {
    rt: rt as RuntimeState<B>,
    writeGens: { file: writeGen(img.file), dataFile: writeGen(img.dataFile) },
    file: snapStorage(img.file, img.filename),
    dataFile: img.dataFile !== img.file ? snapStorage(img.dataFile, img.filename) : null,
    backing: isQcow2Node(img.backing) ? captureImage(img.backing, codec, prefix + "b.") : null,
  };
}

function restoreBytes(live: Uint8Array, stored: Uint8Array): Uint8Array {
  if (live.length !== stored.length) return stored.slice();
  live.set(stored);
  return live;
}

export function restoreImage<B>(img: Qcow2Image, s: ImageState<B>, codec: BlobCodec<B>, prefix = ""): void {
  const rt = img.rt as unknown as Record<string, unknown>;
  const saved = s.rt as unknown as Record<string, unknown>;
  // A truncate or reopen since the capture re-created the caches: restore into caches of the captured geometry.
  for (const [k, live] of Object.entries(rt)) {
    if (!(live instanceof MetadataCache)) continue;
    const { size, tables } = saved[k] as KeptCache<B>;
    const tableSize = codec.load(prefix + k, tables).length / size;
    if (size !== live.size || tableSize !== live.tableSize) rt[k] = new MetadataCache(img, live.id, size, tableSize);
  }
  const caches = [img.rt.l2Cache, img.rt.refcountCache];
  for (const [k, live] of Object.entries(rt)) {
    const v = saved[k];
    const key = prefix + k;
    if (live instanceof MetadataCache) {
      const { size, slots, tables, ...rest } = v as KeptCache<B>;
      const arrays = unpackSlots(codec.load(key + ".slots", slots), size);
      // A cache's dependency is always the image's other cache.
      live.restore({ ...rest, ...arrays, tables: codec.load(key, tables) }, caches.find((o) => o !== live) ?? live);
    } else if (live instanceof Uint8Array) rt[k] = restoreBytes(live, codec.load(key, v as B));
    else if (Array.isArray(v)) rt[k] = v.slice();
    // Plain objects are filled in place (the header and the config are held by reference elsewhere); a key the
    // capture did not have (an option a later reopen set) goes.
    else if (typeof v === "object" && v !== null && typeof live === "object" && live !== null) {
      for (const key of Object.keys(live)) if (!(key in v)) delete (live as Record<string, unknown>)[key];
      Object.assign(live, v);
    }
    else if (typeof v === "object" && v !== null) rt[k] = { ...v };
    else rt[k] = v;
  }
  metadataTablesChanged(img);
  img.sliceSize = img.rt.l2Cache.tableSize;
  img.sliceEntries = img.sliceSize / img.geo.l2EntryBytes;
  if (s.file) (img.file as ShadowStorage).restore(s.file);
  if (s.dataFile) (img.dataFile as ShadowStorage).restore(s.dataFile);
  // Write generations only grow (restoring storage writes too): keep "synced" as a relation to the current one.
  img.rt.fileSyncedGen = s.rt.fileSyncedGen === s.writeGens.file ? writeGen(img.file) : -1;
  img.rt.dataSyncedGen = s.rt.dataSyncedGen === s.writeGens.dataFile ? writeGen(img.dataFile) : -1;
  if (s.backing && isQcow2Node(img.backing)) restoreImage(img.backing, s.backing, codec, prefix + "b.");
}

/** Lets go of the shadow pages a state holds (call once, when the state is dropped). */
export function releaseImage<B>(img: Qcow2Image, s: ImageState<B>): void {
  if (s.file) (img.file as ShadowStorage).release(s.file);
  if (s.dataFile) (img.dataFile as ShadowStorage).release(s.dataFile);
  if (s.backing && isQcow2Node(img.backing)) releaseImage(img.backing, s.backing);
}

/** Bytes a state holds outside its blobs and shadow pages (for memory accounting; the caches' slots are blobs). */
export function smallStateBytes<B>(s: ImageState<B>): number {
  return 512 + s.rt.pendingDiscards.length * 8 + (s.file?.pages.length ?? 0) * 12 + (s.backing ? smallStateBytes(s.backing) : 0);
}
