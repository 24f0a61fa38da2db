// The one size grammar: QEMU 7.2's qemu_strtosz(), which qemu-io uses for offsets and lengths (cvtnum), qemu-img
// for sizes and flags, and QemuOpts for size options (l2-cache-size=...). test/units/sizes.test.ts holds the
// answers of the real tools. Leaf module: it imports nothing, so every engine layer can use it.

const SUFFIX: Record<string, bigint> = { B: 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n, P: 1n << 50n, E: 1n << 60n };
const U64_MAX = (1n << 64n) - 1n;

/** Why a text is not a size: not one at all (EINVAL), or one past 2^64 (ERANGE). */
export type SizeError = "invalid" | "range";

/**
 * do_strtosz(text, NULL, 'B', 1024): decimal or "0x" hex after optional blanks and "+", a fraction only on
 * decimal ("1.5k", "1.k"; no exponent), at most one binary suffix (b k m g t p e, any case) and nothing after.
 * A fraction needs a unit other than bytes ("1.5" is refused, "1.0" is 1) and is rounded half up ("1.0005k" is
 * 1025). `warn` hears QEMU's deprecation warning for a suffix on hex ("0x1k").
 */
export function strtosz(s: string, warn?: (line: string) => void): bigint | SizeError {
  // qemu_strtou64(base 10): leading blanks, an optional sign, digits.
  const int = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(s);
  if (!int || int[1] === "-") return "invalid";
  let val = BigInt(int[2]!);
  if (val > U64_MAX) return "range";
  let end = int[0].length;
  let valf = 0n;
  let hex = false;
  if (val === 0n && (s[end] === "x" || s[end] === "X")) {
    // Looks like hex: reparse as hex and insist on no fraction.
    const h = /^[ \t\n\v\f\r]*\+?0[xX]([0-9a-fA-F]+)/.exec(s);
    if (!h) return "invalid";
    val = BigInt("0x" + h[1]);
    if (val > U64_MAX) return "range";
    end = h[0].length;
    if (s[end] === ".") return "invalid";
    hex = true;
  } else if (s[end] === ".") {
    const f = /^\.\d*(?:[eE][+-]?\d+)?/.exec(s.slice(end))![0];
    if (f === ".") end++; // "1.k": strtod fails on "." and the dot is skipped
    else {
      if (/[eE]/.test(f)) return "invalid";
      // The fraction as 64-bit fixed point, as QEMU holds it.
      valf = BigInt(Math.floor(parseFloat(f) * 2 ** 64));
      end += f.length;
    }
  }
  let mul = SUFFIX[s[end]?.toUpperCase() ?? ""];
  if (mul !== undefined) {
    if (hex) warn?.(`qemu-io: warning: Using a multiplier suffix on hex numbers is deprecated: ${s}`);
    end++;
  } else mul = 1n;
  if (mul === 1n) {
    if (valf !== 0n) return "invalid";
  } else {
    const whole = val * mul + ((valf * mul) >> 64n) + (((valf * mul) >> 63n) & 1n);
    if (whole > U64_MAX) return "range";
    val = whole;
  }
  return end === s.length ? val : "invalid";
}

/** Bytes for `s`, or null when it is not a size or is one past 2^53 (lengths and offsets are JS numbers). */
export function sizeOrNull(s: string): number | null {
  const v = strtosz(s);
  return typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
}

/** Bytes for `s`; throws "invalid size '...'" or "size '...' is too large" (option values, CLI flags). */
export function parseSize(s: string): number {
  const v = strtosz(s);
  if (v === "invalid") throw new Error(`invalid size '${s}'`);
  if (v === "range" || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`size '${s}' is too large`);
  return Number(v);
}
