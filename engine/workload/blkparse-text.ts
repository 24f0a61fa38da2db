// blkparse's default text output (`%D %2c %8s %5T.%9t %5p %2a %3d ` + a per-action tail, blkparse 1.2.0) ->
// block events -> guest requests. The summary blocks blkparse prints at the end are skipped; -t variants
// (an elapsed "(ns)" before the bracket) are accepted.
import { BlockRequestBuilder, newBlockEvent, parseRwbsBytes, type BlockEvent, type BlockSelection } from "./block-event.js";
import { newBlkparseLine, scanHeader, scanIoTail } from "./blkparse-line.js";
import type { GuestRequest } from "./guest-request.js";
import { ByteLineReader } from "./line-reader.js";
import type { ParseContext } from "./trace-error.js";

// SCSI passthrough: "bytes (cdb hex) [comm]" (Q, D, I, B) or "(cdb hex) [error]" (C, R).
const PC_TAIL = /^\s*(?:\d+ )?\([0-9a-f .]*\) \[.*\]\s*$/;
const REMAP_TAIL = /^\s*(\d+) \+ (\d+) <- \((\d+),(\d+)\) (\d+)\s*$/;
const SPLIT_TAIL = /^\s*(\d+) \/ (\d+)(?:\s+\[.*\])?\s*$/;
// What blkparse prints after the events (and "Input file ... added" if stderr was captured too).
const SUMMARY = /^(CPU\d+ \(|Total \(|Throughput|Events \(|Skips:|Input file |\s)/;

const TWO_32 = 4294967296;

export function* parseBlkparseText(ctx: ParseContext, sel: BlockSelection): Generator<GuestRequest> {
  const reader = new ByteLineReader(ctx.path);
  const builder = new BlockRequestBuilder(sel);
  const ev: BlockEvent = newBlockEvent();
  ev.srcLabel = ctx.label;
  ev.srcSep = ":";
  let inSummary = false;
  const h = newBlkparseLine();
  // Which actions matter: the chosen event, remaps when undoing them, splits when counting queued bios.
  const want = [sel.events, ...(sel.undoRemap ? ["A"] : []), ...(sel.events === "Q" ? ["X"] : [])];
  // Action letters, by byte: Q D C A X.
  const wanted = new Uint8Array(128);
  for (const a of want) wanted[a.charCodeAt(0)] = 1;
  let dev = "";
  try {
    while (reader.next()) {
      ctx.stats.lines++;
      const no = reader.lineNo;
      const b = reader.buf, end = reader.end;
      if (!scanHeader(b, reader.start, end, h)) {
        if (inSummary) continue;
        const line = reader.text();
        if (line.trim() === "") continue;
        if (SUMMARY.test(line)) {
          inSummary = true;
          continue;
        }
        ctx.bad(no, `not a blkparse event line: ${quote(line)}`);
        continue;
      }
      inSummary = false;
      // UT (timer unplug), G, I, M, P, U, m, ... and the events not chosen: no request of their own
      if (h.actLen !== 1 || !wanted[b[h.actStart]!]) continue;
      const act = String.fromCharCode(b[h.actStart]!);
      const kind = act as "Q" | "D" | "C" | "A" | "X";
      if (!parseRwbsBytes(b, h.rwbsStart, h.rwbsEnd, ev)) {
        ctx.bad(no, `bad RWBS "${b.toString("latin1", h.rwbsStart, h.rwbsEnd)}"`);
        continue;
      }
      // Consecutive lines mostly name the same device: keep the string instead of making a new one.
      if (!sameText(dev, b, h.devStart, h.devEnd)) dev = b.toString("latin1", h.devStart, h.devEnd);
      ev.ns = h.ns;
      ev.kind = kind;
      ev.dev = dev;
      ev.pc = false;
      ev.srcNo = no;
      if (kind === "A" || kind === "X") {
        const tail = b.toString("utf8", h.restStart, end);
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
        } else {
          const x = SPLIT_TAIL.exec(tail);
          if (!x) {
            ctx.bad(no, `bad split: expected "SECTOR / SECTOR [comm]", got ${quote(tail)}`);
            continue;
          }
          ev.sector = Number(x[1]);
          // blkparse prints the new sector through a 32-bit "%u": restore the high bits from the old sector.
          let split = ev.sector - (ev.sector % TWO_32) + Number(x[2]);
          if (split <= ev.sector) split += TWO_32;
          ev.splitSector = split;
        }
      } else if (scanIoTail(b, end, h)) {
        ev.sector = h.sector;
        ev.bytes = h.count * 512;
      } else {
        const tail = b.toString("utf8", h.restStart, end);
        if (PC_TAIL.test(tail)) continue; // SCSI passthrough: not a filesystem request
        ctx.bad(no, `bad ${act} event: expected "SECTOR + COUNT [comm]", got ${quote(tail)}`);
        continue;
      }
      if (!checkSector(ctx, no, ev)) continue;
      const req = builder.take(ev);
      if (req) yield req;
    }
  } finally {
    reader.close();
  }
}

/** Whether b[from, to) spells `s` (ASCII). */
function sameText(s: string, b: Uint8Array, from: number, to: number): boolean {
  if (s.length !== to - from) return false;
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== b[from + k]) return false;
  return true;
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
