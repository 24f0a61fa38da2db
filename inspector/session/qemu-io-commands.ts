// qemu-io 7.2's command loop over a Qcow2Image: breakline() splitting, find_command() (names and one-letter
// aliases, no prefixes), the argument-count and open-file checks, and the commands besides the data ones
// (qemu-io-rw.ts) and truncate/reopen (qemu-io-resize.ts): flush, aio_flush, discard, alloc, map, length, info,
// open, close, quit, help, sleep, abort, sigraise, and blkdebug's break family. runIoCommand() returns qemu-io's status (negative: the run exits 1).
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { CACHE_MODES, type CacheMode } from "../../engine/image/engine-config.js";
import { imageInfo, infoHuman } from "../../engine/check/info.js";
import { withForceShare } from "../../engine/storage/image-lock.js";
import { vmStateOffset } from "../../engine/image/l1-table-resize.js";
import { EINVAL, ENOTSUP, cvtnum, cvtnumError, cvtstr, getopt, report, strerror, BDRV_REQUEST_MAX_BYTES } from "./qemu-io-format.js";
import { IO_TABLE, drainAio, errnoText, findIoCommand, printUsage, refuse, runRequest, type IoContext } from "./qemu-io-context.js";
import { IO_HELP } from "./qemu-io-help.js";
import { readCmd, readvCmd, writeCmd, writevCmd } from "./qemu-io-rw.js";
import { reopenCmd, truncateCmd } from "./qemu-io-resize.js";

export type { IoContext } from "./qemu-io-context.js";

/** breakline(): words separated by single spaces (qemu_strsep on " "); no quotes, tabs stay in words. */
export function breakline(line: string): string[] {
  return line.split(" ").filter((w) => w !== "");
}

/** Runs one qemu-io command line (qemuio_command). */
export function runIoCommand(ctx: IoContext, line: string): number {
  const argv = breakline(line);
  if (!argv.length) return 0;
  const ct = findIoCommand(argv[0]!);
  if (!ct) {
    ctx.err(`command "${argv[0]}" not found`);
    return -EINVAL;
  }
  if (!ct.nofile && !ctx.image) {
    ctx.err("no file open, try 'help open'");
    return -EINVAL;
  }
  const n = argv.length - 1;
  if (n < ct.argmin || (ct.argmax !== -1 && n > ct.argmax)) {
    const cmd = argv[0];
    if (ct.argmax === -1) ctx.err(`bad argument count ${n} to ${cmd}, expected at least ${ct.argmin} arguments`);
    else if (ct.argmin === ct.argmax) ctx.err(`bad argument count ${n} to ${cmd}, expected ${ct.argmin} arguments`);
    else ctx.err(`bad argument count ${n} to ${cmd}, expected between ${ct.argmin} and ${ct.argmax} arguments`);
    return -EINVAL;
  }
  if (ct.write && ctx.readOnly) {
    ctx.err("qemu-io: Block node is read-only");
    return -1;
  }
  return dispatch(ctx, ct.name, argv);
}

function dispatch(ctx: IoContext, name: string, argv: string[]): number {
  const img = ctx.image as Qcow2Image;
  switch (name) {
    case "read":
      return readCmd(ctx, argv);
    case "readv":
      return readvCmd(ctx, argv);
    case "aio_read":
      return readvCmd(ctx, argv, true);
    case "write":
      return writeCmd(ctx, argv);
    case "writev":
      return writevCmd(ctx, argv);
    case "aio_write":
      return writevCmd(ctx, argv, true);
    case "discard":
      return discardCmd(ctx, argv);
    case "flush":
      return runRequest(ctx, "flush", (i) => i.flush(), 0, 0).ret;
    case "aio_flush":
      // blk_drain_all(): outstanding requests complete (their lines print now). It is not a flush: nothing is
      // written back, nothing reaches the disk.
      drainAio(ctx);
      return 0;
    case "length":
      ctx.out(cvtstr(img.virtualSize));
      return 0;
    case "info":
      return infoCmd(ctx, img);
    case "alloc":
      return allocCmd(ctx, img, argv);
    case "map":
      return mapCmd(ctx, img);
    case "close":
      drainAio(ctx);
      ctx.nextRequest();
      img.close();
      ctx.image = null;
      return 0;
    case "open":
      return openCmd(ctx, argv);
    case "quit":
      drainAio(ctx);
      ctx.quit = true;
      return 0;
    case "help":
      return helpCmd(ctx, argv);
    case "sleep":
      return sleepCmd(ctx, argv[1]!);
    case "abort":
      // abort(3) does not flush stdio: buffered output is lost, as in qemu-io. (process.abort() would print
      // Node's stack traces.)
      process.kill(process.pid, "SIGABRT");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);
      return 0;
    case "sigraise":
      return sigraiseCmd(ctx, argv[1]!);
    case "break":
      ctx.out(`Could not set breakpoint: ${strerror(ENOTSUP)}`);
      return -ENOTSUP;
    case "remove_break":
      ctx.out(`Could not remove breakpoint ${argv[1]}: ${strerror(ENOTSUP)}`);
      return -ENOTSUP;
    case "resume":
      ctx.out(`Could not resume request: ${strerror(ENOTSUP)}`);
      return -ENOTSUP;
    case "wait_break":
      // qemu-io would wait forever: without blkdebug no request is ever suspended.
      return refuse(ctx, "wait_break needs a blkdebug node, which qcowdbg does not model (qemu-io would wait forever)");
    case "truncate":
      return truncateCmd(ctx, argv);
    case "reopen":
      return reopenCmd(ctx, argv);
    default:
      return refuse(ctx, `${name} is not modelled by qcowdbg`);
  }
}

