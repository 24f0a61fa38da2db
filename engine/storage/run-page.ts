// A 64 KiB shadow page held as runs of one byte value. qemu-io writes a pattern byte (-P, default 0xcd) or
// zeroes, and a fresh cluster is zeroes around them, so a page of guest data is a handful of runs: a 100k-write
// script then costs kilobytes where whole pages cost gigabytes (and spilled them to temp files, issue 12).
// Pages with more runs than MAX_RUNS are kept as bytes by the shadow layer.

export const PAGE = 65536;
/** Runs a page may hold before the shadow layer keeps it as bytes. */
const MAX_RUNS = 64;
/** Uniform stretches are found by comparing big chunks, then small ones, against a filled buffer (memcmp). */
const BIG = 4096;
const CHUNK = 256;
const fills = new Map<number, Buffer>();

function fill(v: number): Buffer {
  let b = fills.get(v);
  if (!b) fills.set(v, (b = Buffer.alloc(BIG, v)));
  return b;
}

/** Runs of `data[0, n)`: starts (the first 0) and values; null when there are more than `max`. */
function encodeRuns(data: Uint8Array, n: number, max = MAX_RUNS): { starts: number[]; values: number[] } | null {
  const buf = Buffer.from(data.buffer, data.byteOffset, n);
  const starts: number[] = [];
  const values: number[] = [];
  let i = 0;
  while (i < n) {
    const v = buf[i]!;
    if (starts.length === max) return null;
    starts.push(i);
    values.push(v);
    const f = fill(v);
    i++;
    while (i + BIG <= n && buf.compare(f, 0, BIG, i, i + BIG) === 0) i += BIG;
    while (i + CHUNK <= n && buf.compare(f, 0, CHUNK, i, i + CHUNK) === 0) i += CHUNK;
    while (i < n && buf[i] === v) i++;
  }
  return { starts, values };
}

export class RunPage {
  /** Run k covers [starts[k], starts[k + 1]) (the last one up to PAGE); starts[0] is 0. */
  constructor(
    private starts: number[],
    private values: number[],
  ) {}

  /** The page for `data` (PAGE bytes), or null when it has too many runs. */
  static from(data: Uint8Array): RunPage | null {
    const r = encodeRuns(data, PAGE);
    return r ? new RunPage(r.starts, r.values) : null;
  }

  /** A page of one byte value. */
  static uniform(v: number): RunPage {
    return new RunPage([0], [v]);
  }

  get runs(): number {
    return this.starts.length;
  }

  clone(): RunPage {
    return new RunPage(this.starts.slice(), this.values.slice());
  }

  /** Bytes [po, po + out.length) of the page into `out`. */
  read(out: Uint8Array, po: number): void {
    const end = po + out.length;
    let k = this.find(po);
    for (let p = po; p < end; k++) {
      const runEnd = Math.min(end, k + 1 < this.starts.length ? this.starts[k + 1]! : PAGE);
      out.fill(this.values[k]!, p - po, runEnd - po);
      p = runEnd;
    }
  }

  /** Writes `data[0, n)` at `po`; false (page unchanged) when the result would exceed MAX_RUNS runs. */
  write(data: Uint8Array, po: number, n: number): boolean {
    const add = encodeRuns(data, n);
    if (!add) return false;
    const end = po + n;
    const starts: number[] = [];
    const values: number[] = [];
    const push = (s: number, v: number) => {
      if (values.length && values[values.length - 1] === v) return;
      starts.push(s);
      values.push(v);
    };
    const k0 = this.find(po);
    for (let k = 0; k < k0; k++) push(this.starts[k]!, this.values[k]!);
    if (this.starts[k0]! < po) push(this.starts[k0]!, this.values[k0]!);
    for (let j = 0; j < add.starts.length; j++) push(po + add.starts[j]!, add.values[j]!);
    if (end < PAGE) {
      const k1 = this.find(end);
      push(end, this.values[k1]!);
      for (let k = k1 + 1; k < this.starts.length; k++) push(this.starts[k]!, this.values[k]!);
    }
    if (starts.length > MAX_RUNS) return false;
    this.starts = starts;
    this.values = values;
    return true;
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(PAGE);
    this.read(out, 0);
    return out;
  }

  /** The run holding byte `p`. */
  private find(p: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
