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
  close(): void;
  readonly writable: boolean;
}

export class ReadOnlyError extends Error {
  constructor(name: string) {
    super(`${name}: opened read-only; pass --write to modify it`);
    this.name = "ReadOnlyError";
  }
}
