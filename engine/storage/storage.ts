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

/** The largest Storage.writeAlign() the engine sets (O_DIRECT after a reopen: 4 KiB; at open: 512 B). */
export const MAX_WRITE_ALIGN = 4096;

/**
 * After a write or zero write ending at `end`: QEMU pads an O_DIRECT request to `s.writeAlign()` (bdrv_pad_request
 * reads the partial head and tail blocks, zeroes past the end of the file, and writes whole blocks), so when the
 * padded end lies past the end of the file, the file grows to that boundary, zero-filled, even if the write itself
 * ended inside it (a 512-byte overwrite in the last, partial 4 KiB block). Callers skip the call for writes ending
 * more than MAX_WRITE_ALIGN before the end.
 */
export function padWriteEnd(s: Storage, end: number): void {
  const a = s.writeAlign ? s.writeAlign() : 1;
  if (a <= 1) return;
  const padded = Math.ceil(end / a) * a;
  if (padded > s.size()) s.truncate(padded);
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
