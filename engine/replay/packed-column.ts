// Number columns for RequestColumns, packed to what the values need: integers in the narrowest typed array that
// holds them (Uint8, then 16, 32 bits), in a unit (sectors, nanoseconds) and, for columns that only creep up
// (times, line numbers), relative to a Float64 base per block of 32. A value that does not fit exactly goes to a
// side map; when too many do, the column falls back to plain Float64, so nothing is ever rounded.

type UintArray = Uint8Array | Uint16Array | Uint32Array;

const BLOCK_SHIFT = 5;
const BLOCK = 1 << BLOCK_SHIFT;
const U32_MAX = 0xffffffff;

/** Non-negative integers below 2^32 in the narrowest array that holds every one stored so far. */
export class UintColumn {
  private a: UintArray;
  private max: number;

  constructor(capacity: number) {
    this.a = new Uint8Array(capacity);
    this.max = 0xff;
  }

  set(i: number, v: number): void {
    if (v > this.max) this.widen(v);
    this.a[i] = v;
  }

  get(i: number): number {
    return this.a[i]!;
  }

  resize(n: number): void {
    const x = new (this.a.constructor as new (n: number) => UintArray)(n);
    x.set(this.a.subarray(0, Math.min(n, this.a.length)));
    this.a = x;
  }

  bytes(): number {
    return this.a.byteLength;
  }

  private widen(v: number): void {
    const x = v <= 0xffff ? new Uint16Array(this.a.length) : new Uint32Array(this.a.length);
    x.set(this.a);
    this.a = x;
    this.max = v <= 0xffff ? 0xffff : U32_MAX;
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

  private toRaw(): void {
    const raw = new Float64Array(this.capacity);
    for (let i = 0; i < this.length; i++) raw[i] = this.get(i);
    this.raw = raw;
    this.odd.clear();
    this.base = null;
    this.digits = new UintColumn(0);
  }
}
