// qemu-io 7.2's small parsers and printers (qemu-io-cmds.c, util/cutils.c), reproduced to the byte because
// scripts and iotests compare their output: cvtnum (qemu_strtosz), cvtstr ("1.500 KiB"), timestr, print_report,
// dump_buffer, parse_pattern and glibc's permuting getopt with its stderr lines.

export const EINVAL = 22;
export const ERANGE = 34;
export const EIO = 5;
export const EPERM = 1;
export const ENOTSUP = 95;
export const ENOMEDIUM = 123;
export const EACCES = 13;
export const ENOENT = 2;

/** BDRV_REQUEST_MAX_BYTES: MIN(SIZE_MAX >> BDRV_SECTOR_BITS, BDRV_MAX_LENGTH) rounded to the request alignment. */
export const BDRV_REQUEST_MAX_BYTES = 2147483136;
const INT64_MAX = (1n << 63n) - 1n;

const SUFFIX: Record<string, bigint> = { B: 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n, P: 1n << 50n, E: 1n << 60n };

/** cvtnum(): qemu_strtosz with 'B' default and 1024 units; a negative errno when the text is not a size. */
export function cvtnum(s: string, warn?: (line: string) => void): number {
  // qemu_strtou64(base 10): leading blanks, an optional sign, digits.
  const int = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(s);
  if (!int) return -EINVAL;
  if (int[1] === "-") return -EINVAL;
  let val = BigInt(int[2]!);
  if (val > (1n << 64n) - 1n) return -ERANGE;
  let end = int[0].length;
  let valf = 0n;
  let hex = false;
  if (val === 0n && (s[end] === "x" || s[end] === "X")) {
    const h = /^[ \t\n\v\f\r]*\+?0[xX]([0-9a-fA-F]+)/.exec(s);
    if (!h) return -EINVAL;
    val = BigInt("0x" + h[1]);
    if (val > (1n << 64n) - 1n) return -ERANGE;
    end = h[0].length;
    if (s[end] === ".") return -EINVAL;
    hex = true;
  } else if (s[end] === ".") {
    const f = /^\.\d*(?:[eE][+-]?\d+)?/.exec(s.slice(end))![0];
    if (f === ".") end++; // "1.k": strtod fails on "." and the dot is skipped
    else {
      if (/[eE]/.test(f)) return -EINVAL;
      valf = BigInt(Math.floor(parseFloat(f) * 2 ** 64));
      end += f.length;
    }
  }
  const c = s[end]?.toUpperCase() ?? "";
  let mul = SUFFIX[c];
  if (mul !== undefined) {
    if (hex) warn?.(`qemu-io: warning: Using a multiplier suffix on hex numbers is deprecated: ${s}`);
    end++;
  } else mul = 1n;
  if (mul === 1n) {
    if (valf !== 0n) return -EINVAL;
  } else {
    const whole = val * mul + ((valf * mul) >> 64n) + (((valf * mul) >> 63n) & 1n);
    if (whole >> 64n) return -ERANGE;
    val = whole;
  }
  if (end !== s.length) return -EINVAL;
  if (val > INT64_MAX) return -ERANGE;
  return Number(val);
}

export function cvtnumError(rc: number, arg: string): string {
  if (rc === -EINVAL) return `Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- ${arg}`;
  if (rc === -ERANGE) return `Parsing error: argument too large -- ${arg}`;
  return `Parsing error: ${arg}`;
}

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

const UNITS: [number, string][] = [
  [2 ** 60, " EiB"],
  [2 ** 50, " PiB"],
  [2 ** 40, " TiB"],
  [2 ** 30, " GiB"],
  [2 ** 20, " MiB"],
  [2 ** 10, " KiB"],
];

/** cvtstr(): "%.3f" of the largest binary unit, ".000" trimmed ("1 KiB", "1.500 KiB", "512 bytes"). */
export function cvtstr(value: number): string {
  let str: string;
  let suffix = " bytes";
  const unit = UNITS.find(([u]) => value >= u);
  if (unit) {
    str = fixed(value / unit[0], 3);
    suffix = unit[1];
  } else str = fixed(value, 6);
  const trim = str.indexOf(".000");
  return (trim >= 0 ? str.slice(0, trim) : str) + suffix;
}

