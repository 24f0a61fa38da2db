// qemu-io 7.2's command-line options for `qcowdbg repl IMAGE`, turned into engine options with qemu-io's
// messages: -t/--cache MODE (bdrv_parse_cache_mode), -n, -d, --image-opts, -T/--trace; and qemu-io's stdout
// buffering (full buffering on a pipe or file, so stdout and stderr interleave as qemu-io's do under 2>&1).
import * as fs from "node:fs";
import type { CacheMode } from "../engine/image/engine-config.js";
import { ExitError } from "./fail.js";
import { imageOptKey, imageOptValueError, qemuBool } from "./image-opts-keys.js";
import { optionItems } from "./option-string.js";

/** bdrv_parse_cache_mode(): qemu-io's names for the cache modes ("off" is none). */
export function parseCacheMode(mode: string): CacheMode {
  const m = mode === "off" ? "none" : mode;
  if (!["writeback", "writethrough", "none", "directsync", "unsafe"].includes(m)) throw new ExitError(`Invalid cache option: ${mode}`, 1);
  return m as CacheMode;
}

/** bdrv_parse_discard_flags(): "unmap"/"on" pass discards down (the default), "ignore"/"off" do not. */
export function parseDiscard(mode: string): string {
  if (mode === "on" || mode === "unmap") return "discard=unmap";
  if (mode === "off" || mode === "ignore") return "discard=ignore";
  throw new ExitError(`Invalid discard option: ${mode}`, 1);
}

/** bdrv_parse_aio(): accepted and without effect on the engine (it has no I/O threads). */
export function checkAio(mode: string): void {
  if (!["threads", "native", "io_uring"].includes(mode)) throw new ExitError(`Invalid aio option: ${mode}`, 1);
}

/**
 * --image-opts: the image argument is "key=value,..." with "file" implied (file_opts). The file name and the
 * qcow2 driver come from it; cache and qcow2 options become engine options.
 */
export function parseImageOpts(spec: string): { file: string; engine: string[] } {
  const engine: string[] = [];
  let file: string | undefined;
  let first = true;
  for (const part of splitOpts(spec)) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? (first ? "file" : part) : part.slice(0, eq);
    const val = eq < 0 ? (first ? part : "on") : part.slice(eq + 1);
    first = false;
    const def = imageOptKey(key);
    // A value QEMU refuses is refused in qemu-io's words (and hint), whichever key it is.
    const bad = def && imageOptValueError(key, def, val);
    if (bad) throw new ExitError(`can't open: ${bad.error}`, 1, bad.hint);
    if (key === "driver") {
      if (val !== "qcow2") throw new ExitError(`--image-opts: driver '${val}' is not supported (qcowdbg reads qcow2 images)`, 1);
    } else if (def?.layer === "filename") file = val;
    else if (key === "file.driver") {
      if (val !== "file") throw new ExitError(`--image-opts: file.driver '${val}' is not supported (only local files)`, 1);
    } else if (def?.engine) engine.push(`${key}=${def.value === "on-off" ? (qemuBool(val) ? "on" : "off") : val}`);
    else if (def?.offOnly) {
      // Cache flags are given with -t here; the defaults (off) are what -t writethrough/writeback mean.
      if (qemuBool(val) !== false) throw new ExitError(`--image-opts: ${key}=${val} is not supported; use -t MODE`, 1);
    } else throw new ExitError(`--image-opts: option '${key}' is not supported`, 1);
  }
  if (!file) throw new ExitError("--image-opts: no file given (file=PATH or file.filename=PATH)", 1);
  return { file, engine };
}

/** QemuOpts syntax: ',' separates, ",," is a literal comma. */
function splitOpts(spec: string): string[] {
  return optionItems(spec).filter((p) => p !== "");
}

/** -T/--trace: [enable=]PATTERN[,events=FILE][,file=FILE] (several -T add up), as trace_opt_parse reads them. */
export interface TraceSpec {
  patterns: RegExp[];
  file?: string;
}

export function parseTraceOption(spec: string, into: TraceSpec): TraceSpec {
  for (const part of splitOpts(spec)) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? "enable" : part.slice(0, eq);
    const val = eq < 0 ? part : part.slice(eq + 1);
    if (key === "enable") into.patterns.push(glob(val));
    else if (key === "file") into.file = val;
    else if (key === "events") {
      let text: string;
      try {
        text = fs.readFileSync(val, "utf8");
      } catch (e) {
        throw new ExitError(`cannot read trace events file ${val}: ${(e as Error).message}`, 1);
      }
      for (const l of text.split("\n").map((x) => x.trim())) if (l && !l.startsWith("#")) into.patterns.push(glob(l));
    } else throw new ExitError(`Invalid parameter '${key}' for --trace`, 1);
  }
  return into;
}

function glob(p: string): RegExp {
  return new RegExp("^" + p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
}

/**
 * qemu-io's stdout: line buffered at a terminal, fully buffered (4096 bytes) on a pipe or a file. Under 2>&1 its
 * stderr lines therefore come before the stdout they followed; scripts and iotests see that order.
 */
export class StdoutBuffer {
  private pending: Buffer[] = [];
  private size = 0;

  constructor(private readonly fd = 1, private readonly lineBuffered = Boolean(process.stdout.isTTY), private readonly capacity = 4096) {}

  write(text: string): void {
    if (this.lineBuffered) {
      fs.writeSync(this.fd, text);
      return;
    }
    let b = Buffer.from(text, "utf8");
    while (b.length) {
      const room = this.capacity - this.size;
      const chunk = b.subarray(0, room);
      this.pending.push(chunk);
      this.size += chunk.length;
      b = b.subarray(chunk.length);
      if (this.size === this.capacity) this.flush();
    }
  }

  flush(): void {
    if (!this.size) return;
    writeAll(this.fd, Buffer.concat(this.pending));
    this.pending = [];
    this.size = 0;
  }
}

function writeAll(fd: number, b: Buffer): void {
  for (let o = 0; o < b.length; ) {
    try {
      o += fs.writeSync(fd, b, o);
    } catch (e) {
      // A non-blocking pipe that is full: try again.
      const code = (e as { code?: string }).code;
      // qemu-io ignores SIGPIPE: output to a reader that went away is dropped.
      if (code === "EPIPE") return;
      if (code !== "EAGAIN") throw e;
    }
  }
}
