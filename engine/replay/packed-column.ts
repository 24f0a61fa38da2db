// Number columns for RequestColumns, packed to what the values need: integers in the narrowest typed array that
// holds them (Uint8, then 16, 32 bits), in a unit (sectors, nanoseconds) and, for columns that only creep up
// (times, line numbers), relative to a Float64 base per block of 32. A value that does not fit exactly goes to a
// side map; when too many do, the column falls back to plain Float64, so nothing is ever rounded.

type UintArray = Uint8Array | Uint16Array | Uint32Array;

const BLOCK_SHIFT = 5;
const BLOCK = 1 << BLOCK_SHIFT;
const U32_MAX = 0xffffffff;

/**
 * Non-negative integers below 2^32, set in index order: no array at all while every value is the same (one
 * device, one source file, one request size), then the narrowest array that holds every value so far.
 */
export class UintColumn {
  private a: UintArray | null = null;
  private max = 0;
  private same: number | undefined;
  private filled = 0;

  constructor(private capacity: number) {}

  set(i: number, v: number): void {
    if (this.a === null) {
      this.same ??= v;
      if (v === this.same) {
        this.filled = Math.max(this.filled, i + 1);
        return;
      }
      this.a = this.make(Math.max(v, this.same), this.capacity);
      this.a.fill(this.same, 0, this.filled);
    } else if (v > this.max) {
      const x = this.make(v, this.a.length);
      x.set(this.a);
      this.a = x;
    }
    this.a[i] = v;
  }

  get(i: number): number {
    return this.a === null ? (this.same ?? 0) : this.a[i]!;
  }

  resize(n: number): void {
    this.capacity = n;
    if (this.a === null) return;
    const x = this.make(this.max, n);
    x.set(this.a.subarray(0, Math.min(n, this.a.length)));
    this.a = x;
  }

  bytes(): number {
    return this.a?.byteLength ?? 0;
  }

  private make(v: number, n: number): UintArray {
    if (v <= 0xff) {
      this.max = 0xff;
      return new Uint8Array(n);
    }
    if (v <= 0xffff) {
      this.max = 0xffff;
      return new Uint16Array(n);
    }
    this.max = U32_MAX;
    return new Uint32Array(n);
  }
}

export interface PackedOptions {
  /** Values are stored as round(value * scale) when that gives the value back exactly (1/512: sectors). */
  scale: number;
  /** Store the difference from the block's first value (for columns that rarely go down). */
  based: boolean;
}

/** Numbers appended in order (set(i) with i = 0, 1, 2, ...), read back exactly by get(i). */
export class PackedColumn {
  private digits: UintColumn;
  private base: Float64Array | null;
  /** Values that did not pack, by index. */
  private odd = new Map<number, number>();
  /** Set once too many values did not pack: everything is a plain double from then on. */
  private raw: Float64Array | null = null;
  private length = 0;

  constructor(
    private capacity: number,
    private readonly opts: PackedOptions,
  ) {
    this.digits = new UintColumn(capacity);
    this.base = opts.based ? new Float64Array(Math.ceil(capacity / BLOCK)).fill(NaN) : null;
  }

  set(i: number, v: number): void {
    this.length = Math.max(this.length, i + 1);
    if (this.raw) {
      this.raw[i] = v;
      return;
    }
    const s = this.opts.scale;
    const k = Math.round(v * s);
    let b = 0;
    if (this.base) {
      b = this.base[i >>> BLOCK_SHIFT]!;
      if (Number.isNaN(b) && Number.isSafeInteger(k)) b = this.base[i >>> BLOCK_SHIFT] = k;
    }
    const d = k - b;
    if (d >= 0 && d <= U32_MAX && Number.isInteger(d) && Object.is((b + d) / s, v)) {
      this.digits.set(i, d);
      return;
    }
    this.digits.set(i, 0);
    this.odd.set(i, v);
    if (this.odd.size > 1024 + (this.length >>> 6)) this.toRaw();
  }

  get(i: number): number {
    if (this.raw) return this.raw[i]!;
    if (this.odd.size !== 0) {
      const o = this.odd.get(i);
      if (o !== undefined) return o;
    }
    const d = this.digits.get(i);
    return (this.base ? this.base[i >>> BLOCK_SHIFT]! + d : d) / this.opts.scale;
  }

  resize(n: number): void {
    this.capacity = n;
    if (this.raw) {
      const x = new Float64Array(n);
      x.set(this.raw.subarray(0, Math.min(n, this.raw.length)));
      this.raw = x;
      return;
    }
    this.digits.resize(n);
    if (this.base) {
      const x = new Float64Array(Math.ceil(n / BLOCK)).fill(NaN);
      x.set(this.base.subarray(0, Math.min(x.length, this.base.length)));
      this.base = x;
    }
  }

  /** Bytes held (the side map counted at ~40 bytes an entry). */
  bytes(): number {
    if (this.raw) return this.raw.byteLength;
    return this.digits.bytes() + (this.base?.byteLength ?? 0) + this.odd.size * 40;
  }

  /** After RequestColumns.revive: the digits column gets its prototype back too. */
  revive(): void {
    Object.setPrototypeOf(this.digits, UintColumn.prototype);
  }

  private toRaw(): void {
    const raw = new Float64Array(this.capacity);
    for (let i = 0; i < this.length; i++) raw[i] = this.get(i);
    this.raw = raw;
    this.odd.clear();
    this.base = null;
    this.digits = new UintColumn(0);
  }
}
