// What blkparse text lines and blktrace binary records have in common, and the one place that turns them into
// guest requests: event choice (Q, D or C), flush/FUA from RWBS, remap (`A`) undo and split (`X`) handling.
// Sharing this step is what makes a binary capture and its blkparse print yield the same request stream.
import type { GuestRequest } from "./guest-request.js";

export type BlockEventKind = "Q" | "D" | "C" | "A" | "X" | "other";
export type BlockDataDir = "R" | "W" | "D" | "N";

/** Mutable and reused by the binary reader: consumers copy what they keep. */
export interface BlockEvent {
  kind: BlockEventKind;
  /** Nanoseconds since the trace start (an exact integer: time = ns / 1e9 for text and binary alike). */
  ns: number;
  dev: string;
  /** 512-byte sector; -1 when the line printed none (flush). */
  sector: number;
  bytes: number;
  dir: BlockDataDir;
  /** RWBS leading F: a flush (with bytes 0) or a preflush (with data). */
  flush: boolean;
  fua: boolean;
  /** SCSI passthrough (BLK_TC_PC): not a filesystem request. */
  pc: boolean;
  /** `A`: where the request came from before the remap. */
  fromDev: string;
  fromSector: number;
  /** `X`: the sector where the split-off remainder starts. */
  splitSector: number;
  /** GuestRequest.source is `${srcLabel}${srcSep}${srcNo}`, built only for events that become requests. */
  srcLabel: string;
  srcSep: string;
  srcNo: number;
}

export function newBlockEvent(): BlockEvent {
  return {
    kind: "other", ns: 0, dev: "", sector: -1, bytes: 0, dir: "N", flush: false, fua: false, pc: false,
    fromDev: "", fromSector: 0, splitSector: 0, srcLabel: "", srcSep: ":", srcNo: 0,
  };
}

export interface BlockSelection {
  /** Which event stands for a request: Q (queued bios, the default), D (issued requests) or C (completions). */
  events: "Q" | "D" | "C";
  /** Report requests at the device and sector they had before `A` remaps (e.g. partition-relative). */
  undoRemap: boolean;
}

/** Bounds the bookkeeping maps: a trace with millions of requests must not grow them without end. */
const MAP_LIMIT = 1 << 16;
/** How many recent Q events a split (X) is looked up in: X follows its Q within a few events. */
const RECENT = 1024;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAP_LIMIT) map.delete(map.keys().next().value as string);
}

export class BlockRequestBuilder {
  private readonly remaps = new Map<string, { dev: string; sector: number }>();
  /** Recently queued bios (a ring), to find the range of the bio an X splits. */
  private readonly recentDev: string[] = new Array<string>(RECENT).fill("");
  private readonly recentSector = new Float64Array(RECENT).fill(-1);
  private readonly recentEnd = new Float64Array(RECENT);
  private recentPos = 0;
  /** "dev:sector" of a split-off remainder -> end sector of the bio it was split from. */
  private readonly splitRemainders = new Map<string, number>();

  constructor(private readonly sel: BlockSelection) {}

  /** The guest request this event stands for, or null (other actions, zero-length, PC, split remainders). */
  take(ev: BlockEvent): GuestRequest | null {
    switch (ev.kind) {
      case "A":
        if (this.sel.undoRemap) this.noteRemap(ev);
        return null;
      case "X":
        if (this.sel.events === "Q") this.noteSplit(ev);
        return null;
      case "other":
        return null;
      default:
        if (ev.kind !== this.sel.events || ev.pc) return null;
        if (ev.kind === "Q" && this.isSplitRemainder(ev)) return null;
        return this.build(ev);
    }
  }

  private noteRemap(ev: BlockEvent): void {
    const fromKey = `${ev.fromDev}:${ev.fromSector}`;
    // dm -> partition -> disk: follow the chain back to the first device.
    const earlier = this.remaps.get(fromKey);
    if (earlier) this.remaps.delete(fromKey);
    remember(this.remaps, `${ev.dev}:${ev.sector}`, earlier ?? { dev: ev.fromDev, sector: ev.fromSector });
  }

  // A split bio is queued whole (Q), split (X sector / new), and its remainder is submitted again and queued a
  // second time: counting that second Q would replay the remainder twice.
  private noteSplit(ev: BlockEvent): void {
    for (let k = 1; k <= RECENT; k++) {
      const i = (this.recentPos - k + RECENT) % RECENT;
      if (this.recentSector[i] === ev.sector && this.recentDev[i] === ev.dev) {
        const end = this.recentEnd[i]!;
        if (ev.splitSector > ev.sector && ev.splitSector < end) remember(this.splitRemainders, `${ev.dev}:${ev.splitSector}`, end);
        return;
      }
    }
  }

