// Reads blktrace records from one file in constant memory: v7 (48-byte header) and v8 (blk_io_trace2, 64 bytes)
// records in either byte order (taken from the first magic), each followed by pdu_len payload bytes.
// The reader keeps one decoded record; its payload stays valid in `buf` until the next call to next().
import { traceClose, traceOpen, traceRead, type TraceFd } from "./trace-input.js";
import { CHUNK_SIZE } from "./line-reader.js";
import type { ParseContext } from "./trace-error.js";

export const MAGIC = 0x65617400;
export const V7_SIZE = 48;
export const V8_SIZE = 64;

export interface BlktraceRecord {
  version: number;
  sequence: number;
  timeHi: number;
  timeLo: number;
  sectorHi: number;
  sectorLo: number;
  bytes: number;
  /** The v7 action word: low 16 bits the action code, high 16 bits the category bits. */
  action: number;
  /** v8 only: the upper 32 bits of the action (zone categories). */
  action2: number;
  pid: number;
  device: number;
  cpu: number;
  error: number;
  pduLen: number;
  /** Index of the payload in the reader's buffer. */
  pduOff: number;
  /** Byte offset of the record in its file. */
  fileOffset: number;
  /** 1-based record number in its file. */
  index: number;
}

export class BlktraceFileReader {
  readonly rec: BlktraceRecord = {
    version: 0, sequence: 0, timeHi: 0, timeLo: 0, sectorHi: 0, sectorLo: 0, bytes: 0, action: 0, action2: 0,
    pid: 0, device: 0, cpu: 0, error: 0, pduLen: 0, pduOff: 0, fileOffset: 0, index: 0,
  };
  /** Undefined until the first magic is seen. */
  littleEndian: boolean | undefined;
  readonly buf: Buffer;
  private fd: TraceFd | null;
  private bufLen = 0;
  private bufPos = 0;
  /** File offset of buf[0]. */
  private filePos = 0;
  private eof = false;

  constructor(
    readonly path: string,
    private readonly ctx: ParseContext,
    chunkSize = CHUNK_SIZE,
  ) {
    // A record is at most 64 + 65535 bytes: the buffer must hold one whole.
    this.buf = Buffer.allocUnsafe(Math.max(chunkSize, V8_SIZE + 0x10000));
    this.fd = traceOpen(path);
  }

  close(): void {
    if (this.fd !== null) traceClose(this.fd);
    this.fd = null;
  }

  u16(o: number): number {
    return this.littleEndian ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.littleEndian ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }
  /** High and low halves of a u64 in the file's byte order. */
  hi(o: number): number {
    return this.littleEndian ? this.buf.readUInt32LE(o + 4) : this.buf.readUInt32BE(o);
  }
  lo(o: number): number {
    return this.littleEndian ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o + 4);
  }

  /** Decodes the next record into `rec`; false at the end of the file. */
  next(): boolean {
    for (;;) {
      if (!this.ensure(4)) return this.atEnd();
      const o = this.bufPos;
      const version = this.magicVersion(o);
      if (version < 0) {
        this.ctx.badRecord(`blktrace record #${this.rec.index + 1}`, "magic", this.filePos + o, `0x${this.buf.readUInt32BE(o).toString(16).padStart(8, "0")} (bytes) is not a blktrace v7/v8 magic`);
        this.resync();
        continue;
      }
      const size = version === 7 ? V7_SIZE : V8_SIZE;
      if (!this.ensure(size)) return this.truncated(size);
      const p = this.bufPos;
      const r = this.rec;
      r.version = version;
      r.fileOffset = this.filePos + p;
      r.sequence = this.u32(p + 4);
      r.timeHi = this.hi(p + 8);
      r.timeLo = this.lo(p + 8);
      r.sectorHi = this.hi(p + 16);
      r.sectorLo = this.lo(p + 16);
      r.bytes = this.u32(p + 24);
      if (version === 7) {
        r.action = this.u32(p + 28);
        r.action2 = 0;
        r.pid = this.u32(p + 32);
        r.device = this.u32(p + 36);
        r.cpu = this.u32(p + 40);
        r.error = this.u16(p + 44);
        r.pduLen = this.u16(p + 46);
      } else {
        r.pid = this.u32(p + 28);
        r.action2 = this.hi(p + 32);
        r.action = this.lo(p + 32);
        r.device = this.u32(p + 40);
        r.cpu = this.u32(p + 44);
        r.error = this.u16(p + 48);
        r.pduLen = this.u16(p + 50);
      }
      if (!this.ensure(size + r.pduLen)) return this.truncated(size + r.pduLen);
      r.pduOff = this.bufPos + size;
      r.index++;
      this.bufPos += size + r.pduLen;
      return true;
    }
  }

  /** The record version for a magic at `o` (fixing the byte order on first sight), or -1. */
  private magicVersion(o: number): number {
    const b = this.buf;
    const le = b[o + 1] === 0x74 && b[o + 2] === 0x61 && b[o + 3] === 0x65;
    const be = b[o] === 0x65 && b[o + 1] === 0x61 && b[o + 2] === 0x74;
    if (this.littleEndian === undefined) {
      if (le && (b[o] === 7 || b[o] === 8)) this.littleEndian = true;
      else if (be && (b[o + 3] === 7 || b[o + 3] === 8)) this.littleEndian = false;
      else return -1;
    }
    const v = this.littleEndian ? (le ? b[o]! : -1) : be ? b[o + 3]! : -1;
    return v === 7 || v === 8 ? v : -1;
  }

  /** Lenient mode after a bad magic: skip ahead to the next byte sequence that looks like one. */
  private resync(): void {
    this.bufPos++;
    for (;;) {
      while (this.bufPos + 4 <= this.bufLen) {
        if (this.magicVersion(this.bufPos) >= 0) return;
        this.bufPos++;
      }
      if (!this.ensure(4)) return;
    }
  }

  private truncated(need: number): boolean {
    const have = this.bufLen - this.bufPos;
    this.ctx.badRecord(`blktrace record #${this.rec.index + 1}`, "pdu_len", this.filePos + this.bufPos, `truncated: needs ${need} bytes, the file has ${have} left`);
    this.bufPos = this.bufLen;
    return false;
  }

  private atEnd(): boolean {
    const left = this.bufLen - this.bufPos;
    if (left > 0) return this.truncated(4);
    return false;
  }

  private ensure(n: number): boolean {
    if (this.bufLen - this.bufPos >= n) return true;
    if (this.eof || this.fd === null) return false;
    if (this.bufPos > 0) {
      this.buf.copy(this.buf, 0, this.bufPos, this.bufLen);
      this.filePos += this.bufPos;
      this.bufLen -= this.bufPos;
      this.bufPos = 0;
    }
    while (this.bufLen < n && !this.eof) {
      const r = traceRead(this.fd, this.buf, this.bufLen, this.buf.length - this.bufLen, this.filePos + this.bufLen);
      if (r === 0) this.eof = true;
      this.bufLen += r;
    }
    return this.bufLen >= n;
  }
}
