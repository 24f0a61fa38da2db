// Durations and shares as the diagnosis prints them: microseconds scaled to µs / ms / s, percentages, hit rates.
// Byte sizes and hex come from engine/units/size-text.ts (re-exported here for the replay modules).

export { formatBytes, formatOptionSize, hex } from "../units/size-text.js";

export function formatUs(us: number): string {
  if (us === 0) return "0";
  if (us < 1000) return `${us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : us.toFixed(0)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(us < 1e7 ? 3 : 2)} s`;
}

export function percent(part: number, whole: number, digits = 1): string {
  if (whole === 0) return "-";
  return `${((100 * part) / whole).toFixed(digits)}%`;
}

/** A cache's hit rate in words: one wording everywhere for a cache nobody looked anything up in. */
export const NO_LOOKUPS = "no lookups";
export function hitRate(hits: number, misses: number): string {
  return hits + misses > 0 ? `${((100 * hits) / (hits + misses)).toFixed(1)}%` : NO_LOOKUPS;
}
