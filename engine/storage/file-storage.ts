// A host file with positional reads and writes (fs.readSync/writeSync), opened read-only unless asked.
import * as fs from "node:fs";
import { ReadOnlyError, type Storage } from "./storage.js";

export class FileStorage implements Storage {
  private fd: number;
  private length: number;

  constructor(readonly name: string, readonly writable = false) {
    this.fd = fs.openSync(name, writable ? "r+" : "r");
    const st = fs.fstatSync(this.fd);
    if (st.isDirectory()) {
      fs.closeSync(this.fd);
      throw new Error(`${name}: is a directory`);
    }
    this.length = st.size;
  }

  size(): number {
    return this.length;
  }

  read(buf: Uint8Array, offset: number): number {
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
    if (!this.writable) throw new ReadOnlyError(this.name);
    let done = 0;
    while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done, offset + done);
    if (offset + buf.length > this.length) this.length = offset + buf.length;
  }

  truncate(size: number): void {
    if (!this.writable) throw new ReadOnlyError(this.name);
    fs.ftruncateSync(this.fd, size);
    this.length = size;
  }

  /** Bytes the file occupies on disk (st_blocks), as bdrv_get_allocated_file_size reports. */
  allocatedSize(): number {
    return fs.fstatSync(this.fd).blocks * 512;
  }

  flush(): void {
    if (this.writable) fs.fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
