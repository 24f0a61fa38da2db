// Policy as data: every knob that changes the engine's decisions. The default value is QEMU 7.2's behaviour;
// what-if runs are other values. Parsed from qemu-style option strings ("l2-cache-size=4M,cache=writeback").

import { parseSize } from "../units/sizes.js";

export { parseSize };

/** The metadata caches' victim choice: "lru" is QEMU's; "fifo" and "2q" are what-ifs (metadata-cache.ts). */
export type CachePolicy = "lru" | "fifo" | "2q";
export const CACHE_POLICIES: readonly CachePolicy[] = ["lru", "fifo", "2q"];

export type CacheMode = "writeback" | "writethrough" | "none" | "directsync" | "unsafe";
export const CACHE_MODES: CacheMode[] = ["writeback", "writethrough", "none", "directsync", "unsafe"];

/** cache.direct: the modes that open the image file with O_DIRECT. */
export function usesODirect(mode: CacheMode): boolean {
  return mode === "none" || mode === "directsync";
}

export interface EngineConfig {
  /** Bytes; undefined = QEMU's default (min(32 MiB, whole image)). */
  l2CacheSize?: number;
  l2CacheEntrySize?: number;
  refcountCacheSize?: number;
  /** Combined cache-size option. */
  cacheSize?: number;
  cacheMode: CacheMode;
  /** cache.no-flush on top of writethrough or directsync (a reopen can ask for it): flushes never sync. */
  noFlush?: boolean;
  /** Override the image's lazy_refcounts bit (what-if); undefined = as the image says. */
  lazyRefcounts?: boolean;
  /** cache-policy=: which table a cache miss replaces. "lru" is QEMU's; "fifo" and "2q" are what-ifs. */
  cachePolicy: CachePolicy;
  /** Deepest backing chain the gate opens. */
  maxChainDepth: number;
  /** Data payloads are not kept: reads of never-written data return zeros (traces that carry no data). */
  metadataOnly: boolean;
  /** Guest discards (and zero writes with unmap) reach the file: qemu-io opens with discard=unmap. */
  discardUnmap: boolean;
  /**
   * Load L2 tables whole instead of QEMU's 4 KiB slices when the cache cannot cover the image. Only for
   * inspection commands (map, export), whose output does not depend on cache decisions.
   */
  wholeL2Tables?: boolean;
  /** Reproduce QEMU's first-block-status refcount scan (qcow2_detect_metadata_preallocation). */
  detectPreallocation: boolean;
  /** overlap-check=: which metadata a host write is held against before it happens (QEMU's default: cached). */
  overlapCheck?: "none" | "constant" | "cached" | "all";
  /** What-if: false drops the refcount-block write-back (and sync) QEMU orders before an L2 write-back that
   *  links newly allocated clusters (qcow2_cache_set_dependency in qcow2_alloc_cluster_link_l2). */
  refcountBeforeL2?: boolean;
  /** What-if: false drops the sync QEMU orders between COW data and the L2 update (depends_on_flush). */
  cowBeforeL2?: boolean;
}

export const QEMU_DEFAULTS: EngineConfig = {
  cacheMode: "writeback",
  cachePolicy: "lru",
  maxChainDepth: 64,
  metadataOnly: false,
  detectPreallocation: true,
  discardUnmap: true,
};

/**
 * The configuration a backing node opens with. QEMU hands a -drive's qcow2 options (cache sizes, lazy-refcounts,
 * overlap-check) to the top node only: a backing file opened from the header gets the driver's defaults, and
 * inherits only the cache mode (bdrv_backing_options). The engine's own settings (metadata-only, what-if cache
 * policy, chain depth, inspection modes) hold for every node.
 */
export function backingNodeConfig(c: Partial<EngineConfig>): Partial<EngineConfig> {
  const { l2CacheSize: _a, l2CacheEntrySize: _b, refcountCacheSize: _c, cacheSize: _d, lazyRefcounts: _e, overlapCheck: _f, ...engineWide } = c;
  return engineWide;
}

export function defaultConfig(over: Partial<EngineConfig> = {}): EngineConfig {
  return { ...QEMU_DEFAULTS, ...over };
}

