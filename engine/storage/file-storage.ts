// A host file with positional reads and writes (fs.readSync/writeSync), opened read-only unless asked, and locked
// as QEMU locks image files (engine/storage/image-lock.ts) unless it is not an image (an output being written).
import * as fs from "node:fs";
import { lockImage } from "./image-lock.js";
import { findAllocation } from "./seek-hole.js";
import { punchHoleFd, zeroRangeFd } from "./fallocate.js";
import { posix } from "./native.js";
import { MAX_WRITE_ALIGN, ReadOnlyError, padWriteEnd, type Storage } from "./storage.js";

export class FileStorage implements Storage {
  /** O_DIRECT write padding (Storage.writeAlign); set by the image that owns this file. */
  writeAlign?: () => number;
  /** Writes and truncates so far (see Storage.writeGen). */
  writeGen = 0;
  private fd: number;
  private length: number;
  /** The last extent lseek reported ([start, end), hole or data), so a scan asks the kernel once per extent. */
  private extentStart = 0;
  private extentEnd = 0;
  private extentZero = false;
  /** Readahead turned off on the descriptor (while reads stand in for O_DIRECT ones, see read()). */
  private noReadahead = false;

  constructor(readonly name: string, readonly writable = false, opts: { lock?: boolean } = {}) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below (no effect on regular files).
    const c = fs.constants;
    this.fd = fs.openSync(name, (writable ? c.O_RDWR : c.O_RDONLY) | c.O_NONBLOCK);
    try {
      const st = fs.fstatSync(this.fd);
      if (st.isDirectory()) throw new Error(`${name}: is a directory`);
      if (!st.isFile() && !st.isBlockDevice())
        throw new Error(`${name}: is ${st.isFIFO() ? "a FIFO" : st.isSocket() ? "a socket" : st.isCharacterDevice() ? "a character device" : "not a regular file"}; images must be regular files or block devices`);
      this.length = st.size;
      if (opts.lock !== false) lockImage(this.fd, name, writable);
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  size(): number {
    return this.length;
  }

  read(buf: Uint8Array, offset: number): number {
    // Under O_DIRECT QEMU's read leaves no pages in the host cache; ours is buffered, and its zero pages of an
    // unwritten extent (fallocate ZERO_RANGE) would turn SEEK_DATA's hole into data for later block-status queries
    // (write fuzzer seed 70226: an is_zero that QEMU answered from the hole). So such reads read no further ahead
    // (seed 170193: readahead pages past the read did the same) and drop what they brought in.
    const direct = this.writeAlign !== undefined && this.writeAlign() > 1 && posix?.dropCache !== undefined;
    if (direct !== this.noReadahead && posix?.readahead) {
      posix.readahead(this.fd, !direct);
      this.noReadahead = direct;
    }
    let n: number;
    try {
      n = this.readAt(buf, offset);
    } catch (e) {
      throw named(e, this.name);
    }
    if (n > 0 && direct) posix!.dropCache!(this.fd, offset, n);
    return n;
  }

  private readAt(buf: Uint8Array, offset: number): number {
    let done = 0;
    const want = buf.length;
    while (done < want && offset + done < this.length) {
      const n = fs.readSync(this.fd, buf, done, Math.min(want - done, this.length - offset - done), offset + done);
      if (n <= 0) break;
      done += n;
    }
    if (done < want) buf.fill(0, done);
    return done;
  }

  write(buf: Uint8Array, offset: number): void {
    this.writeGen++;
    if (!this.writable) throw new ReadOnlyError(this.name);
    this.extentEnd = 0;
    let done = 0;
    try {
      while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done, offset + done);
    } catch (e) {
      throw named(e, this.name);
    }
    if (offset + buf.length > this.length) this.length = offset + buf.length;
    if (this.writeAlign && offset + buf.length > this.length - MAX_WRITE_ALIGN) padWriteEnd(this, offset + buf.length);
  }

  punchHole(offset: number, length: number): void {
    if (!this.writable) throw new ReadOnlyError(this.name);
    this.writeGen++;
    this.extentEnd = 0;
    const n = Math.min(length, this.length - offset);
    if (n > 0 && !punchHoleFd(this.fd, offset, n)) this.writeZeroes(offset, n);
  }

  zeroRange(offset: number, length: number): void {
    if (!this.writable) throw new ReadOnlyError(this.name);
    this.writeGen++;
    this.extentEnd = 0;
    if (!zeroRangeFd(this.fd, offset, length)) {
      // Without fallocate: zero bytes inside the file, a sparse extension past its end.
      const inside = Math.min(length, this.length - offset);
      if (inside > 0) this.writeZeroes(offset, inside);
      if (offset + length > this.length) fs.ftruncateSync(this.fd, offset + length);
    }
    if (offset + length > this.length) this.length = offset + length;
    if (this.writeAlign && offset + length > this.length - MAX_WRITE_ALIGN) padWriteEnd(this, offset + length);
  }

  private writeZeroes(offset: number, length: number): void {
    const zeros = new Uint8Array(Math.min(length, 1 << 20));
    for (let done = 0; done < length; ) done += fs.writeSync(this.fd, zeros, 0, Math.min(zeros.length, length - done), offset + done);
  }

  truncate(size: number): void {
    this.writeGen++;
    if (!this.writable) throw new ReadOnlyError(this.name);
    this.extentEnd = 0;
    try {
      fs.ftruncateSync(this.fd, size);
    } catch (e) {
      throw named(e, this.name);
    }
    this.length = size;
  }

  /** Bytes the file occupies on disk (st_blocks), as bdrv_get_allocated_file_size reports. */
  allocatedSize(): number {
    return fs.fstatSync(this.fd).blocks * 512;
  }

  /**
   * Whether [offset, offset+bytes) starts in a hole (reads as zero) or in data, and for how many bytes, as QEMU's
   * file layer answers block status (SEEK_DATA/SEEK_HOLE). Past the end of the file is a hole; when the system
   * cannot tell, everything is data.
   */
  holeStatus(offset: number, bytes: number): { zero: boolean; bytes: number } {
    if (offset >= this.extentStart && offset < this.extentEnd)
      return { zero: this.extentZero, bytes: Math.min(bytes, this.extentEnd - offset) };
    const a = findAllocation(this.fd, offset);
    switch (a.kind) {
      case "data":
      case "hole":
        this.extentStart = offset;
        this.extentEnd = a.end;
        this.extentZero = a.kind === "hole";
        return { zero: this.extentZero, bytes: Math.min(bytes, a.end - offset) };
      case "trailing":
        this.extentStart = offset;
        this.extentEnd = Infinity;
        this.extentZero = true;
        return { zero: true, bytes };
      default:
        // No lseek answer: the end of the file is still known.
        if (offset >= this.length) return { zero: true, bytes };
        return { zero: false, bytes };
    }
  }

  flush(): void {
    if (this.writable) fs.fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** An errno error from a call on a descriptor carries no file name: give it this storage's, for the message. */
function named(e: unknown, name: string): unknown {
  const errno = e as NodeJS.ErrnoException;
  if (errno && typeof errno.code === "string" && !errno.path) errno.path = name;
  return e;
}