function discardCmd(ctx: IoContext, argv: string[]): number {
  const g = getopt(argv, "Cq");
  if (g.error) ctx.err(g.error);
  if (g.error || g.rest.length !== 2) {
    printUsage(ctx, "discard");
    return -EINVAL;
  }
  const C = g.opts.some(([f]) => f === "C");
  const q = g.opts.some(([f]) => f === "q");
  const offset = cvtnum(g.rest[0]!, ctx.err);
  if (offset < 0) return ctx.out(cvtnumError(offset, g.rest[0]!)), offset;
  const bytes = cvtnum(g.rest[1]!, ctx.err);
  if (bytes < 0) return ctx.out(cvtnumError(bytes, g.rest[1]!)), bytes;
  if (bytes > BDRV_REQUEST_MAX_BYTES) return ctx.out(`length cannot exceed ${BDRV_REQUEST_MAX_BYTES}, given ${g.rest[1]}`), -EINVAL;
  const r = runRequest(ctx, "discard", (img) => img.discard(offset, bytes), offset, bytes);
  if (r.ret < 0) return r.ret;
  if (!q) for (const l of report("discard", r.ns, offset, bytes, bytes, 1, C)) ctx.out(l);
  return 0;
}

/** bdrv_is_allocated() on the top node: bytes from offset with one answer (0 at or past the end). */
function isAllocated(img: Qcow2Image, offset: number, bytes: number): { allocated: boolean; num: number } {
  if (offset >= img.virtualSize || bytes <= 0) return { allocated: false, num: 0 };
  const st = img.blockStatus(offset, Math.min(bytes, img.virtualSize - offset));
  return { allocated: st.allocated, num: Math.min(st.bytes, bytes) };
}

function allocCmd(ctx: IoContext, img: Qcow2Image, argv: string[]): number {
  const start = cvtnum(argv[1]!, ctx.err);
  if (start < 0) return ctx.out(cvtnumError(start, argv[1]!)), start;
  let count = 512;
  if (argv.length === 3) {
    count = cvtnum(argv[2]!, ctx.err);
    if (count < 0) return ctx.out(cvtnumError(count, argv[2]!)), count;
  }
  ctx.nextRequest();
  let offset = start;
  let remaining = count;
  let sum = 0;
  while (remaining) {
    const r = isAllocated(img, offset, remaining);
    offset += r.num;
    remaining -= r.num;
    if (r.allocated) sum += r.num;
    if (r.num === 0) {
      count -= remaining;
      remaining = 0;
    }
  }
  ctx.out(`${sum}/${count} bytes allocated at offset ${cvtstr(start)}`);
  return 0;
}

function mapCmd(ctx: IoContext, img: Qcow2Image): number {
  ctx.nextRequest();
  let offset = 0;
  let bytes = img.virtualSize;
  while (bytes) {
    // map_is_allocated(): runs with the first answer merged.
    const first = isAllocated(img, offset, bytes);
    const allocated = first.allocated;
    let num = first.num;
    for (let o = offset + num, left = bytes - num; left > 0; ) {
      const next = isAllocated(img, o, left);
      if (next.allocated !== allocated || !next.num) break;
      num += next.num;
      o += next.num;
      left -= next.num;
    }
    if (!num) {
      ctx.err("qemu-io: Unexpected end of image");
      return -5;
    }
    ctx.out(`${cvtstr(num)} (0x${num.toString(16)}) bytes ${allocated ? "    allocated" : "not allocated"} at offset ${cvtstr(offset)} (0x${offset.toString(16)})`);
    offset += num;
    bytes -= num;
  }
  return 0;
}

