// What a qemu-io command runs against (the open image, stdout and stderr lines, the request counter) and
// qemu-io 7.2's command table: names, one-letter aliases, argument counts and usage lines, as qemu-io-cmds.c
// and qemu-io.c declare them. One request runs through runRequest(), which maps engine failures to errnos.
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import type { CacheMode } from "../../engine/image/engine-config.js";
import { GuestIoError } from "../../engine/image/guest-io-error.js";
import { UnsupportedError } from "../../engine/format/format-error.js";
import { EFBIG, EINVAL, EIO, ENOMEDIUM, ENOTSUP, strerror } from "./qemu-io-format.js";

export interface IoContext {
  image: Qcow2Image | null;
  /** qemu-io's stdout (printf) lines. */
  out: (line: string) => void;
  /** qemu-io's stderr (fprintf(stderr), error_report) lines. */
  err: (line: string) => void;
  /** Start a new request id for the event recorder (one per command, as qemu-io runs one coroutine each). */
  nextRequest: () => void;
  /** `open [-r] [-t MODE] [-o OPTS] FILE`: a new image over the same engine options, in that cache mode, with OPTS. */
  open?: (path: string, readOnly: boolean, cacheMode: CacheMode, engineOpts?: string, backingFormat?: "qcow2" | "raw") => Qcow2Image;
  /** -r: write commands fail as qemu-io's permission check fails them. */
  readOnly: boolean;
  /** -C: reads copy what the top image does not allocate into it (engine/image/copy-on-read.ts). */
  copyOnRead?: boolean;
  /** The top node's name, as QEMU's messages show it: open -o node-name=NAME, else auto-generated ('#block' + a session counter + 2 random digits). */
  nodeName?: string;
  /** Node names given with open -o (node-name, file.node-name, backing.node-name): a reopen may repeat, not change, them. */
  givenNodeNames?: { top?: string; file?: string; backing?: string };
  /** Set by `quit`. */
  quit: boolean;
  /** At a terminal (help adds a line on the debugger's commands). */
  interactive?: boolean;
  /** Writes out buffered stdout before abort and sigraise (qemu-io fflush()es there). */
  flushOutput?: () => void;
  /**
   * What AIO requests print on completion, held until qemu-io would print it: a request that waited for I/O
   * completes at the next drain (aio_flush, close, exit); one that did not, in a bottom half that runs when qemu-io
   * waits for its next stdin line (after that line's prompt) or at the next drain.
   */
  pendingAio?: AioCompletion[];
}

/** One AIO request's completion output; `quick`: it completed without waiting for I/O (a bottom half). */
export interface AioCompletion {
  lines: string[];
  quick: boolean;
}

/** A view of ctx whose stdout lines wait for the request's completion (an AIO request's output). */
export function deferredOutput(ctx: IoContext): { ctx: IoContext; completion: AioCompletion } {
  const completion: AioCompletion = { lines: [], quick: false };
  (ctx.pendingAio ??= []).push(completion);
  const view = new Proxy(ctx, { get: (t, k) => (k === "out" ? (l: string) => void completion.lines.push(l) : Reflect.get(t, k)) });
  return { ctx: view, completion };
}

/** Prints held completions: all of them (blk_drain_all), or only the bottom halves (the main loop's wait for stdin). */
export function drainAio(ctx: IoContext, onlyQuick = false): void {
  const held = ctx.pendingAio;
  if (!held?.length) return;
  const now = held.filter((c) => c.quick || !onlyQuick);
  ctx.pendingAio = held.filter((c) => !now.includes(c));
  for (const c of [...now.filter((c) => c.quick), ...now.filter((c) => !c.quick)]) for (const l of c.lines) ctx.out(l);
}

export interface IoCommandInfo {
  name: string;
  alt?: string;
  argmin: number;
  argmax: number;
  /** CMD_FLAG_GLOBAL / CMD_NOFILE_OK: runs without an open image. */
  nofile?: boolean;
  /** BLK_PERM_WRITE: refused on a read-only image. */
  write?: boolean;
  args?: string;
  oneline: string;
}

const t = (name: string, alt: string | undefined, argmin: number, argmax: number, args: string | undefined, oneline: string, extra: Partial<IoCommandInfo> = {}): IoCommandInfo => ({
  name,
  ...(alt ? { alt } : {}),
  argmin,
  argmax,
  ...(args !== undefined ? { args } : {}),
  oneline,
  ...extra,
});

