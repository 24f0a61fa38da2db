// A read window over L2 tables: consecutive L1 entries usually point to consecutive clusters (always, after
// preallocation=metadata), so the walkers read many tables per system call instead of one table per call.
import type { Storage } from "../storage/storage.js";

/** Bytes read per window when the tables are contiguous. */
export const WINDOW_BYTES = 4 * 1024 * 1024;

export class TableWindow {
  private readonly bytes: Uint8Array;
  /** The window; entry halves are read with getInt32 (big-endian, and always a small integer for V8). */
  readonly dv: DataView;
  private start = 0;
  private end = 0;

  constructor(
    private readonly storage: Storage,
    private readonly tableBytes: number,
  ) {
    this.bytes = new Uint8Array(Math.max(WINDOW_BYTES, tableBytes));
    this.dv = new DataView(this.bytes.buffer);
  }

  /** Tables a window can hold. */
  get capacity(): number {
    return Math.floor(this.bytes.length / this.tableBytes);
  }

  /** Byte index of the table at `offset` if it is loaded, else -1. */
  find(offset: number): number {
    return offset >= this.start && offset + this.tableBytes <= this.end ? offset - this.start : -1;
  }

  /**
   * Loads `tables` consecutive tables starting at `offset` (bytes past the end of the file read as zeros,
   * as QEMU reads them) and returns the byte index of the first.
   */
  load(offset: number, tables: number): number {
    const n = Math.max(1, Math.min(tables, this.capacity)) * this.tableBytes;
    const view = this.bytes.subarray(0, n);
    if (offset >= this.storage.size()) view.fill(0);
    else this.storage.read(view, offset);
    this.start = offset;
    this.end = offset + n;
    return 0;
  }
}