function infoCmd(ctx: IoContext, img: Qcow2Image): number {
  ctx.out("format name: qcow2");
  ctx.out(`cluster size: ${cvtstr(img.clusterSize)}`);
  ctx.out(`vm state offset: ${cvtstr(vmStateOffset(img))}`);
  // The image is open here already (with the write lock under --write): this second look shares every permission.
  const text = infoHuman(withForceShare(() => imageInfo(img.filename)));
  const at = text.indexOf("Format specific information:");
  if (at >= 0) for (const l of text.slice(at).replace(/\n$/, "").split("\n")) ctx.out(l);
  return 0;
}

/** QEMU 7.2's block drivers (qemu-img --help's "Supported formats"): a backing.driver outside them is unknown. */
const QEMU_DRIVERS = new Set(
  "blkdebug blklogwrites blkverify bochs cloop compress copy-before-write copy-on-read dmg file ftp ftps gluster host_cdrom host_device http https iscsi iser luks nbd nfs null-aio null-co nvme parallels preallocate qcow qcow2 qed quorum raw rbd replication snapshot-access ssh throttle vdi vhdx vmdk vpc vvfat".split(" "),
);

function openCmd(ctx: IoContext, argv: string[]): number {
  const g = getopt(argv, "snCro:ki:t:d:U");
  if (g.error) ctx.err(g.error);
  if (g.error || g.rest.length > 1) {
    printUsage(ctx, "open");
    return -EINVAL;
  }
  // Without a path, bdrv_open takes the file from the options: QEMU's messages then name no device.
  const fromOptions = g.rest.length === 0;
  const device = fromOptions ? "can't open" : `can't open device ${g.rest[0]}`;
  const unsupported = g.opts.find(([f]) => "sid".includes(f));
  if (unsupported) return refuse(ctx, `open -${unsupported[0]} is not modelled by qcowdbg; open FILE with -r, -C, -k, -n, -t, -o or -U`);
  // -o: qcow2's runtime options (l2-cache-size, lazy-refcounts, ...) as engine options; the driver must be qcow2.
  const engineOpts: string[] = [];
  const names: { top?: string; file?: string; backing?: string } = {};
  let backingFormat: "qcow2" | "raw" | undefined;
  const given: { driver?: boolean; fileDriver?: boolean; fileName?: string } = {};
  for (const [f, v] of g.opts) {
    if (f !== "o") continue;
    for (const part of v.split(",").filter(Boolean)) {
      if (part === "driver=qcow2" || part === "file.driver=file") {
        given[part.startsWith("file.") ? "fileDriver" : "driver"] = true;
        continue;
      }
      // The image named by its protocol node's options instead of a path (open -o driver=qcow2,file.filename=X).
      const fileName = /^file\.filename=(.*)$/.exec(part);
      if (fileName) {
        given.fileName = fileName[1]!;
        continue;
      }
      // Node names only label the nodes (QEMU's messages name them; a reopen may repeat them but not change them).
      const named = /^(node-name|file\.node-name|backing\.node-name)=(.*)$/.exec(part);
      if (named) {
        if (!/^[A-Za-z][A-Za-z0-9_.-]{0,30}$/.test(named[2]!)) return refuse(ctx, `open -o ${part}: a node name is a letter then up to 30 letters, digits, '-', '.' or '_'`);
        names[named[1] === "node-name" ? "top" : named[1] === "file.node-name" ? "file" : "backing"] = named[2]!;
        continue;
      }
      // backing.driver: the backing node's format over the image's own record of it (qcow2 and raw are modelled).
      const backingDriver = /^backing\.driver=(.*)$/.exec(part);
      if (backingDriver) {
        const d = backingDriver[1]!;
        if (d === "qcow2" || d === "raw") backingFormat = d;
        else if (QEMU_DRIVERS.has(d)) return refuse(ctx, `open -o ${part}: only qcow2 and raw backing nodes are modelled`);
        else {
          ctx.err(`qemu-io: ${device}: Could not open backing file: Unknown driver '${d}'`);
          return -EINVAL;
        }
        continue;
      }
      if (/^(driver|file\.|backing)/.test(part)) return refuse(ctx, `open -o ${part}: only qcow2's own options are modelled (l2-cache-size, refcount-cache-size, cache-size, l2-cache-entry-size, lazy-refcounts, discard)`);
      engineOpts.push(part);
    }
  }
  // open_f's own defaults, whatever the command line said: writethrough; -n is none; -t MODE as given.
  let mode: CacheMode = "writethrough";
  for (const [f, v] of g.opts) {
    if (f === "n") mode = "none";
    else if (f === "t") {
      const m = v === "off" ? "none" : v;
      if (!(CACHE_MODES as string[]).includes(m)) {
        ctx.err(`qemu-io: Invalid cache option: ${v}`);
        return -EINVAL;
      }
      mode = m as CacheMode;
    }
  }
  if (ctx.image) {
    ctx.err("qemu-io: file open already, try 'help close'");
    return -EINVAL;
  }
  if (!ctx.open) return refuse(ctx, "open is not available here");
  if (!fromOptions && given.fileName !== undefined) {
    ctx.err(`qemu-io: ${device}: Can't specify 'file' and 'filename' options at the same time`);
    return -EINVAL;
  }
  if (fromOptions && given.fileName === undefined) {
    const why = !given.driver && !given.fileDriver ? "Must specify either driver or file" : given.fileDriver ? "The 'file' block driver requires a file name" : 'A block device must be specified for "file"';
    ctx.err(`qemu-io: ${device}: ${why}`);
    return -EINVAL;
  }
  const path = fromOptions ? given.fileName! : g.rest[0]!;
  const readOnly = g.opts.some(([f]) => f === "r");
  const cor = g.opts.some(([f]) => f === "C");
  if (cor && readOnly) {
    ctx.err(`qemu-io: ${device}: Can't use copy-on-read on read-only device`);
    return -EINVAL;
  }
  try {
    const img = ctx.open(path, readOnly, mode, engineOpts.join(","), backingFormat);
    if (backingFormat !== undefined && !img.backing) {
      // QEMU opens a backing node from the options alone, and it has no file name.
      img.close();
      ctx.err(`qemu-io: ${device}: Could not open backing file: A block device must be specified for "file"`);
      return -EINVAL;
    }
    if (names.backing !== undefined && !img.backing) {
      img.close();
      return refuse(ctx, `open -o backing.node-name: ${path} has no backing file`);
    }
    ctx.image = img;
    ctx.readOnly = readOnly;
    ctx.copyOnRead = cor;
    ctx.givenNodeNames = names;
    if (names.top !== undefined) ctx.nodeName = names.top;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code ? `Could not open '${path}': ${errnoText(e)}` : e instanceof Error ? e.message : String(e);
    ctx.err(`qemu-io: ${device}: ${why}`);
    return -EINVAL;
  }
  return 0;
}

