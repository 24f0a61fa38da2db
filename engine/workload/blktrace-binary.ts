// blktrace binary captures -> block events -> guest requests. Per-CPU files (NAME.blktrace.N) are merged by time
// as blkparse does; a single other file (a `blkparse -d` dump) is read as it is. Notify records (process name,
// wall-clock timestamp, message) are consumed, never taken for I/O.
import * as fs from "node:fs";
import * as path from "node:path";
import { BlockRequestBuilder, newBlockEvent, type BlockEvent, type BlockEventKind, type BlockSelection } from "./block-event.js";
import { BlktraceFileReader, type BlktraceRecord } from "./blktrace-record.js";
import type { GuestRequest } from "./guest-request.js";
import { TraceError, type ParseContext } from "./trace-error.js";

// Category bits (action >> 16) and action codes, from blktrace_api.h.
// Reads are "neither write nor discard, with bytes", as in blkparse's fill_rwbs.
const TC_WRITE = 0x2, TC_FLUSH = 0x4, TC_PC = 0x200, TC_NOTIFY = 0x400, TC_DISCARD = 0x2000, TC_FUA = 0x8000;
const TA_CGROUP = 0x100;
const KIND_BY_CODE: Record<number, BlockEventKind> = { 1: "Q", 7: "D", 8: "C", 13: "X", 15: "A" };
const TN_TIMESTAMP = 1;
const TWO_32 = 4294967296;

export interface BlktraceInput {
  path: string;
  /** The CPU a per-CPU file is named for. */
  cpu?: number;
}

const PER_CPU = /^(.*)\.blktrace\.(\d+)$/;

/** The files making up a capture: NAME or one NAME.blktrace.N -> all NAME.blktrace.N beside it. */
export function blktraceInputs(p: string): BlktraceInput[] {
  // stdin (`blktrace -o - | qcowdbg workload --format blktrace -`): one stream.
  if (p === "-") return [{ path: p }];
  const base = path.basename(p);
  const m = PER_CPU.exec(base);
  let stem: string;
  if (m) stem = m[1]!;
  else if (fs.existsSync(p)) return [{ path: p }];
  else stem = base;
  const dir = path.dirname(p);
  const found: BlktraceInput[] = [];
  for (const name of fs.readdirSync(dir)) {
    const mm = PER_CPU.exec(name);
    if (mm && mm[1] === stem) found.push({ path: path.join(dir, name), cpu: Number(mm[2]) });
  }
  if (found.length === 0) {
    if (m) return [{ path: p }];
    throw new TraceError(p, 0, `no such file, and no per-CPU files ${stem}.blktrace.N in ${dir}`);
  }
  return found.sort((a, b) => a.cpu! - b.cpu!);
}

/** Whether `p` names a blktrace capture by its per-CPU files rather than by an existing file. */
export function isBlktraceStem(p: string): boolean {
  if (fs.existsSync(p)) return false;
  try {
    return blktraceInputs(p).length > 0;
  } catch {
    return false;
  }
}

interface Source {
  reader: BlktraceFileReader;
  label: string;
  cpu?: number;
  cpuNoticed: boolean;
}

function earlier(a: BlktraceRecord, b: BlktraceRecord): boolean {
  return a.timeHi !== b.timeHi ? a.timeHi < b.timeHi : a.timeLo < b.timeLo;
}

