// Streams a text file line by line in constant memory: fixed-size chunks through fs.readSync, decoded up to the
// last newline so a UTF-8 sequence is never cut. Multi-GB traces must not be read whole.
import { traceClose, traceOpen, traceRead, type TraceFd } from "./trace-input.js";
import { TraceError } from "./trace-error.js";

export const CHUNK_SIZE = 1 << 20;
/** A longer "line" means the file is not the text trace it claims to be. */
export const MAX_LINE = 1 << 20;

export class LineReader {
  /** 1-based number of the line last yielded. */
  lineNo = 0;

  constructor(
    private readonly path: string,
    private readonly chunkSize = CHUNK_SIZE,
  ) {}

  *lines(): Generator<string> {
    const fd = traceOpen(this.path);
    try {
      const buf = Buffer.allocUnsafe(this.chunkSize);
      let carry: Buffer | null = null;
      let pos = 0;
      for (;;) {
        const n = traceRead(fd, buf, 0, this.chunkSize, pos);
        if (n === 0) break;
        pos += n;
        const data: Buffer = carry ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
        const lastNl = data.lastIndexOf(10);
        if (lastNl < 0) {
          if (data.length > MAX_LINE) throw new TraceError(this.path, this.lineNo + 1, `line longer than ${MAX_LINE} bytes: not a text trace`);
          carry = Buffer.from(data);
          continue;
        }
        const text = data.toString("utf8", 0, lastNl);
        // `data` may alias `buf`, which the next read overwrites: keep a copy of the tail.
        carry = lastNl + 1 < data.length ? Buffer.from(data.subarray(lastNl + 1)) : null;
        let start = 0;
        for (;;) {
          const nl = text.indexOf("\n", start);
          const end = nl < 0 ? text.length : nl;
          const cut = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
          this.lineNo++;
          yield text.slice(start, cut);
          if (nl < 0) break;
          start = nl + 1;
        }
      }
      if (carry && carry.length > 0) {
        let text = carry.toString("utf8");
        if (text.endsWith("\r")) text = text.slice(0, -1);
        this.lineNo++;
        yield text;
      }
    } finally {
      traceClose(fd);
    }
  }
}

/**
 * The same lines as raw bytes, for parsers that scan them without making strings (blkparse text): after next()
 * returns true the line is buf[start, end), newline and CR removed, valid until the following next().
 */
export class ByteLineReader {
  lineNo = 0;
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  private fd: TraceFd | null;
  private chunk: Buffer;
  private pos = 0;
  private len = 0;
  private filePos = 0;
  private eof = false;

  constructor(
    private readonly path: string,
    private readonly chunkSize = CHUNK_SIZE,
  ) {
    this.chunk = Buffer.allocUnsafe(chunkSize);
    this.fd = traceOpen(path);
  }

  next(): boolean {
    for (;;) {
      const nl = this.chunk.indexOf(10, this.pos);
      if (nl >= 0 && nl < this.len) return this.take(this.pos, nl, nl + 1);
      if (this.eof) {
        if (this.pos < this.len) return this.take(this.pos, this.len, this.len);
        this.close();
        return false;
      }
      this.refill();
    }
  }

  close(): void {
    if (this.fd !== null) traceClose(this.fd);
    this.fd = null;
    this.eof = true;
  }

  /** Decodes the current line (for messages and the rare lines that need a string). */
  text(): string {
    return this.buf.toString("utf8", this.start, this.end);
  }

  private take(from: number, to: number, next: number): boolean {
    this.buf = this.chunk;
    this.start = from;
    this.end = to > from && this.chunk[to - 1] === 13 ? to - 1 : to;
    this.pos = next;
    this.lineNo++;
    return true;
  }

  /** Moves the unread tail to the front and reads more behind it; grows the buffer for a very long line. */
  private refill(): void {
    const rest = this.len - this.pos;
    if (rest >= this.chunk.length) {
      if (this.chunk.length >= MAX_LINE * 2) throw new TraceError(this.path, this.lineNo + 1, `line longer than ${MAX_LINE} bytes: not a text trace`);
      const bigger = Buffer.allocUnsafe(this.chunk.length * 2);
      this.chunk.copy(bigger, 0, this.pos, this.len);
      this.chunk = bigger;
    } else if (this.pos > 0) this.chunk.copy(this.chunk, 0, this.pos, this.len);
    this.len = rest;
    this.pos = 0;
    const n = this.fd === null ? 0 : traceRead(this.fd, this.chunk, this.len, this.chunk.length - this.len, this.filePos);
    this.filePos += n;
    this.len += n;
    if (n === 0) this.eof = true;
  }
}

/** The first `max` bytes of a file (format detection, headers): a small helper, never the whole trace. */
export function readHead(path: string, max = 64 * 1024): Buffer {
  const fd = traceOpen(path);
  try {
    const buf = Buffer.alloc(max);
    let n = 0;
    // A pipe returns what it has: read until the window is full or the input ends.
    for (let got = 1; got > 0 && n < max; n += got) got = traceRead(fd, buf, n, max - n, n);
    return buf.subarray(0, n);
  } finally {
    traceClose(fd);
  }
}
