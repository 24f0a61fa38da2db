// What the dataset CSV formats share: comma-separated lines, an optional header line, and timestamps that are
// too large for a float (FILETIME, epoch microseconds) and are therefore made relative to the first row exactly,
// from their digits, before dividing.
import type { GuestRequest } from "./guest-request.js";
import { LineReader } from "./line-reader.js";
import type { ParseContext } from "./trace-error.js";

export interface CsvFormat {
  /** Fewest fields a row has. */
  fields: number;
  /** The header line, when a file has one (matched case-insensitively against the joined fields). */
  header: RegExp;
  /** One row -> a request (time filled in by `clock`), null for "no request", or an error message. */
  row(f: string[], clock: RelativeClock, source: string): GuestRequest | null | string;
}

export function* parseCsv(ctx: ParseContext, fmt: CsvFormat): Generator<GuestRequest> {
  const reader = new LineReader(ctx.path);
  const clock = new RelativeClock();
  let seenRow = false;
  for (const line of reader.lines()) {
    ctx.stats.lines++;
    const no = reader.lineNo;
    if (line.trim() === "") continue;
    const f = line.split(",");
    for (let i = 0; i < f.length; i++) f[i] = f[i]!.trim();
    if (!seenRow) {
      seenRow = true;
      if (fmt.header.test(f.join(","))) continue;
    }
    if (f.length < fmt.fields) {
      ctx.bad(no, `expected ${fmt.fields} comma-separated fields, got ${f.length}`);
      continue;
    }
    const r = fmt.row(f, clock, `${ctx.label}:${no}`);
    if (typeof r === "string") ctx.bad(no, r);
    else if (r) yield r;
  }
}

/** Seconds since the first row, computed from (whole seconds, nanoseconds) pairs so no digit is lost. */
export class RelativeClock {
  private baseSec = NaN;
  private baseNs = 0;

  /** `digits` counts in units of 10^-scale seconds (FILETIME: 7, microseconds: 6, seconds: 0). */
  fromUnits(digits: string, scale: number): number | null {
    if (!/^\d+$/.test(digits)) return null;
    const cut = digits.length - scale;
    const sec = cut > 0 ? Number(digits.slice(0, cut)) : 0;
    const frac = cut > 0 ? digits.slice(cut) : digits.padStart(scale, "0");
    return this.at(sec, scale > 0 ? Number(frac) * 10 ** (9 - scale) : 0);
  }

  /** "1487159854.122164": decimal seconds. */
  fromDecimal(s: string): number | null {
    const m = /^(\d+)(?:\.(\d*))?$/.exec(s);
    if (!m) return null;
    return this.at(Number(m[1]), Number((m[2] ?? "").slice(0, 9).padEnd(9, "0")));
  }

  private at(sec: number, ns: number): number | null {
    if (!Number.isSafeInteger(sec)) return null;
    if (Number.isNaN(this.baseSec)) {
      this.baseSec = sec;
      this.baseNs = ns;
    }
    return ((sec - this.baseSec) * 1e9 + (ns - this.baseNs)) / 1e9;
  }
}

/** A non-negative integer field, or null. */
export function uint(s: string): number | null {
  if (!/^\d+$/.test(s)) return null;
  const v = Number(s);
  return Number.isSafeInteger(v) ? v : null;
}
