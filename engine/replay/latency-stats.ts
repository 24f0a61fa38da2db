// Streaming latency statistics in constant memory (HDR-style): count, total, min and max exactly, and
// nearest-rank percentiles from log-linear buckets of 1/1024 of a power of two, so a replay of millions of
// requests keeps kilobytes instead of 8 bytes per request. Error bound: a percentile is the largest latency seen in
// the bucket holding the exact nearest-rank value, so it is exact when that bucket holds one distinct latency (the
// cost model's latencies are few distinct values) and otherwise high by less than 1/1024 (0.1%) of the value.

/** Mantissa bits kept per power of two: 2^10 buckets per octave. */
const SUB_BITS = 10;
const SUB = 1 << SUB_BITS;
/** Octaves of a double (11 exponent bits). */
const OCTAVES = 1 << 11;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** Index of the high word of a double in u32 (little- or big-endian host). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** Bucket of a non-negative double: its exponent and top mantissa bits, so buckets sort as the values do. */
function bucketOf(v: number): number {
  f64[0] = v;
  return (u32[HI]! & 0x7fffffff) >>> (20 - SUB_BITS);
}

export class LatencyStats {
  n = 0;
  total = 0;
  min = Infinity;
  max = 0;
  /** Per octave (allocated when first used): counts and the largest value seen in each bucket. */
  private counts: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(OCTAVES);
  private highs: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(OCTAVES);

  add(v: number): void {
    // Buckets hold magnitudes >= 0 (a latency is never negative); the exact figures keep v as it is.
    const x = v > 0 ? v : 0;
    this.n++;
    this.total += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const b = bucketOf(x);
    const o = b >>> SUB_BITS;
    let c = this.counts[o];
    let h = this.highs[o];
    if (c === undefined || h === undefined) {
      c = this.counts[o] = new Float64Array(SUB);
      h = this.highs[o] = new Float64Array(SUB);
    }
    const s = b & (SUB - 1);
    c[s]!++;
    if (x > h[s]!) h[s] = x;
  }

  /** Adds every value of another histogram (the "all" row from the per-op ones). */
  merge(other: LatencyStats): void {
    if (other.n === 0) return;
    this.n += other.n;
    this.total += other.total;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    for (let o = 0; o < OCTAVES; o++) {
      const oc = other.counts[o];
      const oh = other.highs[o];
      if (oc === undefined || oh === undefined) continue;
      let c = this.counts[o];
      let h = this.highs[o];
      if (c === undefined || h === undefined) {
        c = this.counts[o] = new Float64Array(SUB);
        h = this.highs[o] = new Float64Array(SUB);
      }
      for (let s = 0; s < SUB; s++) {
        c[s]! += oc[s]!;
        if (oh[s]! > h[s]!) h[s] = oh[s]!;
      }
    }
  }

  /** Nearest-rank quantile (as btt's percentile files are read); see the error bound above. 0 when empty. */
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.min(this.n - 1, Math.max(0, Math.ceil(q * this.n) - 1));
    let seen = 0;
    for (let o = 0; o < OCTAVES; o++) {
      const c = this.counts[o];
      if (c === undefined) continue;
      for (let s = 0; s < SUB; s++) {
        seen += c[s]!;
        if (seen > rank) return this.highs[o]![s]!;
      }
    }
    return this.max;
  }

  /** Bytes held (for the memory bench): 16 KiB per octave used. */
  bytes(): number {
    let n = 0;
    for (const c of this.counts) if (c !== undefined) n += 2 * SUB * 8;
    return n;
  }
}
