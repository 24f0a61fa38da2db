// check -r leaks|all: writes the refcounts compare_refcounts() decided on into the image's refcount blocks, as
// QEMU's update_refcount() leaves them, and discards clusters whose refcount drops to 0 (QEMU punches a hole; the
// bytes read as zeros either way). Only existing refcount blocks are written: a refcount of 0 in use needs QEMU's
// rebuild, which the check refuses before getting here. The writes are synced before the double check reads them.
import * as fs from "node:fs";
import { getRefcount, setRefcount } from "../format/refcount-entry.js";

export interface RefcountRepair {
  cluster: number;
  /** The refcount to store (the computed reference count). */
  refcount: number;
  /** File offset of the refcount block holding the cluster's entry, and the entry's index in it. */
  blockOffset: number;
  index: number;
}

/** Applies the repairs to `filename` in place; each block is read, changed and written once. */
export function writeRefcountRepairs(filename: string, repairs: RefcountRepair[]): void {
  if (repairs.length === 0) return;
  const fd = fs.openSync(filename, "r+");
  try {
    // The geometry from the header the check just read: cluster_bits at 20, refcount_order at 96 (v3; v2: 16-bit).
    const h = Buffer.alloc(100);
    fs.readSync(fd, h, 0, h.length, 0);
    const g = { clusterSize: 2 ** h.readUInt32BE(20), refcountOrder: h.readUInt32BE(4) >= 3 ? h.readUInt32BE(96) : 4 };
    const byBlock = new Map<number, RefcountRepair[]>();
    for (const r of repairs) byBlock.set(r.blockOffset, [...(byBlock.get(r.blockOffset) ?? []), r]);
    const block = new Uint8Array(g.clusterSize);
    for (const [offset, list] of byBlock) {
      if (fs.readSync(fd, block, 0, block.length, offset) !== block.length) throw new Error(`${filename}: refcount block at 0x${offset.toString(16)} is beyond the end of the file`);
      for (const r of list) setRefcount(block, r.index, g.refcountOrder, r.refcount);
      for (const r of list) if (getRefcount(block, r.index, g.refcountOrder) !== r.refcount) throw new Error(`${filename}: refcount ${r.refcount} does not fit an entry of ${1 << g.refcountOrder} bits`);
      fs.writeSync(fd, block, 0, block.length, offset);
    }
    const zero = new Uint8Array(g.clusterSize);
    const size = fs.fstatSync(fd).size;
    for (const r of repairs) {
      const at = r.cluster * g.clusterSize;
      if (r.refcount === 0 && at < size) fs.writeSync(fd, zero, 0, Math.min(g.clusterSize, size - at), at);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
