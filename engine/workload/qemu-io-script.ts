// qemu-io command scripts (what `qemu-io IMG < script` runs) -> guest requests, one per I/O command.
// Options are parsed as qemu-io 7.2's getopt strings do; sizes as its cvtnum; patterns as strtol(base 0).
// Time: request k is at k microseconds, plus what `sleep MS` lines add. `#` starts a comment (our extension).
import type { GuestRequest } from "./guest-request.js";
import { LineReader } from "./line-reader.js";
import { sizeOrNull } from "../units/sizes.js";
import type { ParseContext } from "./trace-error.js";

type Kind = "read" | "write" | "discard" | "flush";
interface Spec {
  kind: Kind;
  /** getopt string: a letter followed by ":" takes an argument. */
  opts: string;
  /** `off len [len..]`: the request covers the sum of the lengths. */
  vector?: boolean;
}

const IO: Record<string, Spec> = {
  read: { kind: "read", opts: "abCl:pP:qs:v" },
  readv: { kind: "read", opts: "CP:qv", vector: true },
  aio_read: { kind: "read", opts: "CiP:qv", vector: true },
  write: { kind: "write", opts: "bcCfnpP:qs:uz" },
  writev: { kind: "write", opts: "CfP:q", vector: true },
  aio_write: { kind: "write", opts: "CfiP:quz", vector: true },
  discard: { kind: "discard", opts: "Cq" },
  aio_discard: { kind: "discard", opts: "Cq" },
  flush: { kind: "flush", opts: "" },
};
const ALIASES: Record<string, string> = { r: "read", w: "write", d: "discard", f: "flush" };
// Commands that do no guest I/O. aio_flush only drains outstanding aio requests: it is not a disk flush.
const NO_IO = new Set([
  "a", "abort", "aio_flush", "alloc", "break", "c", "close", "help", "?", "i", "info", "l", "length", "map", "o", "open",
  "q", "quit", "reopen", "remove_break", "resume", "sigraise", "t", "truncate", "wait_break",
]);
const CHANGES_IMAGE = new Set(["t", "truncate", "o", "open", "c", "close", "reopen"]);

/** strtol(s, NULL, 0) for non-negative numbers: 0x.. hex, 0.. octal, else decimal. */
export function parseStrtol(s: string): number | null {
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]*$/.test(s)) v = parseInt(s, 8);
  else if (/^[1-9]\d*$/.test(s)) v = parseInt(s, 10);
  else return null;
  return Number.isSafeInteger(v) ? v : null;
}

/** A qemu-io -P pattern (parse_pattern): one byte, 0..255. */
export function parsePattern(s: string): number | null {
  const v = parseStrtol(s);
  return v !== null && v <= 255 ? v : null;
}

