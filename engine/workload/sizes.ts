// Byte sizes as qemu-io and qemu-img write them (qemu_strtosz): "512", "4k", "1.5M", "0x1000"; suffixes are
// binary (k = 1024) and case-insensitive; a fraction needs a suffix, as in QEMU.

const UNITS: Record<string, number> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60 };

/** The size in bytes, or null when `s` is not a size. Results above 2^53 are refused (null). */
export function parseSize(s: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(s)) {
    const v = parseInt(s.slice(2), 16);
    return Number.isSafeInteger(v) ? v : null;
  }
  const m = /^(\d+)(?:\.(\d+))?([bkmgtpe])?$/i.exec(s);
  if (!m) return null;
  const unit = m[3] ? UNITS[m[3].toLowerCase()]! : 1;
  if (m[2] !== undefined && !m[3]) return null;
  const v = m[2] !== undefined ? Math.floor(Number(`${m[1]}.${m[2]}`) * unit) : Number(m[1]) * unit;
  return Number.isSafeInteger(v) ? v : null;
}
