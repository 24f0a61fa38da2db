// fio iologs (`write_iolog`/`read_iolog`), versions 2 and 3 -> guest requests. v2 times come from `wait`
// lines (microseconds, cumulative); v3 lines start with a timestamp in microseconds since the job started.
// A log fio appended to (it does not truncate) repeats its header: times go on from the last one.
import type { GuestOp, GuestRequest } from "./guest-request.js";
import { LineReader } from "./line-reader.js";
import { TraceError, type ParseContext } from "./trace-error.js";

const HEADER = /^fio version ([23]) iolog\s*$/;
const OPS: Record<string, GuestOp> = { read: "read", write: "write", trim: "discard", sync: "flush", datasync: "flush" };
const FILE_ACTIONS = new Set(["add", "open", "close"]);
const UINT = /^\d+$/;

export function* parseFioIolog(ctx: ParseContext): Generator<GuestRequest> {
  const reader = new LineReader(ctx.path);
  let version = 0;
  let waitedUs = 0;
  let baseUs = 0;
  let lastUs = 0;
  for (const line of reader.lines()) {
    ctx.stats.lines++;
    const no = reader.lineNo;
    const h = HEADER.exec(line);
    if (h) {
      version = Number(h[1]);
      baseUs = lastUs;
      continue;
    }
    if (version === 0) {
      // Without its header fio refuses the log: so do we, whatever `lenient` says.
      throw new TraceError(ctx.path, no, `expected "fio version 2 iolog" or "fio version 3 iolog", got ${JSON.stringify(line.slice(0, 60))}`);
    }
    const f = line.trim().split(/\s+/);
    if (f.length === 1 && f[0] === "") continue;
    let us = waitedUs;
    if (version === 3) {
      if (!UINT.test(f[0]!)) {
        ctx.bad(no, `v3 lines start with a timestamp in microseconds, got "${f[0]}"`);
        continue;
      }
      us = baseUs + Number(f.shift());
      lastUs = us;
    }
    const [file, action, off, len] = f;
    if (file === undefined || action === undefined) {
      ctx.bad(no, "expected FILE ACTION [OFFSET LENGTH]");
      continue;
    }
    if (FILE_ACTIONS.has(action)) continue;
    const op = OPS[action];
    if (action === "wait") {
      if (version === 3) ctx.bad(no, `"wait" is not allowed in a version 3 iolog (timestamps replace it)`);
      else if (off === undefined || !UINT.test(off)) ctx.bad(no, "wait needs a number of microseconds");
      else {
        waitedUs += Number(off);
        lastUs = waitedUs;
      }
      continue;
    }
    if (!op) {
      ctx.bad(no, `unknown iolog action "${action}"`);
      continue;
    }
    let offset = 0, length = 0;
    if (op !== "flush") {
      if (off === undefined || len === undefined || !UINT.test(off) || !UINT.test(len)) {
        ctx.bad(no, `${action} needs OFFSET and LENGTH in bytes`);
        continue;
      }
      offset = Number(off);
      length = Number(len);
      if (!Number.isSafeInteger(offset + length)) {
        ctx.bad(no, `offset ${off} + length ${len} is too large`);
        continue;
      }
      if (length === 0) continue;
    }
    yield { time: us / 1e6, op, offset, length, fua: false, preflush: false, source: `${ctx.label}:${no}`, device: file };
  }
}
