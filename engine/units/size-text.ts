// Every way qcowdbg writes a byte count, in one place: qemu-io's cvtstr/timestr ("1.500 KiB", "00.00 sec"),
// qemu-img's size_to_str ("1 GiB", "1.5 GiB"), qcowdbg's own human text ("12.5 MiB"), exact units for dumps
// ("64 KiB", "1536 B"), the TUI's short form ("64K") and qemu option sizes ("12.5M", which parseSize reads
// back). The QEMU ones are byte-exact: scripts diff them against the real tools.

/** printf("%.*f") as glibc rounds: exact binary value, ties to even (JS toFixed rounds ties up). */
export function fixed(v: number, digits: number): string {
  const s = v.toFixed(digits);
  const scaled = v * 10 ** digits;
  if (Number.isInteger(scaled * 2) && !Number.isInteger(scaled) && Math.abs(scaled) < 2 ** 52) {
    const down = Math.floor(scaled);
    const even = down % 2 === 0 ? down : down + 1;
    return (even / 10 ** digits).toFixed(digits);
  }
  return s;
}

/** printf("%.Pg"). */
export function formatG(v: number, precision: number): string {
  if (v === 0) return "0";
  const exp = Number(v.toExponential(precision - 1).split("e")[1]);
  if (exp < -4 || exp >= precision) {
    const [m, e] = v.toExponential(precision - 1).split("e") as [string, string];
    const mant = m.includes(".") ? m.replace(/\.?0+$/, "") : m;
    const n = Number(e);
    return `${mant}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
  }
  const s = v.toFixed(Math.max(0, precision - 1 - exp));
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

const CVT_UNITS: [number, string][] = [
  [2 ** 60, " EiB"],
  [2 ** 50, " PiB"],
  [2 ** 40, " TiB"],
  [2 ** 30, " GiB"],
  [2 ** 20, " MiB"],
  [2 ** 10, " KiB"],
];

/** qemu-io's cvtstr(): "%.3f" of the largest binary unit, ".000" trimmed ("1 KiB", "1.500 KiB", "512 bytes"). */
export function cvtstr(value: number): string {
  let str: string;
  let suffix = " bytes";
  const unit = CVT_UNITS.find(([u]) => value >= u);
  if (unit) {
    str = fixed(value / unit[0], 3);
    suffix = unit[1];
  } else str = fixed(value, 6);
  const trim = str.indexOf(".000");
  return (trim >= 0 ? str.slice(0, trim) : str) + suffix;
}

/** qemu-io's timestr() for a duration in nanoseconds; verbose is -C's fixed H:MM:SS.ss form. */
export function timestr(ns: bigint, verbose: boolean): string {
  const sec = Number(ns / 1_000_000_000n);
  const frac = Number(ns % 1_000_000_000n) / 1e9;
  const secs = fixed((sec % 60) + frac, 2).padStart(5, "0");
  if (verbose || sec) return `${Math.floor(sec / 3600)}:${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}:${secs}`;
  return `${fixed(frac, 2).padStart(5, "0")} sec`;
}

/** qemu-img's size_to_str(): "%0.3g %sB" with binary prefixes, switching up once the number would reach 1000. */
export function sizeToStr(val: number): string {
  const suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
  let i = val === 0 ? 0 : Math.floor((frexpExponent(val / (1000 / 1024)) - 1) / 10);
  if (i < 0) i = 0;
  return `${formatG(val / 2 ** (i * 10), 3)} ${suffixes[i]}B`;
}

/** The exponent frexp() returns: x = m * 2^e with 0.5 <= m < 1. */
function frexpExponent(x: number): number {
  if (x === 0) return 0;
  let e = Math.floor(Math.log2(x)) + 1;
  // Correct log2 rounding at exact powers of two.
  if (2 ** (e - 1) > x) e--;
  else if (2 ** e <= x) e++;
  return e;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** qcowdbg's human text: the largest binary unit, at most two decimals below 10 and one above ("12.5 MiB"). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 2) {
    v /= 1024;
    u++;
  }
  const s = u === 0 || Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, "");
  return `${n < 0 ? "-" : ""}${s} ${UNITS[u]}`;
}

/** The largest binary unit that divides `n` exactly ("64 KiB", "1 MiB", "1536 B"): for dumps, never rounded. */
export function exactBytes(n: number): string {
  let u = 0;
  let v = n;
  while (v >= 1024 && v % 1024 === 0 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v} ${UNITS[u]}`;
}

/** The TUI's short exact form: "64K", "2M", else bytes ("1536B"). */
export function shortBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return `${n}B`;
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

/**
 * "0x" and lower-case hex, the one hex for offsets, entries and addresses. A negative number is shown as QEMU's
 * PRIx64 shows an int64 (two's complement: -1 is 0xffffffffffffffff), as its trace lines print a -1 offset.
 * Deliberately separate, because each reproduces one printf format next to the output it belongs to: map.ts's
 * hex16 (%#-16"PRIx64"), check-context.ts's hex64/hexNum (PRIx64 of two halves, no prefix), bitmaps.ts's hex64
 * (%016"PRIx64"), dump-image.ts's hex2 (%#04x), qemu-json.ts's hex4 (\uXXXX) and terminal-text.ts's \xNN; the
 * TUI's words show a negative sentinel as the number (event-schema.ts hexw).
 */
export function hex(v: number | bigint): string {
  if (v < 0) return "0x" + BigInt.asUintN(64, BigInt(v)).toString(16);
  return "0x" + v.toString(16);
}