export function* parseBlktrace(ctx: ParseContext, sel: BlockSelection, inputs: BlktraceInput[]): Generator<GuestRequest> {
  const sources: Source[] = [];
  try {
    for (const inp of inputs) sources.push({ reader: new BlktraceFileReader(inp.path, ctx), label: path.basename(inp.path), cpu: inp.cpu, cpuNoticed: false });
    // A min-heap of sources by their current record's time (ties: file order) merges per-CPU files.
    const heap: Source[] = [];
    const order = new Map<Source, number>(sources.map((s, i) => [s, i]));
    const less = (x: Source, y: Source): boolean =>
      earlier(x.reader.rec, y.reader.rec) || (!earlier(y.reader.rec, x.reader.rec) && order.get(x)! < order.get(y)!);
    const push = (s: Source): void => {
      heap.push(s);
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!less(heap[i]!, heap[parent]!)) break;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
    };
    const pop = (): Source => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        for (let i = 0; ; ) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m]!, heap[i]!];
          i = m;
        }
      }
      return top;
    };
    for (const s of sources) if (s.reader.next()) push(s);

    const builder = new BlockRequestBuilder(sel);
    const ev: BlockEvent = newBlockEvent();
    const devNames = new Map<number, string>();
    const devName = (d: number): string => {
      let n = devNames.get(d);
      if (n === undefined) {
        n = `${d >>> 20},${d & 0xfffff}`;
        devNames.set(d, n);
      }
      return n;
    };
    let genesisHi = -1, genesisLo = 0;
    let stampNoticed = false;

    while (heap.length > 0) {
      const src = pop();
      const rd = src.reader;
      const r = rd.rec;
      ctx.stats.lines++;
      const cat = (r.action >>> 16) & 0xffff;
      const code = r.action & 0xff;
      let pduOff = r.pduOff;
      let pduLen = r.pduLen;
      if (r.action & TA_CGROUP) {
        pduOff += 8;
        pduLen -= 8;
      }
      let out: GuestRequest | null = null;
      if (src.cpu !== undefined && r.cpu !== src.cpu && !src.cpuNoticed) {
        src.cpuNoticed = true;
        ctx.notice(`${src.label}: records carry cpu ${r.cpu} but the file is named for cpu ${src.cpu}; kept (blkparse -i would drop them)`);
      }
      if (cat & TC_NOTIFY) {
        if (code === TN_TIMESTAMP && pduLen >= 8 && !stampNoticed) {
          stampNoticed = true;
          const when = new Date((rd.u32(pduOff) + rd.u32(pduOff + 4) / 1e9) * 1000);
          if (!Number.isNaN(when.getTime())) ctx.notice(`${src.label}: capture started at ${when.toISOString()} (blktrace timestamp record)`);
        }
      } else {
        if (genesisHi < 0) {
          genesisHi = r.timeHi;
          genesisLo = r.timeLo;
        }
        const kind = KIND_BY_CODE[code] ?? "other";
        if (kind !== "other") out = toRequest(ctx, src, r, kind, cat, pduOff, pduLen, genesisHi, genesisLo, ev, devName, builder);
      }
      if (rd.next()) push(src);
      if (out) yield out;
    }
  } finally {
    for (const s of sources) s.reader.close();
  }
}

function toRequest(
  ctx: ParseContext, src: Source, r: BlktraceRecord, kind: BlockEventKind, cat: number, pduOff: number, pduLen: number,
  gHi: number, gLo: number, ev: BlockEvent, devName: (d: number) => string, builder: BlockRequestBuilder,
): GuestRequest | null {
  const structure = `blktrace record #${r.index}`;
  if (r.sectorHi >= 0x1000) {
    ctx.badRecord(structure, "sector", r.fileOffset + 16, `sector ${r.sectorHi * TWO_32 + r.sectorLo} is beyond 8 PiB: offsets would not be exact`);
    return null;
  }
  const buf = src.reader.buf;
  ev.kind = kind;
  ev.ns = (r.timeHi - gHi) * TWO_32 + (r.timeLo - gLo);
  ev.dev = devName(r.device);
  ev.sector = r.sectorHi * TWO_32 + r.sectorLo;
  ev.bytes = r.bytes;
  ev.dir = cat & TC_DISCARD ? "D" : cat & TC_WRITE ? "W" : r.bytes ? "R" : "N";
  ev.flush = (cat & TC_FLUSH) !== 0;
  ev.fua = (cat & TC_FUA) !== 0;
  ev.pc = (cat & TC_PC) !== 0;
  ev.srcLabel = src.label;
  ev.srcSep = "#";
  ev.srcNo = r.index;
  if (kind === "A") {
    if (pduLen < 16) {
      ctx.badRecord(structure, "pdu_len", r.fileOffset, `remap record carries ${pduLen} payload bytes, needs 16`);
      return null;
    }
    // The remap payload is big-endian whatever the record's byte order.
    ev.fromDev = devName(buf.readUInt32BE(pduOff));
    ev.dev = devName(buf.readUInt32BE(pduOff + 4));
    const hi = buf.readUInt32BE(pduOff + 8);
    if (hi >= 0x1000) {
      ctx.badRecord(structure, "sector_from", r.fileOffset, "remap source sector is beyond 8 PiB");
      return null;
    }
    ev.fromSector = hi * TWO_32 + buf.readUInt32BE(pduOff + 12);
  } else if (kind === "X") {
    if (pduLen < 8) {
      ctx.badRecord(structure, "pdu_len", r.fileOffset, `split record carries ${pduLen} payload bytes, needs 8`);
      return null;
    }
    ev.splitSector = buf.readUInt32BE(pduOff) * TWO_32 + buf.readUInt32BE(pduOff + 4);
  }
  return builder.take(ev);
}
