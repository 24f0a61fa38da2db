// Where trace bytes come from: a file (positional reads, any number of passes) or a stream, "-" for stdin or a
// FIFO/pipe (`blkparse -i sda -o - | qcowdbg workload -`), read once front to back without seeking. The first
// 64 KiB of a stream are kept so format detection can look at them and the parse pass still starts at byte 0.
import * as fs from "node:fs";
import { TraceError } from "./trace-error.js";

const HEAD = 64 * 1024;

interface Stream {
  fd: number;
  /** The bytes at the start of the stream (up to HEAD), readable again. */
  head: Buffer;
  headLen: number;
  /** Bytes consumed from the fd so far. */
  consumed: number;
  eof: boolean;
}

export type TraceFd = { kind: "file"; fd: number } | { kind: "stream"; path: string; stream: Stream };

const streams = new Map<string, Stream>();

/** True for stdin ("-") and for FIFOs, sockets and character devices: inputs that cannot seek. */
export function isStreamTrace(path: string): boolean {
  if (path === "-") return true;
  try {
    const st = fs.statSync(path);
    return st.isFIFO() || st.isSocket() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

export function traceOpen(path: string): TraceFd {
  if (!isStreamTrace(path)) return { kind: "file", fd: fs.openSync(path, "r") };
  let s = streams.get(path);
  if (!s) {
    s = { fd: path === "-" ? 0 : fs.openSync(path, "r"), head: Buffer.alloc(HEAD), headLen: 0, consumed: 0, eof: false };
    streams.set(path, s);
  }
  return { kind: "stream", path, stream: s };
}

/** A blocking read from a descriptor that may have been left non-blocking (EAGAIN: wait a little and retry). */
function readFd(fd: number, buf: Uint8Array, off: number, len: number): number {
  for (;;) {
    try {
      return fs.readSync(fd, buf, off, len, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      if (code === "EOF") return 0;
      throw e;
    }
  }
}

/** Reads like fs.readSync at `pos`; a stream only moves forward (its first 64 KiB can be read again). */
export function traceRead(t: TraceFd, buf: Uint8Array, off: number, len: number, pos: number): number {
  if (t.kind === "file") return fs.readSync(t.fd, buf, off, len, pos);
  const s = t.stream;
  if (pos < s.headLen) {
    const n = Math.min(len, s.headLen - pos);
    s.head.copy(buf, off, pos, pos + n);
    return n;
  }
  if (pos !== s.consumed)
    throw new TraceError(t.path, 0, "a trace from a pipe or stdin can be read only once, front to back; this needs a second pass (save it to a file first)");
  if (s.eof || len === 0) return 0;
  const n = readFd(s.fd, buf, off, len);
  if (n === 0) s.eof = true;
  // Keep what falls in the head window, so a later pass can start again at byte 0 of the head.
  if (s.consumed < HEAD) {
    const keep = Math.min(n, HEAD - s.consumed);
    Buffer.from(buf.buffer, buf.byteOffset + off, keep).copy(s.head, s.consumed);
    s.headLen = s.consumed + keep;
  }
  s.consumed += n;
  return n;
}

export function traceClose(t: TraceFd): void {
  if (t.kind === "file") fs.closeSync(t.fd);
  // Streams stay open for the process: a second reader continues where the first stopped, or is refused.
}
