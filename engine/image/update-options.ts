// qcow2_update_options (prepare + commit) on an open image: the metadata caches are flushed and re-created for
// the image's current virtual size and the new options, lazy refcounts turned off mark the image clean first.
// A truncate runs it with the same options (the default L2 cache follows the virtual size); a reopen with new ones.
import { put32 } from "../format/bytes.js";
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT_DIRTY } from "../format/header.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import { cacheSizes, type CacheSizes, type EngineConfig } from "./engine-config.js";
import { flushCaches } from "./flush.js";
import type { MetadataCache } from "./metadata-cache.js";
import { allocateCache, CacheAllocError } from "./cache-alloc.js";
import type { Qcow2Image } from "./qcow2-image.js";

/** A refusal in QEMU's words (its errp text); the image keeps its old caches and options. */
export class OptionsError extends Error {}

/** Replaces a config object's fields in place: the image and its runtime share the object (image-snapshot.ts). */
export function assignConfig(live: EngineConfig, next: EngineConfig): void {
  const l = live as unknown as Record<string, unknown>;
  for (const k of Object.keys(l)) if (!(k in next)) delete l[k];
  Object.assign(live, next);
}

/**
 * Runs qcow2_update_options with `next` as the image's options. `lateError` is a refusal QEMU only reaches after
 * the caches were flushed (a bad overlap-check value): the flush happens, then the error.
 */
export function updateOptions(img: Qcow2Image, next: EngineConfig, lateError?: string): void {
  prepareOptions(img, next, lateError)();
}

/** qcow2_update_options_prepare: flushes and checks; the function returned is the commit. */
export function prepareOptions(img: Qcow2Image, next: EngineConfig, lateError?: string): () => void {
  let sizes: CacheSizes;
  try {
    sizes = cacheSizes(img.virtualSize, img.clusterSize, img.geo.l2EntryBytes, next);
  } catch (e) {
    throw new OptionsError(e instanceof Error ? e.message : String(e));
  }
  // "alloc new L2 table/refcount block cache, flush old one"
  img.l2Cache.flush();
  img.refcountCache.flush();
  let l2Cache: MetadataCache;
  let refcountCache: MetadataCache;
  try {
    l2Cache = allocateCache(img, 1, sizes.l2Entries, sizes.l2EntrySize);
    refcountCache = allocateCache(img, 0, sizes.refcountEntries, img.clusterSize);
  } catch (e) {
    throw e instanceof CacheAllocError ? new OptionsError(e.message) : e;
  }
  const lazy = next.lazyRefcounts ?? (img.header.compatibleFeatures & BigInt(COMPAT_LAZY_REFCOUNTS)) !== 0n;
  if (lazy && img.header.version < 3) throw new OptionsError("Lazy refcounts require a qcow2 image with at least qemu 1.1 compatibility level");
  if (img.lazyRefcounts && !lazy) markCleanRewritingHeader(img);
  if (lateError) throw new OptionsError(lateError);
  // Commit: the new caches replace the old ones (which are clean: nothing is lost).
  return () => {
    assignConfig(img.config, next);
    const rt = img.rt;
    rt.l2Cache = l2Cache;
    rt.refcountCache = refcountCache;
    img.sliceSize = sizes.l2EntrySize;
    img.sliceEntries = sizes.l2EntrySize / img.geo.l2EntryBytes;
    rt.lazyRefcounts = lazy;
  };
}

/**
 * qcow2_mark_clean outside close (a reopen turning lazy refcounts off or going read-only): the caches are flushed,
 * then qcow2_update_header rewrites the whole header cluster, without a sync of its own.
 */
export function markCleanRewritingHeader(img: Qcow2Image): void {
  if (!img.dirty) return;
  img.header.incompatibleFeatures &= ~BigInt(INCOMPAT_DIRTY);
  img.rt.dirty = false;
  flushCaches(img);
  const cluster = new Uint8Array(img.clusterSize);
  img.file.read(cluster, 0);
  const v = img.header.incompatibleFeatures;
  put32(cluster, 72, Number(v >> 32n));
  put32(cluster, 76, Number(v & 0xffffffffn));
  img.file.write(cluster, 0);
  img.ioYield();
  img.events.emit(EventKind.DirtyBit, img.node, CACHE_NONE, -1, 0, 0, 0);
}
