// Byte sizes and durations as the diagnosis prints them: binary units ("60 KiB", "12.5 MiB"), qemu option sizes
// ("12.5M", parseable back by parseSize), and microseconds scaled to µs / ms / s.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const s = u === 0 || Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, "");
  return `${n < 0 ? "-" : ""}${s} ${UNITS[u]}`;
}

/** A size for a qemu option: the largest suffix that keeps at most one decimal exact ("12.5M", "256K", "2G"). */
export function formatOptionSize(n: number): string {
  const suf = ["", "K", "M", "G", "T"];
  for (let u = suf.length - 1; u > 0; u--) {
    const v = n / 1024 ** u;
    if (v >= 1 && Math.round(v * 10) === v * 10) return `${Number.isInteger(v) ? v : v.toFixed(1)}${suf[u]}`;
  }
  return String(n);
}

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

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A cache's hit rate in words: one wording everywhere for a cache nobody looked anything up in. */
export const NO_LOOKUPS = "no lookups";
export function hitRate(hits: number, misses: number): string {
  return hits + misses > 0 ? `${((100 * hits) / (hits + misses)).toFixed(1)}%` : NO_LOOKUPS;
}
