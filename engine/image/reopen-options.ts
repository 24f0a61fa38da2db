// The options of a reopen (qemu-io `reopen -o key=value,...`, QEMU's bdrv_reopen with qcow2's runtime options) read
// into a new EngineConfig on top of the image's current one, with QEMU's refusals in its words and at the stage
// where QEMU meets them: after the node's flush (the block layer's own options, then qcow2's values),
// after qcow2's caches were flushed (overlap-check, encryption), or after the driver's prepare (options nothing
// handles: "Cannot change the option"). Options the engine does not act on are refused unless they keep QEMU's default.
import { sizeOrNull } from "../units/sizes.js";
import type { EngineConfig } from "./engine-config.js";

export interface ReopenErrors {
  /** After the node's flush, before qcow2 reads its options (a block-layer option's value). */
  early?: string[];
  /** After the block layer's options, before qcow2's: bdrv_can_set_read_only refusing (copy-on-read on). */
  readOnly?: string;
  /** After the node's flush, before qcow2 flushes its caches (a qcow2 option's value). */
  parse?: string[];
  /** After qcow2 flushed its caches. */
  late?: string;
  /** After qcow2's prepare: an option nobody handles changed. */
  generic?: string;
}

export interface ReopenOptions {
  config: EngineConfig;
  /** cache.direct / cache.no-flush, when given. */
  direct?: boolean;
  noFlush?: boolean;
  /** read-only=off (read-only=on is refused: the node would have read-write users). */
  readWrite?: boolean;
  errors: ReopenErrors;
  /** An option qcowdbg cannot model at this value (said instead of running the reopen). */
  unmodelled?: string;
}

const SIZE_HINT = ["Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-", "and exabytes, respectively."];

/** qapi_bool_parse's words. */
function qemuBool(v: string): boolean | undefined {
  if (v === "on" || v === "yes" || v === "true" || v === "y") return true;
  if (v === "off" || v === "no" || v === "false" || v === "n") return false;
  return undefined;
}

const OVERLAP = ["none", "constant", "cached", "all"] as const;

