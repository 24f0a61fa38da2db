// Where each setting of a replay comes from, for report headers: the user's option, QEMU 7.2's default for this
// image (with the rule that gave it), or the image header. A cache size nobody chose reads differently from one
// the user set too small.
import { QEMU_DEFAULTS, type EngineConfig } from "../image/engine-config.js";
import { formatBytes } from "./human-units.js";
import type { ReplaySummary } from "./replay-stats.js";

export interface SettingSource {
  setting: string;
  value: string;
  source: string;
}

const YOURS = "your option";

export function settingSources(c: EngineConfig, s: ReplaySummary): SettingSource[] {
  const im = s.image;
  const l2Given = c.l2CacheSize !== undefined || c.cacheSize !== undefined;
  const wholeImage = Math.ceil((Math.ceil(im.virtualSize / im.clusterSize) * (im.extendedL2 ? 16 : 8)) / im.clusterSize) * im.clusterSize;
  return [
    {
      setting: "l2-cache-size",
      value: formatBytes(im.l2CacheBytes),
      source: l2Given
        ? c.l2CacheSize !== undefined
          ? `${YOURS}${c.l2CacheSize > im.l2CacheBytes ? ` (${formatBytes(c.l2CacheSize)}, capped: ${formatBytes(im.l2CacheBytes)} maps the whole image)` : ""}`
          : "from your cache-size"
        : `QEMU 7.2 default for this image: min(32 MiB, ${formatBytes(wholeImage)} to map all of it)`,
    },
    {
      setting: "l2-cache-entry-size",
      value: formatBytes(im.l2EntrySize),
      source: c.l2CacheEntrySize !== undefined ? YOURS : im.l2EntrySize < im.clusterSize ? "QEMU 7.2 default: 4 KiB slices when the cache cannot map the whole image" : "QEMU 7.2 default: the cluster size",
    },
    {
      setting: "refcount-cache-size",
      value: `${im.refcountCacheEntries} x ${formatBytes(im.clusterSize)}`,
      source: c.refcountCacheSize !== undefined ? YOURS : c.cacheSize !== undefined ? "from your cache-size" : "QEMU 7.2 default: 4 clusters",
    },
    { setting: "cache", value: im.cacheMode, source: c.cacheMode !== QEMU_DEFAULTS.cacheMode ? YOURS : "QEMU 7.2 default for -drive (qemu-io's own default is writethrough)" },
    { setting: "lazy-refcounts", value: im.lazyRefcounts ? "on" : "off", source: c.lazyRefcounts !== undefined ? YOURS : "the image header" },
    {
      setting: "cache-policy",
      value: c.cachePolicy,
      source: c.cachePolicy !== QEMU_DEFAULTS.cachePolicy ? `${YOURS}, a what-if (QEMU 7.2 replaces the least recently released table)` : "QEMU 7.2's: least recently released table",
    },
  ];
}

export function formatSettingSources(list: SettingSource[]): string[] {
  const w = Math.max(...list.map((x) => x.setting.length));
  const v = Math.max(...list.map((x) => x.value.length));
  return list.map((x) => `  ${x.setting.padEnd(w)}  ${x.value.padEnd(v)}  ${x.source}`);
}
