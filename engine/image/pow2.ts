// Remainders by powers of two (cluster, table and slice sizes) on offsets past 2^31: V8 computes `%` on such
// numbers with a call to fmod, which costs more than the rest of a cache lookup. For a non-negative a < 2^53 and a
// power of two b, a - floor(a / b) * b is exact.

export function mod2(a: number, b: number): number {
  return a - Math.floor(a / b) * b;
}

/** 2 ** n for n in 0..63 by lookup: on the per-request paths `2 ** bits` with a variable exponent is a pow call. */
export const POW2: readonly number[] = Array.from({ length: 64 }, (_, n) => 2 ** n);
