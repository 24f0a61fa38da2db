// A hand-written scanner for blkparse's default line layout, `%3d,%-3d %2d %8d %5d.%09lu %5u %2s %3s ` + tail,
// over the raw bytes of the line: a regex with captures allocates a dozen strings a line, and traces run to
// hundreds of millions of lines. Positions and numbers go into a reused object.

export interface BlkparseLine {
  devStart: number;
  devEnd: number;
  /** Time since the trace start in nanoseconds. */
  ns: number;
  actStart: number;
  actLen: number;
  rwbsStart: number;
  rwbsEnd: number;
  restStart: number;
  /** scanIoTail: -1 when the line prints no sector. */
  sector: number;
  /** scanIoTail: 512-byte sectors, 0 when none printed. */
  count: number;
}

export function newBlkparseLine(): BlkparseLine {
  return { devStart: 0, devEnd: 0, ns: 0, actStart: 0, actLen: 0, rwbsStart: 0, rwbsEnd: 0, restStart: 0, sector: -1, count: 0 };
}

const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1];

function spaces(b: Uint8Array, i: number, end: number): number {
  while (i < end && (b[i] === 32 || b[i] === 9)) i++;
  return i;
}
function digits(b: Uint8Array, i: number, end: number): number {
  while (i < end && b[i]! >= 48 && b[i]! <= 57) i++;
  return i;
}
/** Exact for up to 15 digits; callers refuse longer runs. */
function value(b: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let k = from; k < to; k++) v = v * 10 + (b[k]! - 48);
  return v;
}

/**
 * Fills `h` from the fixed header of b[start, end); false when it is not a blkparse event line. Every line of a
 * trace passes here (three or more per request), so each field's loop is written out, numbers summed as their
 * digits are read.
 */
export function scanHeader(b: Uint8Array, start: number, end: number, h: BlkparseLine): boolean {
  let i = start;
  let c = 0;
  while (i < end && ((c = b[i]!) === 32 || c === 9)) i++;
  h.devStart = i;
  let j = i;
  while (j < end && (c = b[j]!) >= 48 && c <= 57) j++;
  if (j === i || b[j] !== 44 /* , */) return false;
  i = j + 1;
  while (i < end && (c = b[i]!) >= 48 && c <= 57) i++;
  if (i === j + 1) return false;
  h.devEnd = i;
  for (let field = 0; field < 2; field++) {
    // cpu, sequence
    j = i;
    while (j < end && ((c = b[j]!) === 32 || c === 9)) j++;
    if (j === i) return false;
    i = j;
    while (i < end && (c = b[i]!) >= 48 && c <= 57) i++;
    if (i === j) return false;
  }
  j = i;
  while (j < end && ((c = b[j]!) === 32 || c === 9)) j++;
  if (j === i) return false;
  const neg = b[j] === 45; /* - */
  if (neg) j++;
  // Seconds: exact for up to 15 digits (longer runs are refused).
  let sec = 0;
  i = j;
  while (i < end && (c = b[i]!) >= 48 && c <= 57) {
    sec = sec * 10 + (c - 48);
    i++;
  }
  if (i === j || b[i] !== 46 /* . */ || i - j > 15) return false;
  j = i + 1;
  i = j;
  let frac = 0;
  while (i < end && (c = b[i]!) >= 48 && c <= 57) {
    frac = frac * 10 + (c - 48);
    i++;
  }
  if (i === j || i - j > 9) return false;
  frac *= POW10[i - j]!;
  h.ns = neg ? -(sec * 1e9 + frac) : sec * 1e9 + frac;
  j = i; // pid
  while (j < end && ((c = b[j]!) === 32 || c === 9)) j++;
  if (j === i) return false;
  i = j;
  while (i < end && (c = b[i]!) >= 48 && c <= 57) i++;
  if (i === j) return false;
  j = i; // action: one or two letters
  while (j < end && ((c = b[j]!) === 32 || c === 9)) j++;
  if (j === i) return false;
  i = j;
  while (i < end && i - j < 3) {
    c = b[i]! | 0x20;
    if (c < 97 || c > 122) break;
    i++;
  }
  if (i === j || i - j > 2) return false;
  h.actStart = j;
  h.actLen = i - j;
  j = i; // RWBS: capitals
  while (j < end && ((c = b[j]!) === 32 || c === 9)) j++;
  if (j === i) return false;
  i = j;
  while (i < end && (c = b[i]!) >= 65 && c <= 90) i++;
  if (i === j) return false;
  h.rwbsStart = j;
  h.rwbsEnd = i;
  if (i === end) h.restStart = i;
  else if ((c = b[i]!) === 32 || c === 9) h.restStart = i + 1;
  else return false;
  return true;
}

/**
 * The tail of Q/D/C/I/B lines: "S + N", "S + N (elapsed)", "S" (completions of empty requests), "S (elapsed)",
 * "(elapsed)" or nothing, then "[comm]" or "[error]". Fills h.sector and h.count; false otherwise.
 */
export function scanIoTail(b: Uint8Array, end: number, h: BlkparseLine): boolean {
  let i = spaces(b, h.restStart, end);
  h.sector = -1;
  h.count = 0;
  let j = digits(b, i, end);
  if (j > i) {
    if (j - i > 15) return false;
    h.sector = value(b, i, j);
    i = j;
    if (b[i] === 32 && b[i + 1] === 43 /* + */ && b[i + 2] === 32) {
      i += 3;
      j = digits(b, i, end);
      if (j === i || j - i > 15) return false;
      h.count = value(b, i, j);
      i = j;
    }
    j = spaces(b, i, end);
    if (j === i) return false;
    i = j;
  }
  if (b[i] === 40 /* ( */) {
    i = digits(b, spaces(b, i + 1, end), end);
    if (b[i] !== 41 /* ) */) return false;
    j = spaces(b, i + 1, end);
    if (j === i + 1) return false;
    i = j;
  }
  if (i >= end || b[i] !== 91 /* [ */) return false;
  let e = end;
  while (e > i && (b[e - 1] === 32 || b[e - 1] === 9)) e--;
  return b[e - 1] === 93; /* ] */
}
