// The one shape every trace format is normalised to: what the guest asked of its disk, in bytes and seconds.
// Replay, the TUI and the CLI consume only this; the parsers in this folder produce it.

export type GuestOp = "read" | "write" | "flush" | "discard" | "write-zeroes";

export const GUEST_OPS: readonly GuestOp[] = ["read", "write", "flush", "discard", "write-zeroes"];

export interface GuestRequest {
  /** Seconds from the trace start (float). */
  time: number;
  op: GuestOp;
  /** Bytes (0 for flush). */
  offset: number;
  /** Bytes (0 for flush). */
  length: number;
  fua: boolean;
  /** The request carries a flush before its data (blkparse "FWS" with a sector). */
  preflush: boolean;
  /** "file:line" for text traces, "file#record" for binary ones. */
  source: string;
  /** "259,0" for block traces, volume/disk id for dataset CSVs, vdev/blk/bs pointer for QEMU trace logs. */
  device?: string;
  /** qemu-io -P byte when known (write data / read verification). */
  pattern?: number;
  /** qemu-io `write -c` / BDRV_REQ_WRITE_COMPRESSED: the image must store the data compressed. */
  compressed?: boolean;
  /** Write-zeroes that may deallocate (qemu-io `write -z -u`, BDRV_REQ_MAY_UNMAP). */
  mayUnmap?: boolean;
}

export function isGuestOp(s: string): s is GuestOp {
  return (GUEST_OPS as readonly string[]).includes(s);
}