/** Applies "key=value,key=value" (qemu -drive style names) on top of a config. */
export function parseConfigOptions(spec: string, base: EngineConfig = defaultConfig()): EngineConfig {
  const c = { ...base };
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const val = eq < 0 ? "on" : part.slice(eq + 1).trim();
    const bool = () => {
      if (/^(on|true|yes|1)$/i.test(val)) return true;
      if (/^(off|false|no|0)$/i.test(val)) return false;
      throw new Error(`option ${key}: '${val}' is not on/off`);
    };
    switch (key) {
      case "l2-cache-size":
        c.l2CacheSize = parseSize(val);
        break;
      case "l2-cache-entry-size":
        c.l2CacheEntrySize = parseSize(val);
        break;
      case "refcount-cache-size":
        c.refcountCacheSize = parseSize(val);
        break;
      case "cache-size":
        c.cacheSize = parseSize(val);
        break;
      case "cache":
      case "t":
        if (!CACHE_MODES.includes(val as CacheMode)) throw new Error(`unknown cache mode '${val}' (${CACHE_MODES.join(", ")})`);
        c.cacheMode = val as CacheMode;
        break;
      case "lazy-refcounts":
        c.lazyRefcounts = bool();
        break;
      case "metadata-only":
        c.metadataOnly = bool();
        break;
      case "discard":
        if (val !== "unmap" && val !== "ignore" && val !== "on" && val !== "off") throw new Error(`discard: '${val}' is not unmap/ignore`);
        c.discardUnmap = val === "unmap" || val === "on";
        break;
      case "overlap-check":
        if (val !== "none" && val !== "constant" && val !== "cached" && val !== "all") throw new Error(`overlap-check: '${val}' is not none, constant, cached or all`);
        c.overlapCheck = val;
        break;
      case "refcount-before-l2":
        c.refcountBeforeL2 = bool();
        break;
      case "cow-before-l2":
        c.cowBeforeL2 = bool();
        break;
      case "cache-policy":
        if (!CACHE_POLICIES.includes(val as CachePolicy)) throw new Error(`cache-policy: '${val}' is not ${CACHE_POLICIES.join(", ")}`);
        c.cachePolicy = val as CachePolicy;
        break;
      case "max-chain-depth":
        c.maxChainDepth = parseInt(val, 10);
        break;
      default:
        throw new Error(`unknown option '${key}' (l2-cache-size, l2-cache-entry-size, refcount-cache-size, cache-size, cache, lazy-refcounts, metadata-only, overlap-check, refcount-before-l2, cow-before-l2, cache-policy)`);
    }
  }
  return c;
}

export interface CacheSizes {
  l2Entries: number;
  l2EntrySize: number;
  refcountEntries: number;
}

/** QEMU's read_cache_sizes + qcow2_update_options_prepare. */
export function cacheSizes(virtualSize: number, clusterSize: number, l2EntryBytes: number, c: EngineConfig): CacheSizes {
  const minRefcountCache = 4 * clusterSize;
  const maxL2Entries = Math.ceil(virtualSize / clusterSize);
  const maxL2Cache = Math.ceil((maxL2Entries * l2EntryBytes) / clusterSize) * clusterSize;
  const l2Max = c.l2CacheSize ?? 32 * 1024 * 1024;
  let refcount = c.refcountCacheSize ?? 0;
  let entrySize = c.l2CacheEntrySize ?? clusterSize;
  let l2 = Math.min(maxL2Cache, l2Max);
  if (c.cacheSize !== undefined) {
    const combined = c.cacheSize;
    if (c.l2CacheSize !== undefined && c.refcountCacheSize !== undefined)
      throw new Error("cache-size, l2-cache-size and refcount-cache-size may not be set at the same time");
    if (c.l2CacheSize !== undefined && l2Max > combined) throw new Error("l2-cache-size may not exceed cache-size");
    if (refcount > combined) throw new Error("refcount-cache-size may not exceed cache-size");
    if (c.l2CacheSize !== undefined) refcount = combined - l2;
    else if (c.refcountCacheSize !== undefined) l2 = combined - refcount;
    else if (combined >= maxL2Cache + minRefcountCache) {
      l2 = maxL2Cache;
      refcount = combined - l2;
    } else {
      refcount = Math.min(combined, minRefcountCache);
      l2 = combined - refcount;
    }
  }
  if (l2 < maxL2Cache && c.l2CacheEntrySize === undefined && !c.wholeL2Tables) entrySize = Math.min(clusterSize, 4096);
  if (entrySize < 512 || entrySize > clusterSize || (entrySize & (entrySize - 1)) !== 0)
    throw new Error(`L2 cache entry size must be a power of two between 512 and the cluster size (${clusterSize})`);
  const l2Entries = Math.max(2, Math.floor(l2 / entrySize));
  const refcountEntries = Math.max(4, Math.floor(refcount / clusterSize));
  // QEMU counts cache entries in an int.
  if (l2Entries > INT_MAX) throw new Error("L2 cache size too big");
  if (refcountEntries > INT_MAX) throw new Error("Refcount cache size too big");
  return { l2Entries, l2EntrySize: entrySize, refcountEntries };
}

const INT_MAX = 0x7fffffff;