/** Reads `pairs` (key, value; the last of a repeated key wins, as in a QDict) over `base`. */
export function parseReopenOptions(pairs: [string, string][], base: EngineConfig, encrypted: boolean): ReopenOptions {
  const opts = new Map<string, string>();
  for (const [k, v] of pairs) opts.set(k, v);
  const config: EngineConfig = { ...base };
  // qcow2_join_options: the old options are kept, but an old cache-size only when the new options give it again
  // (with any cache size option present, QEMU drops it), and a new cache-size drops the old per-cache sizes.
  if (opts.has("cache-size")) {
    delete config.l2CacheSize;
    delete config.refcountCacheSize;
  } else delete config.cacheSize;
  const out: ReopenOptions = { config, errors: {} };
  const early = (line: string[]) => (out.errors.early ??= line);
  const parse = (line: string[]) => (out.errors.parse ??= line);
  const unmodelled = (why: string) => (out.unmodelled ??= why);
  const bool = (k: string, v: string, at: (l: string[]) => unknown): boolean | undefined => {
    const b = qemuBool(v);
    if (b === undefined) at([`Parameter '${k}' expects 'on' or 'off'`]);
    return b;
  };
  const size = (k: string, v: string): number | undefined => {
    const n = sizeOrNull(v);
    if (n === null) parse([`Parameter '${k}' expects a non-negative number below 2^64`, ...SIZE_HINT]);
    return n ?? undefined;
  };
  let overlap: string | undefined;
  let template: string | undefined;
  let cleanTooBig = false;
  for (const [k, v] of opts) {
    switch (k) {
      // The block layer's options (bdrv_reopen_prepare).
      case "cache.direct":
        out.direct = bool(k, v, early);
        break;
      case "cache.no-flush":
        out.noFlush = bool(k, v, early);
        break;
      case "read-only": {
        const ro = bool(k, v, early);
        if (ro === true) unmodelled("reopen -o read-only=on leaves qemu-io's read-write user on a read-only node, which QEMU refuses naming the node; use reopen -r");
        if (ro === false) out.readWrite = true;
        break;
      }
      case "auto-read-only":
        // Only consulted when a read-write open fails; qemu-io's reopens never get there.
        bool(k, v, early);
        break;
      case "discard":
        if (v === "unmap" || v === "on") config.discardUnmap = true;
        else if (v === "ignore" || v === "off") config.discardUnmap = false;
        else early(["Invalid discard option"]);
        break;
      case "detect-zeroes":
        if (!["off", "on", "unmap"].includes(v)) early([`invalid parameter value: ${v}`]);
        else if (v !== "off") unmodelled("detect-zeroes is not modelled by qcowdbg");
        break;
      // qcow2's options (qcow2_update_options_prepare).
      case "l2-cache-size":
        config.l2CacheSize = size(k, v);
        break;
      case "refcount-cache-size":
        config.refcountCacheSize = size(k, v);
        break;
      case "cache-size":
        config.cacheSize = size(k, v);
        break;
      case "l2-cache-entry-size":
        config.l2CacheEntrySize = size(k, v);
        break;
      case "lazy-refcounts": {
        const b = bool(k, v, parse);
        if (b !== undefined) config.lazyRefcounts = b;
        break;
      }
      case "pass-discard-request": {
        const b = bool(k, v, parse);
        if (b !== undefined) config.discardUnmap = b;
        break;
      }
      case "pass-discard-snapshot":
      case "pass-discard-other": {
        const b = bool(k, v, parse);
        if (b !== undefined && b !== (k === "pass-discard-snapshot")) unmodelled(`${k}=${v} is not modelled by qcowdbg (only QEMU's default)`);
        break;
      }
      case "cache-clean-interval": {
        // qemu_strtou64 with base 0: decimal, 0x hex or 0 octal; a minus sign wraps modulo 2^64 (-1 is 2^64 - 1).
        const m = /^[ \t\n\v\f\r]*(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(v);
        if (!m) parse([`Parameter '${k}' expects a number`]);
        else {
          const n = BigInt(m[2]!);
          const u = m[1] && n !== 0n ? 2n ** 64n - n : n;
          if (n >= 2n ** 64n) parse([`Value '${v}' is too large for parameter '${k}'`]);
          // Checked after qcow2 made its new caches, before the overlap-check options.
          else if (u > 0xffffffffn) cleanTooBig = true;
          // Time-based eviction never fires in the engine: only 0 (off) and values no script outlives are the same.
          else if (u !== 0n && u < 600n) unmodelled(`cache-clean-interval=${v} (time-based eviction) is not modelled by qcowdbg`);
        }
        break;
      }
      case "overlap-check":
        overlap = v;
        break;
      case "overlap-check.template":
        template = v;
        break;
      case "encrypt.format":
        if (!encrypted) out.errors.late ??= `No encryption in image header, but options specified format '${v}'`;
        else unmodelled("encrypt.* options are not modelled by qcowdbg");
        break;
      case "driver":
        if (v !== "qcow2") out.errors.generic ??= "Cannot change the option 'driver'";
        break;
      default:
        if (/^(file|backing|data-file)(\.|$)/.test(k) || k.startsWith("overlap-check.") || k.startsWith("encrypt.")) unmodelled(`reopen -o ${k}: only the image's own options are modelled (l2-cache-size, refcount-cache-size, cache-size, l2-cache-entry-size, lazy-refcounts, overlap-check, discard, cache.direct, cache.no-flush)`);
        else out.errors.generic ??= `Cannot change the option '${k}'`;
    }
  }
  if (cleanTooBig) out.errors.late = "Cache clean interval too big";
  if (overlap !== undefined && template !== undefined && overlap !== template)
    out.errors.late ??= `Conflicting values for qcow2 options 'overlap-check' ('${overlap}') and 'overlap-check.template' ('${template}')`;
  const mode = overlap ?? template;
  if (mode !== undefined) {
    if ((OVERLAP as readonly string[]).includes(mode)) config.overlapCheck = mode as (typeof OVERLAP)[number];
    else out.errors.late ??= `Unsupported value '${mode}' for qcow2 option 'overlap-check'. Allowed are any of the following: none, constant, cached, all`;
  }
  return out;
}
