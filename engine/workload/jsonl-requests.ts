// qcowdbg's own request stream read back: one JSON object per line as `qcowdbg workload --output=jsonl` writes
// it (schema qcowdbg-workload-jsonl/1, docs/json-output.md), so a converted, filtered or fitted trace can be kept
// and replayed later. Every field is checked; a bad line is a one-line error naming file, line and field.
import { isGuestOp, type GuestRequest } from "./guest-request.js";
import { LineReader } from "./line-reader.js";
import type { ParseContext } from "./trace-error.js";

const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** The request a line holds, or why it holds none. */
export function jsonlRequest(line: string, source: string): GuestRequest | string {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return "not a JSON object";
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) return "not a JSON object";
  const r = o as Record<string, unknown>;
  if (typeof r.op !== "string" || !isGuestOp(r.op)) return `op ${JSON.stringify(r.op)} is not read, write, flush, discard or write-zeroes`;
  for (const k of ["time", "offset", "length"] as const) if (!num(r[k])) return `${k} ${JSON.stringify(r[k])} is not a non-negative number`;
  if (!Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.length)) return "offset and length must be whole bytes";
  for (const k of ["fua", "preflush", "compressed", "mayUnmap"] as const) if (r[k] !== undefined && typeof r[k] !== "boolean") return `${k} must be true or false`;
  if (r.device !== undefined && typeof r.device !== "string") return "device must be a string";
  if (r.pattern !== undefined && !(Number.isInteger(r.pattern) && (r.pattern as number) >= 0 && (r.pattern as number) <= 255)) return "pattern must be a byte (0..255)";
  const out: GuestRequest = { time: r.time as number, op: r.op, offset: r.offset as number, length: r.length as number, fua: r.fua === true, preflush: r.preflush === true, source };
  if (r.device !== undefined) out.device = r.device as string;
  if (r.pattern !== undefined) out.pattern = r.pattern as number;
  if (r.compressed) out.compressed = true;
  if (r.mayUnmap) out.mayUnmap = true;
  return out;
}

export function* parseJsonlRequests(ctx: ParseContext): Generator<GuestRequest> {
  const reader = new LineReader(ctx.path);
  for (const raw of reader.lines()) {
    ctx.stats.lines++;
    if (raw.trim() === "") continue;
    const r = jsonlRequest(raw, `${ctx.label}:${reader.lineNo}`);
    if (typeof r === "string") ctx.bad(reader.lineNo, r);
    else yield r;
  }
}
