// Creating a metadata cache of the configured size. A size this process cannot hold fails as QEMU's
// qcow2_cache_create() does when its allocation fails ("Could not allocate metadata caches"), not as an
// out-of-memory crash: a cache size is an option the user typed (refcount-cache-size=100G).
import { MetadataCache, type CacheHost } from "./metadata-cache.js";

export class CacheAllocError extends Error {
  constructor() {
    super("Could not allocate metadata caches");
    this.name = "CacheAllocError";
  }
}

/** A new cache, or CacheAllocError when its tables cannot be allocated. */
export function allocateCache(host: CacheHost, id: 0 | 1, entries: number, tableSize: number): MetadataCache {
  try {
    return new MetadataCache(host, id, entries, tableSize);
  } catch (e) {
    if (e instanceof RangeError) throw new CacheAllocError();
    throw e;
  }
}
