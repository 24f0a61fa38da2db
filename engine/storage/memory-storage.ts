// Bytes in memory, growing in chunks; used for tests, new images and small shadows.
import { MAX_WRITE_ALIGN, padWriteEnd, type Storage } from "./storage.js";

export class MemoryStorage implements Storage {
  /** O_DIRECT write padding (Storage.writeAlign); set by the image that owns this file. */
  writeAlign?: () => number;
  /** Writes and truncates so far (see Storage.writeGen). */
  writeGen = 0;
  readonly writable = true;
  private data: Uint8Array;
  private length: number;

  constructor(readonly name = "<memory>", initial?: Uint8Array) {
    this.data = initial ? initial.slice() : new Uint8Array(0);
    this.length = this.data.length;
  }

  size(): number {
    return this.length;
  }

  read(buf: Uint8Array, offset: number): number {
    const n = Math.max(0, Math.min(buf.length, this.length - offset));
    if (n > 0) buf.set(this.data.subarray(offset, offset + n));
    if (n < buf.length) buf.fill(0, n);
    return n;
  }

  write(buf: Uint8Array, offset: number): void {
    this.writeGen++;
    const end = offset + buf.length;
    this.ensure(end);
    this.data.set(buf, offset);
    if (end > this.length) this.length = end;
    if (this.writeAlign && end > this.length - MAX_WRITE_ALIGN) padWriteEnd(this, end);
  }

  truncate(size: number): void {
    this.writeGen++;
    this.ensure(size);
    if (size < this.length) this.data.fill(0, size, this.length);
    this.length = size;
  }

  flush(): void {}
  close(): void {}

  bytes(): Uint8Array {
    return this.data.subarray(0, this.length);
  }

  private ensure(n: number): void {
    if (n <= this.data.length) return;
    const next = new Uint8Array(Math.max(n, this.data.length * 2, 4096));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
}
