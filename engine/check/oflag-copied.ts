// check_oflag_copied(): in the active L1 table and its L2 tables, the COPIED flag must be set exactly when the
// stored refcount of the cluster is 1 (external data clusters always count as refcount 1). Under check -r it
// repairs as QEMU does: the L1 entry rewritten alone, an L2 table rewritten whole once its entries are fixed.
import { hex64, type CheckContext } from "./check-context.js";
import { contiguousRun } from "./l2-walk.js";
import type { StoredRefcounts } from "./stored-refcounts.js";
import type { TableWindow } from "./table-window.js";
import type { RepairOverlap } from "./repair-overlap.js";

const TWO32 = 0x100000000;

/** check -r: where the active L1 table is, so that a repaired entry can be written back (through ctx.storage). */
export interface CopiedRepair {
  l1Offset: number;
  overlap: RepairOverlap;
}

/**
 * `marks` (from the walk of the active table) names the L1 entries whose L2 tables may hold a disagreeing entry;
 * only those are read again. Without marks every table is. With `repair` the flags are fixed, in `l1` too.
 */
export function checkOflagCopied(
  ctx: CheckContext,
  win: TableWindow,
  stored: StoredRefcounts,
  l1: Uint8Array,
  l1Size: number,
  marks?: Uint8Array,
  repair?: CopiedRepair,
): void {
  const g = ctx.g;
  const cs = g.clusterSize;
  const cb = g.clusterBits;
  const res = ctx.res;
  const dv = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
  const stride = g.l2EntryBytes;
  const ext = g.extendedL2;
  const dataFile = g.hasDataFile;
  const clustersPer4G = TWO32 / cs;
  const spc = cs >> 9;
  const spcShift = cb - 9;
  const values = stored.values;
  const direct = stored.failing.size === 0 ? values.length : 0;
  for (let i = 0; i < l1Size; i++) {
    const hi = dv.getUint32(i * 8);
    const lo = dv.getUint32(i * 8 + 4);
    const l2Hi = hi & 0x00ffffff;
    const l2Lo = (lo & 0xfffffe00) >>> 0;
    if (l2Hi === 0 && l2Lo === 0) continue;
    const l2Offset = l2Hi * TWO32 + l2Lo;
    const l2Cluster = l2Hi * clustersPer4G + (l2Lo >>> cb);
    const r = stored.get(l2Cluster);
    if (r < 0) continue;
    if ((r === 1) !== ((hi & 0x80000000) !== 0)) {
      ctx.say(`${repair ? "Repairing" : "ERROR"} OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${hex64(hi, lo)} refcount=${stored.show(l2Cluster, r)}`);
      if (repair) {
        // qcow2_write_l1_entry(): the in-memory table changes and the one entry is written back.
        dv.setUint32(i * 8, r === 1 ? (hi | 0x80000000) >>> 0 : hi & 0x7fffffff);
        repair.overlap.check(repair.l1Offset + i * 8, 8, "active-l1", () => res.checkErrors++);
        ctx.storage.write(l1.subarray(i * 8, i * 8 + 8), repair.l1Offset + i * 8);
        res.corruptionsFixed++;
      } else res.corruptions++;
    }
    if (l2Offset >= ctx.fileSize) continue; // reads as zeros: nothing allocated
    if (marks && marks[i] === 0) continue; // every entry agreed with its stored refcount
    let base = win.find(l2Offset);
    if (base < 0) base = win.load(l2Offset, contiguousRun(dv, i, l1Size, l2Offset, cs, win.capacity));
    const w = win.dv;
    let dirty = 0;
    for (let j = 0; j < g.l2Entries; j++) {
      const o = base + j * stride;
      const eHi = w.getInt32(o);
      const eLo = w.getInt32(o + 4);
      if (eHi & 0x40000000) continue; // compressed
      const offHi = eHi & 0x00ffffff;
      const offLo9 = (eLo >>> 9) & 0x7fffff;
      const hasOffset = (offHi | offLo9) !== 0;
      const zeroFlag = !ext && (eLo & 1) !== 0;
      // NORMAL or ZERO_ALLOC only
      if (zeroFlag ? !hasOffset : !hasOffset && !(dataFile && eHi & 0x80000000)) continue;
      let rc = 1;
      let k = 0;
      if (!dataFile) {
        const sector = offHi * 0x800000 + offLo9;
        k = sector < 0x80000000 ? sector >>> spcShift : Math.floor(sector / spc);
        rc = k < direct ? values[k]! : stored.get(k);
        if (rc < 0) continue;
      }
      if ((rc === 1) !== ((eHi & 0x80000000) !== 0)) {
        ctx.say(`${repair ? "Repairing" : "ERROR"} OFLAG_COPIED data cluster: l2_entry=${hex64(eHi, eLo)} refcount=${dataFile ? "1" : stored.show(k, rc)}`);
        if (repair) {
          w.setInt32(o, rc === 1 ? eHi | 0x80000000 : eHi & 0x7fffffff);
          dirty++;
        } else res.corruptions++;
      }
    }
    if (dirty > 0) {
      // The whole table goes back, as QEMU writes it (the window holds it, repaired).
      repair!.overlap.check(l2Offset, cs, "active-l2", () => {
        ctx.say("ERROR: Could not write L2 table; metadata overlap check failed: Input/output error");
        res.checkErrors++;
      });
      ctx.storage.write(new Uint8Array(w.buffer, base, cs), l2Offset);
      res.corruptionsFixed += dirty;
    }
  }
}
