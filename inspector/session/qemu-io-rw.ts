// qemu-io 7.2's data commands over a Qcow2Image: read, readv, write, writev, aio_read, aio_write, with
// qemu-io's options, checks and messages in its order (qemu-io-cmds.c read_f ... aio_write_f). Each returns
// qemu-io's status: 0, or a negative errno that makes the run exit 1.
import * as fs from "node:fs";
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { copyOnRead } from "../../engine/image/copy-on-read.js";
import { BDRV_REQUEST_MAX_BYTES, EINVAL, cvtnum, cvtnumError, dumpBuffer, getopt, parsePattern, report } from "./qemu-io-format.js";
import { deferredOutput, errnoText, printUsage, runRequest, type IoContext } from "./qemu-io-context.js";

type Usage = () => number;

function usageFor(ctx: IoContext, name: string): Usage {
  return () => {
    printUsage(ctx, name);
    return -EINVAL;
  };
}

/** Parses one size operand; prints qemu-io's parsing error and yields a negative errno when it is not one. */
function size(ctx: IoContext, arg: string): number {
  const v = cvtnum(arg, ctx.err);
  if (v < 0) ctx.out(cvtnumError(v, arg));
  return v;
}

/** create_iovec(): the lengths of a vectored request; null (message printed) when one is bad. */
function iovec(ctx: IoContext, args: string[]): number[] | null {
  const sizes: number[] = [];
  let count = 0;
  for (const arg of args) {
    const len = cvtnum(arg, ctx.err);
    if (len < 0) {
      ctx.out(cvtnumError(len, arg));
      return null;
    }
    if (len > BDRV_REQUEST_MAX_BYTES) {
      ctx.out(`Argument '${arg}' exceeds maximum size ${BDRV_REQUEST_MAX_BYTES}`);
      return null;
    }
    if (count > BDRV_REQUEST_MAX_BYTES - len) {
      ctx.out(`The total number of bytes exceed the maximum size ${BDRV_REQUEST_MAX_BYTES}`);
      return null;
    }
    sizes.push(len);
    count += len;
  }
  return sizes;
}

