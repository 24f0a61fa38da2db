// qemu-io 7.2's `truncate` and `reopen` (truncate_f, reopen_f in qemu-io-cmds.c): argument parsing and messages as
// qemu-io's, over the engine's resize (engine/image/truncate.ts) and reopen (engine/image/reopen.ts). A reopen's
// cache mode is qemu-io's pair of a BlockBackend flag (writethrough) and the node's flags (direct, no-flush).
import type { CacheMode, EngineConfig } from "../../engine/image/engine-config.js";
import { UnsupportedError } from "../../engine/format/format-error.js";
import { ResizeError, qcow2Truncate } from "../../engine/image/truncate.js";
import { reopenImage } from "../../engine/image/reopen.js";
import { parseReopenOptions } from "../../engine/image/reopen-options.js";
import { OptionsError } from "../../engine/image/update-options.js";
import { CorruptionSignal } from "../../engine/image/overlap-check.js";
import { EINVAL, ENOTSUP, cvtnum, cvtnumError, getopt } from "./qemu-io-format.js";
import { printUsage, refuse, type IoContext } from "./qemu-io-context.js";

const PREALLOC_MODES = ["off", "metadata", "falloc", "full"];

export function truncateCmd(ctx: IoContext, argv: string[]): number {
  const g = getopt(argv, "m:");
  if (g.error) {
    ctx.err(g.error);
    printUsage(ctx, "truncate");
    return -EINVAL;
  }
  let prealloc = "off";
  for (const [, v] of g.opts) {
    if (!PREALLOC_MODES.includes(v)) {
      ctx.err(`qemu-io: Invalid preallocation mode '${v}'`);
      return -EINVAL;
    }
    prealloc = v;
  }
  if (!g.rest.length) return refuse(ctx, "truncate without a size (qemu-io reads past its arguments here)");
  const offset = cvtnum(g.rest[0]!, ctx.err);
  // print_cvtnum_err names argv[1], whatever optind was.
  if (offset < 0) return ctx.out(cvtnumError(offset, argv[1]!)), offset;
  if (prealloc !== "off") return refuse(ctx, `truncate -m ${prealloc} (preallocation) is not modelled by qcowdbg; the image is unchanged`);
  const img = ctx.image!;
  ctx.nextRequest();
  try {
    qcow2Truncate(img, offset);
  } catch (e) {
    return engineFailure(ctx, e);
  }
  return 0;
}

function engineFailure(ctx: IoContext, e: unknown): number {
  if (e instanceof ResizeError || e instanceof OptionsError) {
    for (const [i, l] of e.message.split("\n").entries()) ctx.err(i ? l : `qemu-io: ${l}`);
    return -EINVAL;
  }
  if (e instanceof UnsupportedError) {
    ctx.err(`qcowdbg: ${e.message}`);
    return -ENOTSUP;
  }
  // A write the overlap check refused: QEMU marked the image corrupt and the request failed with EIO.
  if (e instanceof CorruptionSignal) {
    ctx.err(`qemu-io: ${e.message}`);
    return -EINVAL;
  }
  throw e;
}

/**
 * The node-name and driver options of the image's nodes (the top node, its file child, its backing child), taken
 * out of `pairs`: bdrv_reopen_prepare lets a reopen repeat them but not change them ("Cannot change the option",
 * naming the child's own option). Returns that error, if any. A backing.* option without a backing file stays.
 */
function childOptions(ctx: IoContext, pairs: [string, string][]): string | undefined {
  const img = ctx.image!;
  const given = ctx.givenNodeNames ?? {};
  const current: Record<string, string | undefined> = {
    "node-name": given.top,
    "file.node-name": given.file,
    "file.driver": "file",
    ...(img.backing ? { "backing.node-name": given.backing, "backing.driver": img.backing.format } : {}),
  };
  let error: string | undefined;
  for (let i = pairs.length - 1; i >= 0; i--) {
    const [k, v] = pairs[i]!;
    if (!(k in current)) continue;
    pairs.splice(i, 1);
    if (current[k] !== v) error = `Cannot change the option '${k.replace(/^(file|backing)\./, "")}'`;
  }
  return error;
}

interface CacheFlags {
  writethrough: boolean;
  direct: boolean;
  noFlush: boolean;
}

function flagsOf(mode: CacheMode, noFlush = false): CacheFlags {
  return { writethrough: mode === "writethrough" || mode === "directsync", direct: mode === "none" || mode === "directsync", noFlush: noFlush || mode === "unsafe" };
}

/** bdrv_parse_cache_mode. */
function parseCacheMode(word: string): CacheFlags | undefined {
  const m = word === "off" ? "none" : word;
  return ["writeback", "writethrough", "none", "directsync", "unsafe"].includes(m) ? flagsOf(m as CacheMode) : undefined;
}