  private isSplitRemainder(ev: BlockEvent): boolean {
    if (ev.sector < 0) return false;
    const sectors = Math.ceil(ev.bytes / 512);
    let end = ev.sector + sectors;
    let remainder = false;
    if (this.splitRemainders.size > 0) {
      const key = `${ev.dev}:${ev.sector}`;
      const whole = this.splitRemainders.get(key);
      if (whole !== undefined && end <= whole) {
        this.splitRemainders.delete(key);
        end = whole; // a remainder can be split again
        remainder = true;
      }
    }
    const i = this.recentPos;
    this.recentDev[i] = ev.dev;
    this.recentSector[i] = ev.sector;
    this.recentEnd[i] = end;
    this.recentPos = (i + 1) % RECENT;
    return remainder;
  }

  private build(ev: BlockEvent): GuestRequest | null {
    if (ev.bytes === 0 || ev.sector < 0) {
      if (!ev.flush) return null;
      return this.sourced({ time: ev.ns / 1e9, op: "flush", offset: 0, length: 0, fua: ev.fua, preflush: false, source: this.source(ev), device: ev.dev }, ev);
    }
    if (ev.dir === "N") return null;
    let dev = ev.dev;
    let sector = ev.sector;
    if (this.sel.undoRemap) {
      const key = `${dev}:${sector}`;
      const from = this.remaps.get(key);
      if (from) {
        this.remaps.delete(key);
        dev = from.dev;
        sector = from.sector;
      }
    }
    const op = ev.dir === "R" ? "read" : ev.dir === "W" ? "write" : "discard";
    return this.sourced({ time: ev.ns / 1e9, op, offset: sector * 512, length: ev.bytes, fua: ev.fua, preflush: ev.flush, source: this.source(ev), device: dev }, ev);
  }

  /** `${srcLabel}${srcSep}${srcNo}`, the label and separator joined once per trace rather than per request. */
  private source(ev: BlockEvent): string {
    if (this.head === "" || this.headLabel !== ev.srcLabel || this.headSep !== ev.srcSep) {
      this.headLabel = ev.srcLabel;
      this.headSep = ev.srcSep;
      this.head = ev.srcLabel + ev.srcSep;
    }
    return this.head + ev.srcNo;
  }

  private head = "";
  private headLabel = "";
  private headSep = "";

  /** Notes how `req.source` was made (SOURCE_PARTS), so that whoever keeps it need not read the string back. */
  private sourced(req: GuestRequest, ev: BlockEvent): GuestRequest {
    SOURCE_PARTS.req = req;
    SOURCE_PARTS.source = req.source;
    SOURCE_PARTS.head = this.head;
    SOURCE_PARTS.no = ev.srcNo;
    return req;
  }
}

/**
 * The parts of the source of the request a block trace parser built last: `req.source === head + no`. Its
 * source string is a concatenation that V8 keeps unflattened until read, and RequestColumns (which stores the
 * head once and the number) would otherwise read it back, flattening it, for every request it keeps. It believes
 * the parts only for the very object and string they were made for: `===` on the same string is a pointer test,
 * and a source changed since compares by content (the same text is then the same parts).
 */
export const SOURCE_PARTS: { req: GuestRequest | null; source: string; head: string; no: number } = { req: null, source: "", head: "", no: 0 };

/** An RWBS data direction letter: D, W, R or N. */
function isRwbsDir(c: number | undefined): boolean {
  return c === 68 /* D */ || c === 87 /* W */ || c === 82 /* R */ || c === 78; /* N */
}

/** Parses RWBS letters, the bytes b[from, to) of a text line (no string per line), into `ev` (dir, flush, fua); false when they are not RWBS. */
export function parseRwbsBytes(b: Uint8Array, from: number, to: number, ev: BlockEvent): boolean {
  let i = from;
  ev.flush = false;
  ev.fua = false;
  if (b[i] === 70 /* F */ && to - from > 1 && isRwbsDir(b[i + 1])) {
    ev.flush = true;
    i++;
  }
  const d = i < to ? b[i] : undefined;
  if (!isRwbsDir(d)) return false;
  ev.dir = String.fromCharCode(d!) as BlockDataDir;
  for (i++; i < to; i++) {
    const c = b[i];
    if (c === 70 /* F */) ev.fua = true;
    else if (c !== 65 /* A */ && c !== 83 /* S */ && c !== 77 /* M */ && c !== 69 /* E */ && c !== 66 /* B */) return false;
  }
  return true;
}

/** parseRwbsBytes for RWBS as a string ("WS", "FWFS", "RA", ...). */
export function parseRwbs(rwbs: string, ev: BlockEvent): boolean {
  if (!/^[\x20-\x7e]*$/.test(rwbs)) return false;
  return parseRwbsBytes(Buffer.from(rwbs, "latin1"), 0, rwbs.length, ev);
}
