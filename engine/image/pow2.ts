// Remainders by powers of two (cluster, table and slice sizes) on offsets past 2^31: V8 computes `%` on such
// numbers with a call to fmod, which costs more than the rest of a cache lookup. For a non-negative a < 2^53 and a
// power of two b, a - floor(a / b) * b is exact.

export function mod2(a: number, b: number): number {
  return a - Math.floor(a / b) * b;
}