/** timestr() for a duration in nanoseconds; verbose is -C's fixed H:MM:SS.ss form. */
export function timestr(ns: bigint, verbose: boolean): string {
  const sec = Number(ns / 1_000_000_000n);
  const frac = Number(ns % 1_000_000_000n) / 1e9;
  const secs = fixed((sec % 60) + frac, 2).padStart(5, "0");
  if (verbose || sec) return `${Math.floor(sec / 3600)}:${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}:${secs}`;
  return `${fixed(frac, 2).padStart(5, "0")} sec`;
}

/** print_report(): the two lines after a request (or -C's one comma-separated line). */
export function report(op: string, ns: bigint, offset: number, count: number, total: number, cnt: number, cflag: boolean): string[] {
  const ts = timestr(ns, cflag);
  const secs = Number(ns) / 1e9;
  const per = (v: number) => v / secs;
  if (cflag) return [`${total},${cnt},${ts},${fixed(per(total), 3)},${fixed(per(cnt), 3)}`];
  return [`${op} ${total}/${count} bytes at offset ${offset}`, `${cvtstr(total)}, ${cnt} ops; ${ts} (${cvtstr(per(total))}/sec and ${fixed(per(cnt), 4)} ops/sec)`];
}

/** dump_buffer(): 16 bytes a row, isalnum() shown, everything else '.'; short last rows are not padded. */
export function dumpBuffer(buf: Uint8Array, offset: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < buf.length; i += 16) {
    const row = buf.subarray(i, i + 16);
    let s = `${(offset + i).toString(16).padStart(8, "0")}:  `;
    for (const b of row) s += b.toString(16).padStart(2, "0") + " ";
    s += " ";
    for (const b of row) s += (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ? String.fromCharCode(b) : ".";
    lines.push(s);
  }
  return lines;
}

/** parse_pattern(): strtol base 0 into one byte; null (with qemu-io's line) when it is not one. */
export function parsePattern(arg: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(arg);
  let v = NaN;
  if (m) {
    const body = m[2]!;
    v = /^0[xX]/.test(body) ? parseInt(body, 16) : body.length > 1 && body[0] === "0" ? parseInt(body, 8) : parseInt(body, 10);
    if (m[1] === "-") v = -v;
  }
  return Number.isFinite(v) && v >= 0 && v <= 255 ? v : null;
}

export interface GetoptResult {
  opts: [string, string][];
  rest: string[];
  /** glibc's complaint (stderr) when an option is unknown or lacks its argument. */
  error?: string;
}

/** glibc getopt with GNU argument permutation (options may follow operands; "--" ends them). */
export function getopt(argv: string[], spec: string): GetoptResult {
  const opts: [string, string][] = [];
  const rest: string[] = [];
  const prog = argv[0] ?? "";
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a.length === 1) {
      rest.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const f = a[j]!;
      const k = spec.indexOf(f);
      if (k < 0 || f === ":") return { opts, rest, error: `${prog}: invalid option -- '${f}'` };
      if (spec[k + 1] === ":") {
        const v = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
        if (v === undefined) return { opts, rest, error: `${prog}: option requires an argument -- '${f}'` };
        opts.push([f, v]);
        break;
      }
      opts.push([f, ""]);
    }
  }
  return { opts, rest };
}

/** strerror() for the errnos the engine reports. */
export function strerror(errno: number): string {
  const texts: Record<number, string> = {
    [EPERM]: "Operation not permitted",
    [ENOENT]: "No such file or directory",
    [EIO]: "Input/output error",
    [EACCES]: "Permission denied",
    [EINVAL]: "Invalid argument",
    [ERANGE]: "Numerical result out of range",
    [ENOTSUP]: "Operation not supported",
    [ENOMEDIUM]: "No medium found",
  };
  return texts[errno] ?? `Unknown error ${errno}`;
}
