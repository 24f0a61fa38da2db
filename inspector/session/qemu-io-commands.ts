// qemu-io's I/O commands over a Qcow2Image, with qemu-io's options and output lines, so existing qemu-io
// scripts run unchanged: read [-P pat] [-v] [-q], write [-P pat] [-z [-u]] [-q], discard, flush, close, quit.
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { parseSize } from "../../engine/image/engine-config.js";

export interface IoContext {
  image: Qcow2Image | null;
  out: (line: string) => void;
  /** Start a new request id for the event recorder (one per command, as qemu-io runs one coroutine each). */
  nextRequest: () => void;
  open?: (path: string) => Qcow2Image;
}

export class CommandError extends Error {}

function parseOpts(args: string[], flags: string, withArg: string): { opts: Map<string, string>; rest: string[] } {
  const opts = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("-") && a.length > 1 && !/^-\d/.test(a)) {
      for (let j = 1; j < a.length; j++) {
        const f = a[j]!;
        if (withArg.includes(f)) {
          const v = a.slice(j + 1) || args[++i];
          if (v === undefined) throw new CommandError(`option requires an argument -- '${f}'`);
          opts.set(f, v);
          break;
        }
        if (!flags.includes(f)) throw new CommandError(`invalid option -- '${f}'`);
        opts.set(f, "");
      }
    } else rest.push(a);
  }
  return { opts, rest };
}

function num(s: string, what: string): number {
  try {
    const v = parseSize(s);
    return v;
  } catch {
    throw new CommandError(`non-numeric ${what} argument -- ${s}`);
  }
}

function pattern(s: string): number {
  const v = s.toLowerCase().startsWith("0x") ? parseInt(s, 16) : parseInt(s, 10);
  if (Number.isNaN(v)) throw new CommandError(`non-numeric pattern argument -- ${s}`);
  return v & 0xff;
}

function human(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${bytes} bytes`;
  return `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(3).replace(/0+$/, "")} ${units[u]}`;
}

function stats(ctx: IoContext, bytes: number, t0: bigint, quiet: boolean): void {
  if (quiet) return;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = secs > 0 ? bytes / secs : 0;
  ctx.out(`${human(bytes)}, 1 ops; ${secs.toFixed(2).padStart(5, "0")} sec (${human(rate)}/sec and ${(secs > 0 ? 1 / secs : 0).toFixed(4)} ops/sec)`);
}

function need(ctx: IoContext): Qcow2Image {
  if (!ctx.image) throw new CommandError("no file open, try 'help open'");
  return ctx.image;
}

function hexdump(ctx: IoContext, buf: Uint8Array, base: number): void {
  for (let o = 0; o < buf.length; o += 16) {
    const row = buf.subarray(o, o + 16);
    const hexs = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    ctx.out(`${(base + o).toString(16).padStart(8, "0")}:  ${hexs.padEnd(47)}  ${ascii}`);
  }
}

export const IO_COMMANDS = ["read", "write", "discard", "flush", "close", "open", "quit", "aio_read", "aio_write", "aio_flush", "aio_discard", "writev", "readv"];

/** Runs one qemu-io command line. Returns false when the command asks to quit. */
export function runIoCommand(ctx: IoContext, argv: string[]): boolean {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case "read":
    case "aio_read":
    case "readv": {
      const img = need(ctx);
      const { opts, rest } = parseOpts(args, "Cqvbl", "Ps");
      if (rest.length < 2) throw new CommandError("read: offset and length are required");
      const off = num(rest[0]!, "offset");
      const len = cmd === "readv" ? rest.slice(1).reduce((s, x) => s + num(x, "length"), 0) : num(rest[1]!, "length");
      ctx.nextRequest();
      const t0 = process.hrtime.bigint();
      if (off + len > img.virtualSize) throw new CommandError("read failed: Input/output error");
      const buf = new Uint8Array(len);
      img.read(buf, off);
      if (opts.has("P")) {
        const p = pattern(opts.get("P")!);
        for (let i = 0; i < len; i++)
          if (buf[i] !== p) {
            ctx.out(`Pattern verification failed at offset ${off + i}, ${len - i} bytes`);
            break;
          }
      }
      if (opts.has("v")) hexdump(ctx, buf, off);
      if (!opts.has("q")) ctx.out(`read ${len}/${len} bytes at offset ${off}`);
      stats(ctx, len, t0, opts.has("q"));
      return true;
    }
    case "write":
    case "aio_write":
    case "writev": {
      const img = need(ctx);
      const { opts, rest } = parseOpts(args, "bcCfnquzr", "Ps");
      if (rest.length < 2) throw new CommandError("write: offset and length are required");
      const off = num(rest[0]!, "offset");
      const len = cmd === "writev" ? rest.slice(1).reduce((s, x) => s + num(x, "length"), 0) : num(rest[1]!, "length");
      if (opts.has("u") && !opts.has("z")) throw new CommandError("-u requires -z to be specified");
      if (opts.has("z") && opts.has("P")) throw new CommandError("-z and -P cannot be specified at the same time");
      ctx.nextRequest();
      const t0 = process.hrtime.bigint();
      if (off + len > img.virtualSize) throw new CommandError("write failed: Input/output error");
      if (opts.has("z") && opts.has("c")) throw new CommandError("-c and -z cannot be specified at the same time");
      if (opts.has("z")) img.writeZeroes(off, len, opts.has("u"));
      else if (opts.has("c")) img.writeCompressed(new Uint8Array(len).fill(opts.has("P") ? pattern(opts.get("P")!) : 0xcd), off);
      else img.write(new Uint8Array(len).fill(opts.has("P") ? pattern(opts.get("P")!) : 0xcd), off);
      if (!opts.has("q")) ctx.out(`wrote ${len}/${len} bytes at offset ${off}`);
      stats(ctx, len, t0, opts.has("q"));
      return true;
    }
    case "discard":
    case "aio_discard": {
      const img = need(ctx);
      const { opts, rest } = parseOpts(args, "Cq", "");
      if (rest.length < 2) throw new CommandError("discard: offset and length are required");
      const off = num(rest[0]!, "offset");
      const len = num(rest[1]!, "length");
      ctx.nextRequest();
      const t0 = process.hrtime.bigint();
      if (off + len > img.virtualSize) throw new CommandError("discard failed: Input/output error");
      img.discard(off, len);
      if (!opts.has("q")) ctx.out(`discard ${len}/${len} bytes at offset ${off}`);
      stats(ctx, len, t0, opts.has("q"));
      return true;
    }
    case "flush":
    case "aio_flush":
      ctx.nextRequest();
      need(ctx).flush();
      return true;
    case "close":
      if (ctx.image) {
        ctx.nextRequest();
        ctx.image.close();
        ctx.image = null;
      }
      return true;
    case "open":
      if (!ctx.open) throw new CommandError("open is not available here");
      if (ctx.image) throw new CommandError("file open already, try 'help close'");
      if (!args.length) throw new CommandError("open: a file name is required");
      ctx.image = ctx.open(args[args.length - 1]!);
      return true;
    case "quit":
    case "q":
      return false;
    default:
      throw new CommandError(`command "${cmd}" not found`);
  }
}

/** Splits a command line like a shell (quotes, backslashes); comments start with #. */
export function splitLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      has = true;
    } else if (c === "#" && !has && cur === "") break;
    else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}