/** qemu-io 7.2's commands, sorted by name as qemuio_add_command keeps them (help lists them in this order). */
export const IO_TABLE: readonly IoCommandInfo[] = [
  t("abort", undefined, 0, 0, undefined, "simulate a program crash using abort(3)", { nofile: true }),
  t("aio_flush", undefined, 0, 0, undefined, "completes all outstanding aio requests"),
  t("aio_read", undefined, 2, -1, "[-Ciqv] [-P pattern] off len [len..]", "asynchronously reads a number of bytes"),
  t("aio_write", undefined, 2, -1, "[-Cfiquz] [-P pattern] off len [len..]", "asynchronously writes a number of bytes", { write: true }),
  t("alloc", "a", 1, 2, "offset [count]", "checks if offset is allocated in the file"),
  t("break", undefined, 2, 2, "event tag", "sets a breakpoint on event and tags the stopped request as tag"),
  t("close", "c", 0, 0, undefined, "close the current open file"),
  t("discard", "d", 2, -1, "[-Cq] off len", "discards a number of bytes at a specified offset", { write: true }),
  t("flush", "f", 0, 0, undefined, "flush all in-core file state to disk"),
  t("help", "?", 0, 1, "[command]", "help for one or all commands", { nofile: true }),
  t("info", "i", 0, 0, undefined, "prints information about the current file"),
  t("length", "l", 0, 0, undefined, "gets the length of the current file"),
  t("map", undefined, 0, 0, "", "prints the allocated areas of a file"),
  t("open", "o", 1, -1, "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]", "open the file specified by path", { nofile: true }),
  t("quit", "q", -1, -1, undefined, "exit the program", { nofile: true }),
  t("read", "r", 2, -1, "[-abCqv] [-P pattern [-s off] [-l len]] off len", "reads a number of bytes at a specified offset"),
  t("readv", undefined, 2, -1, "[-Cqv] [-P pattern] off len [len..]", "reads a number of bytes at a specified offset"),
  t("remove_break", undefined, 1, 1, "tag", "remove a breakpoint by tag"),
  t("reopen", undefined, 0, -1, "[(-r|-w)] [-c cache] [-o options]", "reopens an image with new options"),
  t("resume", undefined, 1, 1, "tag", "resumes the request tagged as tag"),
  t("sigraise", undefined, 1, 1, "signal", "raises a signal", { nofile: true }),
  t("sleep", undefined, 1, 1, undefined, "waits for the given value in milliseconds", { nofile: true }),
  t("truncate", "t", 1, 3, "[-m prealloc_mode] off", "truncates the current file at the given offset", { write: true }),
  t("wait_break", undefined, 1, 1, "tag", "waits for the suspension of a request"),
  t("write", "w", 2, -1, "[-bcCfnquz] [-P pattern | -s source_file] off len", "writes a number of bytes at a specified offset", { write: true }),
  t("writev", undefined, 2, -1, "[-Cfq] [-P pattern] off len [len..]", "writes a number of bytes at a specified offset", { write: true }),
];

/** find_command(): the exact name or the one alias; qemu-io knows no prefixes. */
export function findIoCommand(word: string): IoCommandInfo | undefined {
  return IO_TABLE.find((c) => c.name === word || c.alt === word);
}

/** qemuio_command_usage(): "name args -- oneline" on stdout. */
export function printUsage(ctx: IoContext, name: string): void {
  const c = IO_TABLE.find((x) => x.name === name)!;
  ctx.out(`${c.name} ${c.args ?? "(null)"} -- ${c.oneline}`);
}

/** A qemu-io feature qcowdbg does not model: said on stderr, and the command fails (exit status 1). */
export function refuse(ctx: IoContext, message: string): number {
  ctx.err(`qcowdbg: ${message}`);
  return -ENOTSUP;
}

/** perror()'s text for a Node file-system error. */
export function errnoText(e: unknown): string {
  const code = (e as { code?: string }).code;
  const texts: Record<string, string> = {
    ENOENT: "No such file or directory",
    EACCES: "Permission denied",
    EISDIR: "Is a directory",
    ENOTDIR: "Not a directory",
    ELOOP: "Too many levels of symbolic links",
  };
  return (code && texts[code]) ?? (e instanceof Error ? e.message : String(e));
}

function guestErrno(e: unknown): number | null {
  if (e instanceof GuestIoError) {
    const errnos: Record<GuestIoError["errno"], number> = { EIO: -EIO, EINVAL: -EINVAL, ENOTSUP: -ENOTSUP, ENOMEDIUM: -ENOMEDIUM, EFBIG: -EFBIG };
    return errnos[e.errno];
  }
  if (e instanceof RangeError) return -EIO;
  return null;
}

/**
 * One guest request as qemu-io issues it: blk_check_byte_request's range check (-EIO), the engine call, and the
 * time it took. A failure prints "<op> failed: <strerror>" and returns its negative errno.
 */
export function runRequest(ctx: IoContext, op: string, fn: (img: Qcow2Image) => void, offset: number, bytes: number, vmState = false): { ret: number; ns: bigint } {
  const img = ctx.image!;
  ctx.nextRequest();
  const t0 = process.hrtime.bigint();
  let ret = 0;
  // blk_check_byte_request asks whether the node is usable before the range: past the end of a node a corruption
  // made unusable (bs->drv NULL) the request fails with ENOMEDIUM, not EIO (in range, the engine answers that).
  // The VM state (read -b, write -b) is not bounded by the virtual size: it lives past it.
  if (!vmState && offset > img.virtualSize - bytes) ret = img.rt.unusable ? -ENOMEDIUM : -EIO;
  else {
    try {
      fn(img);
    } catch (e) {
      if (e instanceof UnsupportedError) {
        ctx.err(`qcowdbg: ${e.message}`);
        ret = -ENOTSUP;
      } else {
        const errno = guestErrno(e);
        if (errno === null) throw e;
        ret = errno;
      }
    }
  }
  const ns = process.hrtime.bigint() - t0;
  if (ret < 0) ctx.out(`${op} failed: ${strerror(-ret)}`);
  return { ret, ns: ns > 0n ? ns : 1n };
}
