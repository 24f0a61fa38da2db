// Capture and restore of everything a Qcow2Image changes while it runs, for time travel: its ImageRuntime whole
// (walked by its keys: header, tables, caches, cursors, flags, ...), the shadow layers it writes to, and the same
// for every qcow2 node of its backing chain (their caches move on reads).
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

/** A runtime field as a checkpoint keeps it: a cache as its state, a byte array by the codec, the rest copied. */
type Kept<V, B> = V extends MetadataCache ? CacheState<B> : V extends Uint8Array ? B : V;
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

/** One runtime value as kept: walked by kind, so a field added to ImageRuntime is captured without a new line here. */
function keep<B>(v: unknown, codec: BlobCodec<B>, key: string): unknown {
  if (v instanceof MetadataCache) return v.capture((tables) => codec.store(key, tables));
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
  const caches = [img.rt.l2Cache, img.rt.refcountCache];
  for (const [k, live] of Object.entries(rt)) {
    const v = saved[k];
    const key = prefix + k;
    if (live instanceof MetadataCache) {
      const c = v as CacheState<B>;
      // A cache's dependency is always the image's other cache.
      live.restore({ ...c, tables: codec.load(key, c.tables) }, caches.find((o) => o !== live) ?? live);
    } else if (live instanceof Uint8Array) rt[k] = restoreBytes(live, codec.load(key, v as B));
    else if (Array.isArray(v)) rt[k] = v.slice();
    // Plain objects are filled in place (the header object is held by reference elsewhere).
    else if (typeof v === "object" && v !== null && typeof live === "object" && live !== null) Object.assign(live, v);
    else if (typeof v === "object" && v !== null) rt[k] = { ...v };
    else rt[k] = v;
  }
  metadataTablesChanged(img);
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

/** Bytes a state holds outside its blobs and shadow pages (for memory accounting). */
export function smallStateBytes<B>(s: ImageState<B>): number {
  const cache = (c: CacheState<B>) => c.offsets.byteLength + c.lru.byteLength + c.refs.byteLength + c.dirty.byteLength;
  return 512 + cache(s.rt.l2Cache) + cache(s.rt.refcountCache) + s.rt.pendingDiscards.length * 8 + (s.file?.pages.length ?? 0) * 12 + (s.backing ? smallStateBytes(s.backing) : 0);
}
