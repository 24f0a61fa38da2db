// blkparse's default text output (`%D %2c %8s %5T.%9t %5p %2a %3d ` + a per-action tail, blkparse 1.2.0) ->
// block events -> guest requests. The summary blocks blkparse prints at the end are skipped; -t variants
// (an elapsed "(ns)" before the bracket) are accepted.
import { BlockRequestBuilder, newBlockEvent, parseRwbs, type BlockEvent, type BlockSelection } from "./block-event.js";
import type { GuestRequest } from "./guest-request.js";
import { LineReader } from "./line-reader.js";
import type { ParseContext } from "./trace-error.js";

// dev, cpu, sequence, seconds.nanoseconds, pid, action, rwbs, rest
const HEADER = /^\s*(\d+),(\d+)\s+(\d+)\s+(-?\d+)\s+(\d+)\.(\d{1,9})\s+(\d+)\s+([A-Za-z]{1,2})\s+([A-Z]+)(?:\s(.*))?$/;
// "S + N", "S + N (elapsed)", "S", "S (elapsed)", "(elapsed)", or nothing, then "[comm]" / "[error]".
const IO_TAIL = /^\s*(?:(\d+)(?: \+ (\d+))?\s+)?(?:\(\s*\d+\)\s+)?\[.*\]\s*$/;
// SCSI passthrough: "bytes (cdb hex) [comm]" (Q, D, I, B) or "(cdb hex) [error]" (C, R).
const PC_TAIL = /^\s*(?:\d+ )?\([0-9a-f .]*\) \[.*\]\s*$/;
const REMAP_TAIL = /^\s*(\d+) \+ (\d+) <- \((\d+),(\d+)\) (\d+)\s*$/;
const SPLIT_TAIL = /^\s*(\d+) \/ (\d+)(?:\s+\[.*\])?\s*$/;
// What blkparse prints after the events (and "Input file ... added" if stderr was captured too).
const SUMMARY = /^(CPU\d+ \(|Total \(|Throughput|Events \(|Skips:|Input file |\s)/;

const TWO_32 = 4294967296;

export function* parseBlkparseText(ctx: ParseContext, sel: BlockSelection): Generator<GuestRequest> {
  const reader = new LineReader(ctx.path);
  const builder = new BlockRequestBuilder(sel);
  const ev: BlockEvent = newBlockEvent();
  let inSummary = false;
  for (const line of reader.lines()) {
    ctx.stats.lines++;
    const no = reader.lineNo;
    const m = HEADER.exec(line);
    if (!m) {
      if (line.trim() === "") continue;
      if (inSummary) continue;
      if (SUMMARY.test(line)) {
        inSummary = true;
        continue;
      }
      ctx.bad(no, `not a blkparse event line: ${quote(line)}`);
      continue;
    }
    inSummary = false;
    const act = m[8]!;
    const kind = act === "Q" || act === "D" || act === "C" || act === "A" || act === "X" ? act : "other";
    if (kind === "other") continue; // G, I, M, P, U, UT, m, ...: no request of their own
    if (!parseRwbs(m[9]!, ev)) {
      ctx.bad(no, `bad RWBS "${m[9]}"`);
      continue;
    }
    const secs = Number(m[5]);
    ev.ns = secs * 1e9 + Number(m[6]!.padEnd(9, "0"));
    ev.kind = kind;
    ev.dev = `${m[1]},${m[2]}`;
    ev.pc = false;
    ev.source = `${ctx.label}:${no}`;
    const tail = m[10] ?? "";
    if (kind === "A") {
      const r = REMAP_TAIL.exec(tail);
      if (!r) {
        ctx.bad(no, `bad remap: expected "SECTOR + COUNT <- (MAJOR,MINOR) SECTOR", got ${quote(tail)}`);
        continue;
      }
      ev.sector = Number(r[1]);
      ev.bytes = Number(r[2]) * 512;
      ev.fromDev = `${r[3]},${r[4]}`;
      ev.fromSector = Number(r[5]);
    } else if (kind === "X") {
      const s = SPLIT_TAIL.exec(tail);
      if (!s) {
        ctx.bad(no, `bad split: expected "SECTOR / SECTOR [comm]", got ${quote(tail)}`);
        continue;
      }
      ev.sector = Number(s[1]);
      // blkparse prints the new sector through a 32-bit "%u": restore the high bits from the old sector.
      let split = ev.sector - (ev.sector % TWO_32) + Number(s[2]);
      if (split <= ev.sector) split += TWO_32;
      ev.splitSector = split;
    } else {
      const t = IO_TAIL.exec(tail);
      if (!t) {
        if (PC_TAIL.test(tail)) continue; // not a filesystem request
        ctx.bad(no, `bad ${act} event: expected "SECTOR + COUNT [comm]", got ${quote(tail)}`);
        continue;
      }
      ev.sector = t[1] !== undefined ? Number(t[1]) : -1;
      ev.bytes = t[2] !== undefined ? Number(t[2]) * 512 : 0;
    }
    if (!checkSector(ctx, no, ev)) continue;
    const req = builder.take(ev);
    if (req) yield req;
  }
}

function checkSector(ctx: ParseContext, no: number, ev: BlockEvent): boolean {
  // offset = sector * 512 must stay an exact JS number
  if (ev.sector >= 2 ** 44 || ev.fromSector >= 2 ** 44 || !Number.isSafeInteger(ev.bytes)) {
    ctx.bad(no, `sector ${ev.sector} is beyond 8 PiB: offsets would not be exact`);
    return false;
  }
  return true;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 77) + "..." : s);
}