function helpCmd(ctx: IoContext, argv: string[]): number {
  const line = (name: string, c: (typeof IO_TABLE)[number]) => `${name} ${c.args !== undefined ? c.args + " " : ""}-- ${c.oneline}`;
  if (argv.length < 2) {
    for (const c of IO_TABLE) ctx.out(line(c.name, c));
    ctx.out("");
    ctx.out("Use 'help commandname' for extended help.");
    if (ctx.interactive) ctx.out("qcowdbg: the debugger's own commands (events, stats, info, break, step, ...) take a leading ':' in");
    if (ctx.interactive) ctx.out("qemu-io scripts and at the qemu-io> prompt, e.g. ':help', ':info l1', ':events qemu'.");
    return 0;
  }
  const c = findIoCommand(argv[1]!);
  if (!c) {
    ctx.out(`command ${argv[1]} not found`);
    return -EINVAL;
  }
  ctx.out(line(argv[1]!, c));
  const more = IO_HELP[c.name];
  if (more) for (const l of more.replace(/\n$/, "").split("\n")) ctx.out(l);
  return 0;
}

function sleepCmd(ctx: IoContext, arg: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(arg);
  const v = m ? (m[1] === "-" ? -1 : 1) * Number(/^0[0-7]+$/.test(m[2]!) ? parseInt(m[2]!, 8) : m[2]!) : NaN;
  if (!(v >= 0)) {
    ctx.out(`${arg} is not a valid number`);
    return -EINVAL;
  }
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, v);
  return 0;
}

function sigraiseCmd(ctx: IoContext, arg: string): number {
  const sig = cvtnum(arg, ctx.err);
  if (sig < 0) return ctx.out(cvtnumError(sig, arg)), sig;
  if (sig > 65) {
    ctx.out(`signal argument '${arg}' is too large to be a valid signal`);
    return -EINVAL;
  }
  ctx.flushOutput?.();
  if (sig) process.kill(process.pid, sig);
  return 0;
}
