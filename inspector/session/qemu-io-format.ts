// qemu-io 7.2's small parsers and printers (qemu-io-cmds.c, util/cutils.c), reproduced to the byte because
// scripts and iotests compare their output: cvtnum (qemu_strtosz), cvtstr ("1.500 KiB"), timestr, print_report,
// dump_buffer, parse_pattern and glibc's permuting getopt with its stderr lines.

import { strtosz } from "../../engine/units/sizes.js";

export const EINVAL = 22;
export const ERANGE = 34;
export const EIO = 5;
export const EPERM = 1;
export const ENOTSUP = 95;
export const ENOMEDIUM = 123;
export const EACCES = 13;
export const ENOENT = 2;
export const EFBIG = 27;

/** BDRV_REQUEST_MAX_BYTES: MIN(SIZE_MAX >> BDRV_SECTOR_BITS, BDRV_MAX_LENGTH) rounded to the request alignment. */
export const BDRV_REQUEST_MAX_BYTES = 2147483136;
const INT64_MAX = (1n << 63n) - 1n;

/** cvtnum(): qemu_strtosz with 'B' default and 1024 units; a negative errno when the text is not a size. */
export function cvtnum(s: string, warn?: (line: string) => void): number {
  const v = strtosz(s, warn);
  if (v === "invalid") return -EINVAL;
  if (v === "range" || v > INT64_MAX) return -ERANGE;
  return Number(v);
}

export function cvtnumError(rc: number, arg: string): string {
  if (rc === -EINVAL) return `Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- ${arg}`;
  if (rc === -ERANGE) return `Parsing error: argument too large -- ${arg}`;
  return `Parsing error: ${arg}`;
}

import { cvtstr, fixed, timestr } from "../../engine/units/size-text.js";

export { cvtstr, fixed, timestr };

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
    [EFBIG]: "File too large",
  };
  return texts[errno] ?? `Unknown error ${errno}`;
}