export function* parseQemuIoScript(ctx: ParseContext): Generator<GuestRequest> {
  const reader = new LineReader(ctx.path);
  let index = 0;
  let sleptMs = 0;
  const noticed = new Set<string>();
  const once = (key: string, msg: string): void => {
    if (!noticed.has(key)) {
      noticed.add(key);
      ctx.notice(msg);
    }
  };
  for (const raw of reader.lines()) {
    ctx.stats.lines++;
    const no = reader.lineNo;
    const hash = raw.indexOf("#");
    const words = (hash >= 0 ? raw.slice(0, hash) : raw).trim().split(/\s+/);
    if (words[0] === "") continue;
    const name = ALIASES[words[0]!] ?? words[0]!;
    if (name === "sleep") {
      const ms = words[1] !== undefined ? parseStrtol(words[1]) : null;
      if (ms === null || words.length !== 2) ctx.bad(no, "sleep needs a number of milliseconds");
      else sleptMs += ms;
      continue;
    }
    if (NO_IO.has(name)) {
      if (CHANGES_IMAGE.has(name)) once(name, `${ctx.path}:${no}: "${words[0]}" is not replayed (no guest request)`);
      continue;
    }
    const spec = IO[name];
    if (!spec) {
      ctx.bad(no, `unknown qemu-io command "${words[0]}"`);
      continue;
    }
    const parsed = getopt(words.slice(1), spec.opts);
    if (typeof parsed === "string") {
      ctx.bad(no, `${name}: ${parsed}`);
      continue;
    }
    const { flags, args } = parsed;
    if (flags.has("b")) {
      once("b", `${ctx.path}:${no}: ${name} -b goes to the VM state, not the disk: not replayed`);
      continue;
    }
    if (flags.has("i")) continue; // qemu-io only accounts an invalid request; nothing is submitted
    const need = spec.kind === "flush" ? 0 : 2;
    if (args.length < need || (!spec.vector && args.length !== need) || (spec.kind === "flush" && args.length > 0)) {
      ctx.bad(no, `${name}: expected ${spec.kind === "flush" ? "no arguments" : spec.vector ? "OFFSET LENGTH [LENGTH...]" : "OFFSET LENGTH"}`);
      continue;
    }
    const time = index * 1e-6 + sleptMs / 1000;
    if (spec.kind === "flush") {
      index++;
      yield { time, op: "flush", offset: 0, length: 0, fua: false, preflush: false, source: `${ctx.label}:${no}` };
      continue;
    }
    const offset = sizeOrNull(args[0]!);
    let length = 0;
    let badArg = offset === null ? args[0] : undefined;
    for (const a of args.slice(1)) {
      const l = sizeOrNull(a);
      if (l === null) badArg ??= a;
      else length += l;
    }
    if (badArg !== undefined || offset === null) {
      ctx.bad(no, `${name}: "${badArg}" is not a size (e.g. 512, 4k, 1M, 0x1000)`);
      continue;
    }
    if (!Number.isSafeInteger(offset + length)) {
      ctx.bad(no, `${name}: offset + length is too large`);
      continue;
    }
    const pArg = flags.get("P");
    const pattern = pArg !== undefined ? parsePattern(pArg) : undefined;
    if (pattern === null) {
      ctx.bad(no, `${name}: bad pattern "${pArg}" (a byte: 0..255, 0x.. or 0..)`);
      continue;
    }
    const zero = flags.has("z");
    if (zero && (pArg !== undefined || flags.has("s"))) {
      ctx.bad(no, `${name}: only one of -z, -P and -s can be given`);
      continue;
    }
    if (length === 0) continue;
    const req: GuestRequest = {
      time,
      op: spec.kind === "write" && zero ? "write-zeroes" : spec.kind,
      offset,
      length,
      fua: flags.has("f"),
      preflush: false,
      source: `${ctx.label}:${no}`,
    };
    // read -P with -s/-l verifies only part of the buffer: the pattern does not describe the whole range.
    if (pattern !== undefined && !flags.has("s") && !flags.has("l")) req.pattern = pattern;
    if (zero && flags.has("u")) req.mayUnmap = true;
    if (!zero && flags.has("c")) req.compressed = true;
    index++;
    yield req;
  }
}

/** GNU getopt over one command's words: options may come after operands; "--" ends them. */
function getopt(words: string[], spec: string): { flags: Map<string, string>; args: string[] } | string {
  const flags = new Map<string, string>();
  const args: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "--") {
      args.push(...words.slice(i + 1));
      break;
    }
    if (w.length < 2 || w[0] !== "-") {
      args.push(w);
      continue;
    }
    for (let j = 1; j < w.length; j++) {
      const c = w[j]!;
      const at = spec.indexOf(c);
      if (at < 0 || c === ":") return `invalid option -- '${c}'`;
      if (spec[at + 1] === ":") {
        const v = j + 1 < w.length ? w.slice(j + 1) : words[++i];
        if (v === undefined) return `option requires an argument -- '${c}'`;
        flags.set(c, v);
        break;
      }
      flags.set(c, "");
    }
  }
  return { flags, args };
}
