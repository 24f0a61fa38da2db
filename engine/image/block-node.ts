// A layer of a backing chain as the block layer sees it: qcow2 or raw. Reads fill a guest buffer;
// block status answers for one layer (the chain walk lives in engine/check/map.ts and the read path).
import type { Storage } from "../storage/storage.js";
import type { Qcow2Image } from "./qcow2-image.js";

export interface BlockStatus {
  /** Bytes from the queried offset with the same status (> 0). */
  bytes: number;
  /** BDRV_BLOCK_DATA / ZERO / OFFSET_VALID / ALLOCATED as QEMU's block layer reports them for this layer. */
  data: boolean;
  zero: boolean;
  allocated: boolean;
  compressed: boolean;
  /** Host offset in `file` when valid. */
  offset?: number;
  file?: Storage;
  /** QEMU's BDRV_BLOCK_RECURSE: ask the file layer whether the range is a hole. */
  recurse: boolean;
}

export interface BlockNode {
  readonly format: "qcow2" | "raw";
  /** The file name as given (for messages and map's file column). */
  readonly filename: string;
  readonly virtualSize: number;
  readonly backing: BlockNode | null;
  /** Reads guest bytes; bytes past the virtual size read as zero. */
  read(buf: Uint8Array, offset: number): void;
  blockStatus(offset: number, bytes: number): BlockStatus;
  close(): void;
}

/** A raw image: guest offset == file offset; holes are reported by the storage when it can tell. */
export class RawNode implements BlockNode {
  readonly format = "raw";
  readonly backing = null;
  readonly virtualSize: number;

  constructor(readonly filename: string, readonly file: Storage) {
    this.virtualSize = file.size();
  }

  read(buf: Uint8Array, offset: number): void {
    this.file.read(buf, offset);
  }

  blockStatus(offset: number, bytes: number): BlockStatus {
    const n = Math.max(1, Math.min(bytes, this.virtualSize - offset));
    const hole = holeStatus(this.file, offset, n);
    return { bytes: hole.bytes, data: !hole.zero, zero: hole.zero, allocated: true, compressed: false, offset, file: this.file, recurse: false };
  }

  close(): void {
    this.file.close();
  }
}

/** Storages that can tell holes from data (SEEK_DATA/SEEK_HOLE). */
export interface HoleAware {
  holeStatus(offset: number, bytes: number): { zero: boolean; bytes: number };
}

export function holeStatus(file: Storage, offset: number, bytes: number): { zero: boolean; bytes: number } {
  const h = file as Partial<HoleAware>;
  if (typeof h.holeStatus === "function") return h.holeStatus(offset, bytes);
  if (offset >= file.size()) return { zero: true, bytes };
  return { zero: false, bytes: Math.min(bytes, file.size() - offset) };
}

/**
 * A qcow2 layer, told by its format: Qcow2Image is the only node that says "qcow2". Modules the image itself
 * loads (the write path, zero detection) ask this instead of `instanceof`, which would import the image back.
 */
export function isQcow2Node(node: BlockNode | null): node is Qcow2Image {
  return node !== null && node.format === "qcow2";
}
