// The errno a guest request fails with, as QEMU's block layer reports it (qemu-io prints "write failed: <strerror>").

export type Errno = "EIO" | "EINVAL" | "ENOTSUP" | "ENOMEDIUM" | "EFBIG";

const STRERROR: Record<Errno, string> = {
  EIO: "Input/output error",
  EINVAL: "Invalid argument",
  ENOTSUP: "Operation not supported",
  // A node made unusable by a fatal corruption (bs->drv == NULL).
  ENOMEDIUM: "No medium found",
  // An L1 table past QCOW_MAX_L1_SIZE (a VM state write far past the virtual size).
  EFBIG: "File too large",
};

const ERRNO: Record<Errno, number> = { EIO: 5, EINVAL: 22, ENOTSUP: 95, ENOMEDIUM: 123, EFBIG: 27 };

export class GuestIoError extends Error {
  constructor(readonly errno: Errno, readonly detail: string) {
    super(`${STRERROR[errno]} (${detail})`);
    this.name = "GuestIoError";
  }

  get strerror(): string {
    return STRERROR[this.errno];
  }

  /** The negative errno QEMU's traces print as a request's ret (Linux numbers). */
  get ret(): number {
    return -ERRNO[this.errno];
  }
}