/** The engine's cache mode, and cache.no-flush where no mode says it (writethrough or direct with no-flush). */
function modeOf(f: CacheFlags): { mode: CacheMode; noFlush: boolean } {
  if (f.noFlush && !f.writethrough && !f.direct) return { mode: "unsafe", noFlush: false };
  const mode = f.direct ? (f.writethrough ? "directsync" : "none") : f.writethrough ? "writethrough" : "writeback";
  return { mode, noFlush: f.noFlush };
}

/**
 * qemu_opts_do_parse of one -o argument: "k=v,k2=v2" (",," in a value is a comma); a bare key is the deprecated
 * k=on (nok=off), with QEMU's warning.
 */
function optionPairs(ctx: IoContext, text: string): [string, string][] {
  const pairs: [string, string][] = [];
  let p = 0;
  while (p < text.length) {
    let end = p;
    while (end < text.length && text[end] !== "=" && text[end] !== ",") end++;
    const name = text.slice(p, end);
    p = end;
    if (text[p] === "=") {
      let value = "";
      for (p++; p < text.length; p++) {
        if (text[p] !== ",") value += text[p];
        else if (text[p + 1] === ",") value += text[p++];
        else break;
      }
      pairs.push([name, value]);
    } else {
      const off = name.startsWith("no");
      const key = off ? name.slice(2) : name;
      ctx.err(`qemu-io: warning: short-form boolean option '${name}' deprecated`);
      ctx.err(`Please use ${key}=${off ? "off" : "on"} instead`);
      pairs.push([key, off ? "off" : "on"]);
    }
    if (text[p] === ",") p++;
  }
  return pairs;
}

export function reopenCmd(ctx: IoContext, argv: string[]): number {
  const img = ctx.image!;
  const g = getopt(argv, "c:o:rw");
  if (g.error) {
    ctx.err(g.error);
    printUsage(ctx, "reopen");
    return -EINVAL;
  }
  let flags = flagsOf(img.config.cacheMode, img.config.noFlush);
  let readOnly = ctx.readOnly;
  let hasRw = false;
  let hasCache = false;
  const pairs: [string, string][] = [];
  for (const [f, v] of g.opts) {
    if (f === "c") {
      const parsed = parseCacheMode(v);
      if (!parsed) {
        ctx.err(`qemu-io: Invalid cache option: ${v}`);
        return -EINVAL;
      }
      flags = parsed;
      hasCache = true;
    } else if (f === "o") pairs.push(...optionPairs(ctx, v));
    else {
      if (hasRw) {
        ctx.err("qemu-io: Only one -r/-w option may be given");
        return -EINVAL;
      }
      readOnly = f === "r";
      hasRw = true;
    }
  }
  if (g.rest.length) {
    printUsage(ctx, "reopen");
    return -EINVAL;
  }
  const keys = new Set(pairs.map(([k]) => k));
  if (keys.has("read-only") && hasRw) {
    ctx.err("qemu-io: Cannot set both -r/-w and 'read-only'");
    return -EINVAL;
  }
  if ((keys.has("cache.direct") || keys.has("cache.no-flush")) && hasCache) {
    ctx.err("qemu-io: Cannot set both -c and the cache options");
    return -EINVAL;
  }
  const generic = childOptions(ctx, pairs);
  const parsed = parseReopenOptions(pairs, img.config, img.header.cryptMethod !== 0);
  if (generic) parsed.errors.generic ??= generic;
  if (parsed.unmodelled) return refuse(ctx, parsed.unmodelled);
  if (parsed.readWrite) readOnly = false;
  if (parsed.direct !== undefined) flags = { ...flags, direct: parsed.direct };
  if (parsed.noFlush !== undefined) flags = { ...flags, noFlush: parsed.noFlush };
  const { mode, noFlush } = modeOf(flags);
  if (!readOnly && !img.writable) return refuse(ctx, "reopen -w of an image opened read-only is not modelled by qcowdbg");
  const config: EngineConfig = { ...parsed.config, cacheMode: mode };
  if (noFlush) config.noFlush = true;
  else delete config.noFlush;
  // bdrv_can_set_read_only: a node with copy-on-read on cannot go read-only (qemu-io -C, then reopen -r).
  if (readOnly && ctx.copyOnRead) parsed.errors.readOnly = `Can't set node '${ctx.nodeName ?? "#block1"}' to r/o with copy-on-read enabled`;
  ctx.nextRequest();
  try {
    reopenImage(img, { config, readOnly, errors: parsed.errors });
  } catch (e) {
    return engineFailure(ctx, e);
  }
  ctx.readOnly = readOnly;
  return 0;
}
