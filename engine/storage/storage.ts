// Where an image's bytes live. Synchronous positional I/O so the engine pays no await per metadata access.
// Implementations: a file, memory, and a shadow (copy-on-write) layer over a read-only storage.

export interface Storage {
  /** A name for messages: the file path, or a description. */
  readonly name: string;
  /** Current length in bytes. */
  size(): number;
  /** Fills buf from offset; bytes past the end read as zero. Returns how many bytes were inside the storage. */
  read(buf: Uint8Array, offset: number): number;
  write(buf: Uint8Array, offset: number): void;
  truncate(size: number): void;
  /**
   * Bumped by every write and truncate (QEMU's per-node write_gen): a flush with nothing written since the
   * last one does not reach the disk. Storages without it are flushed every time.
   */
  readonly writeGen?: number;
  /** Makes written data durable (fdatasync for files). */
  flush(): void;
  /** A discard: the range (inside the storage) reads as zero and its blocks are released; the size is kept. */
  punchHole?(offset: number, length: number): void;
  /** A zero write: the range reads as zero without writing data; the storage grows to cover it. */
  zeroRange?(offset: number, length: number): void;
  close(): void;
  readonly writable: boolean;
  /**
   * The alignment the block layer pads writes to (O_DIRECT's request_alignment; 1 or unset: none). A write or
   * zero write that ends past the end then leaves the storage ending on that boundary, zero-filled, as QEMU's
   * read-modify-write padding (bdrv_pad_request) does. A function: the image's cache mode can change (reopen).
   */
  writeAlign?: () => number;
}

/** After a write that grew `s` from `sizeBefore`: rounds its end up to `s.writeAlign()` (see Storage.writeAlign). */
export function padGrowth(s: Storage, sizeBefore: number): void {
  const a = s.writeAlign ? s.writeAlign() : 1;
  const size = s.size();
  if (a > 1 && size > sizeBefore && size % a) s.truncate(Math.ceil(size / a) * a);
}

/** Discards a range of `s` as QEMU's file layer does (a punched hole), or writes zeroes where it cannot. */
export function discardRange(s: Storage, offset: number, length: number): void {
  const n = Math.min(length, s.size() - offset);
  if (n <= 0) return;
  if (s.punchHole) s.punchHole(offset, n);
  else s.write(new Uint8Array(n), offset);
}

/** Writes zeroes to a range of `s` as QEMU's file layer does (FALLOC_FL_ZERO_RANGE), or zero bytes where it cannot. */
export function zeroRange(s: Storage, offset: number, length: number): void {
  if (length <= 0) return;
  if (s.zeroRange) return s.zeroRange(offset, length);
  const size = s.size();
  if (offset >= size) return s.truncate(offset + length);
  s.write(new Uint8Array(Math.min(length, size - offset)), offset);
  if (offset + length > size) s.truncate(offset + length);
}

export class ReadOnlyError extends Error {
  constructor(name: string) {
    super(`${name}: opened read-only; pass --write to modify it`);
    this.name = "ReadOnlyError";
  }
}