function guestRead(ctx: IoContext, img: Qcow2Image, buf: Uint8Array, offset: number): void {
  if (ctx.copyOnRead) copyOnRead(img, buf, offset);
  else img.read(buf, offset);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function sectorAligned(ctx: IoContext, offset: number, count: number): boolean {
  if (offset % 512) ctx.out(`${offset} is not a sector-aligned value for 'offset'`);
  else if (count % 512) ctx.out(`${count} is not a sector-aligned value for 'count'`);
  else return true;
  return false;
}

function patternMismatch(buf: Uint8Array, from: number, count: number, pattern: number): boolean {
  for (let i = from; i < from + count; i++) if (buf[i] !== pattern) return true;
  return false;
}

// readCmd and writeCmd open alike (`duplicates` pairs them) because qemu-io's read_f and write_f do: each parses
// its own option set and reports its own usage, as qemu-io does, so they are kept apart on purpose.
export function readCmd(ctx: IoContext, argv: string[]): number {
  const usage = usageFor(ctx, "read");
  const g = getopt(argv, "bCl:pP:qs:v");
  if (g.error) ctx.err(g.error);
  if (g.error) return usage();
  let b = false, C = false, P = false, q = false, v = false, l = false, s = false;
  let pattern = 0, pOff = 0, pCount = 0;
  for (const [f, val] of g.opts) {
    if (f === "b") b = true;
    else if (f === "C") C = true;
    else if (f === "l") {
      l = true;
      pCount = size(ctx, val);
      if (pCount < 0) return pCount;
    } else if (f === "P") {
      P = true;
      const p = parsePattern(val);
      if (p === null) return ctx.out(`${val} is not a valid pattern byte`), -EINVAL;
      pattern = p;
    } else if (f === "q") q = true;
    else if (f === "s") {
      s = true;
      pOff = size(ctx, val);
      if (pOff < 0) return pOff;
    } else if (f === "v") v = true;
  }
  if (g.rest.length !== 2) return usage();
  const offset = size(ctx, g.rest[0]!);
  if (offset < 0) return offset;
  const count = size(ctx, g.rest[1]!);
  if (count < 0) return count;
  if (count > BDRV_REQUEST_MAX_BYTES) return ctx.out(`length cannot exceed ${BDRV_REQUEST_MAX_BYTES}, given ${g.rest[1]}`), -EINVAL;
  if (!P && (l || s)) return usage();
  if (!l) pCount = count - pOff;
  if (pCount < 0 || pCount + pOff > count) return ctx.out("pattern verification range exceeds end of read data"), -EINVAL;
  if (b && !sectorAligned(ctx, offset, count)) return -EINVAL;
  const buf = new Uint8Array(count).fill(0xab);
  // -b: the VM state, read by the driver itself (no copy-on-read, no bounds but the L1 table's).
  const r = runRequest(ctx, "read", (img) => (b ? img.loadVmState(buf, offset) : guestRead(ctx, img, buf, offset)), offset, count, b);
  if (r.ret < 0) return r.ret;
  let ret = 0;
  if (P && patternMismatch(buf, pOff, pCount, pattern)) {
    ctx.out(`Pattern verification failed at offset ${offset + pOff}, ${pCount} bytes`);
    ret = -EINVAL;
  }
  if (q) return ret;
  if (v) for (const line of dumpBuffer(buf, offset)) ctx.out(line);
  for (const line of report("read", r.ns, offset, count, count, 1, C)) ctx.out(line);
  return ret;
}

export function readvCmd(ctx: IoContext, argv: string[], aio = false): number {
  const name = aio ? "aio_read" : "readv";
  const usage = usageFor(ctx, name);
  const g = getopt(argv, aio ? "CP:iqv" : "CP:qv");
  if (g.error) ctx.err(g.error);
  if (g.error) return usage();
  let C = false, P = false, q = false, v = false;
  let pattern = 0;
  for (const [f, val] of g.opts) {
    if (f === "C") C = true;
    else if (f === "P") {
      P = true;
      const p = parsePattern(val);
      if (p === null) return ctx.out(`${val} is not a valid pattern byte`), -EINVAL;
      pattern = p;
    } else if (f === "i") {
      // Only the block layer's accounting would notice; qemu-io says so and submits nothing.
      ctx.out("injecting invalid read request");
      return 0;
    } else if (f === "q") q = true;
    else if (f === "v") v = true;
  }
  if (g.rest.length < 2) return usage();
  const offset = size(ctx, g.rest[0]!);
  if (offset < 0) return offset;
  const sizes = iovec(ctx, g.rest.slice(1));
  if (!sizes) return -EINVAL;
  const count = sum(sizes);
  const buf = new Uint8Array(count).fill(0xab);
  // Past submission, an AIO request's lines wait for its completion (the next drain).
  const deferred = aio ? deferredOutput(ctx) : null;
  if (deferred) ctx = deferred.ctx;
  const r = runRequest(ctx, "readv", (img) => guestRead(ctx, img, buf, offset), offset, count);
  if (deferred && r.ret < 0) deferred.completion.quick = true;
  // An AIO request is submitted successfully whatever becomes of it (aio_read_done reports, the command returned 0).
  if (r.ret < 0) return aio ? 0 : r.ret;
  let ret = 0;
  if (P && patternMismatch(buf, 0, count, pattern)) {
    ctx.out(`Pattern verification failed at offset ${offset}, ${count} bytes`);
    if (!aio) ret = -EINVAL;
  }
  if (q) return ret;
  if (v) for (const line of dumpBuffer(buf, offset)) ctx.out(line);
  for (const line of report("read", r.ns, offset, count, count, 1, C)) ctx.out(line);
  return ret;
}

/** qemu_io_alloc_from_file(): the file's first LEN bytes, repeated when it is shorter. */
function fromFile(ctx: IoContext, file: string, len: number): Uint8Array | null {
  let data: Buffer;
  try {
    const fd = fs.openSync(file, "r");
    try {
      data = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const n = fs.readSync(fd, data, got, len - got, null);
        if (!n) break;
        got += n;
      }
      data = data.subarray(0, got);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    ctx.err(`${file}: ${errnoText(e)}`);
    return null;
  }
  if (!data.length) {
    ctx.err(`${file}: file is empty`);
    return null;
  }
  const buf = new Uint8Array(len);
  for (let o = 0; o < len; o += data.length) buf.set(data.subarray(0, Math.min(data.length, len - o)), o);
  return buf;
}

export function writeCmd(ctx: IoContext, argv: string[]): number {
  const usage = usageFor(ctx, "write");
  const g = getopt(argv, "bcCfnpP:qs:uz");
  if (g.error) ctx.err(g.error);
  if (g.error) return usage();
  let b = false, c = false, C = false, fua = false, n = false, P = false, q = false, s = false, u = false, z = false;
  let pattern = 0xcd;
  let file = "";
  for (const [f, val] of g.opts) {
    if (f === "b") b = true;
    else if (f === "c") c = true;
    else if (f === "C") C = true;
    else if (f === "f") fua = true;
    else if (f === "n") n = true;
    else if (f === "P") {
      P = true;
      const p = parsePattern(val);
      if (p === null) return ctx.out(`${val} is not a valid pattern byte`), -EINVAL;
      pattern = p;
    } else if (f === "q") q = true;
    else if (f === "s") {
      s = true;
      file = val;
    } else if (f === "u") u = true;
    else if (f === "z") z = true;
  }
  if (g.rest.length !== 2) return usage();
  if (b && z) return ctx.out("-b and -z cannot be specified at the same time"), -EINVAL;
  if (fua && (b || c)) return ctx.out("-f and -b or -c cannot be specified at the same time"), -EINVAL;
  if (n && !z) return ctx.out("-n requires -z to be specified"), -EINVAL;
  if (u && !z) return ctx.out("-u requires -z to be specified"), -EINVAL;
  if (Number(z) + Number(P) + Number(s) > 1) return ctx.out("Only one of -z, -P, and -s can be specified at the same time"), -EINVAL;
  const offset = size(ctx, g.rest[0]!);
  if (offset < 0) return offset;
  const count = size(ctx, g.rest[1]!);
  if (count < 0) return count;
  if (count > BDRV_REQUEST_MAX_BYTES && !n) return ctx.out(`length cannot exceed ${BDRV_REQUEST_MAX_BYTES} without -n, given ${g.rest[1]}`), -EINVAL;
  if ((b || c) && !sectorAligned(ctx, offset, count)) return -EINVAL;
  let buf: Uint8Array | null = null;
  if (!z) {
    buf = s ? fromFile(ctx, file, count) : new Uint8Array(count).fill(pattern);
    if (!buf) return -EINVAL;
  }
  const data = buf;
  const r = runRequest(ctx, "write", (img) => {
    if (b) img.saveVmState(data!, offset);
    else if (z) img.writeZeroes(offset, count, u, n);
    else if (c) img.writeCompressed(data!, offset);
    else img.write(data!, offset);
    if (fua) emulateFua(img);
  }, offset, count, b);
  if (r.ret < 0) return r.ret;
  if (q) return 0;
  for (const line of report("wrote", r.ns, offset, count, count, 1, C)) ctx.out(line);
  return 0;
}

/**
 * BDRV_REQ_FUA on qcow2 (no native FUA): the block layer flushes the node after the write. Writethrough and
 * directsync set FUA on every write already, and the engine's write does that flush.
 */
function emulateFua(img: Qcow2Image): void {
  const mode = img.config.cacheMode;
  if (mode !== "writethrough" && mode !== "directsync") img.flush();
}

export function writevCmd(ctx: IoContext, argv: string[], aio = false): number {
  const name = aio ? "aio_write" : "writev";
  const usage = usageFor(ctx, name);
  const g = getopt(argv, aio ? "CfiqP:uz" : "CfqP:");
  if (g.error) ctx.err(g.error);
  if (g.error) return usage();
  let C = false, fua = false, q = false, u = false, z = false;
  let pattern = 0xcd;
  for (const [f, val] of g.opts) {
    if (f === "C") C = true;
    else if (f === "f") fua = true;
    else if (f === "q") q = true;
    else if (f === "u") u = true;
    else if (f === "z") z = true;
    else if (f === "P") {
      const p = parsePattern(val);
      if (p === null) return ctx.out(`${val} is not a valid pattern byte`), -EINVAL;
      pattern = p;
    } else if (f === "i") {
      ctx.out("injecting invalid write request");
      return 0;
    }
  }
  if (g.rest.length < 2) return usage();
  if (z && g.rest.length !== 2) return ctx.out("-z supports only a single length parameter"), -EINVAL;
  if (u && !z) return ctx.out("-u requires -z to be specified"), -EINVAL;
  // aio_write never sets its Pflag, so qemu-io 7.2 lets -z and -P through together (-z wins).
  const offset = size(ctx, g.rest[0]!);
  if (offset < 0) return offset;
  let count: number;
  if (z) {
    count = size(ctx, g.rest[1]!);
    if (count < 0) return count;
  } else {
    const sizes = iovec(ctx, g.rest.slice(1));
    if (!sizes) return -EINVAL;
    count = sum(sizes);
  }
  const deferred = aio ? deferredOutput(ctx) : null;
  if (deferred) ctx = deferred.ctx;
  const r = runRequest(ctx, aio ? "aio_write" : "writev", (img) => {
    if (z) img.writeZeroes(offset, count, u);
    else img.write(new Uint8Array(count).fill(pattern), offset);
    if (fua) emulateFua(img);
  }, offset, count);
  if (deferred && r.ret < 0) deferred.completion.quick = true;
  if (r.ret < 0) return aio ? 0 : r.ret;
  if (q) return 0;
  for (const line of report("wrote", r.ns, offset, count, count, 1, C)) ctx.out(line);
  return 0;
}
