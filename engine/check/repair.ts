// check -r leaks|all: writes the refcounts compare_refcounts() decided on into the image's refcount blocks, as
// QEMU's update_refcount() leaves them, and discards clusters whose refcount drops to 0 (QEMU punches a hole; the
// bytes read as zeros either way). The blocks exist: a refcount of 0 in use goes to the rebuild instead. Writes go
// to the repair overlay, so later phases of the check read the repaired refcounts.
import { discardRange, type Storage } from "../storage/storage.js";
import { getRefcount, setRefcount } from "../format/refcount-entry.js";
import type { CheckGeometry } from "./check-context.js";
import type { StoredRefcounts } from "./stored-refcounts.js";
import { RepairOverlay } from "./repair-overlay.js";

/** Applies the repairs through `out`; each refcount block is read, changed and written once. */
export function applyRefcountRepairs(out: Storage, g: CheckGeometry, stored: StoredRefcounts, repairs: { cluster: number; refcount: number }[]): void {
  if (repairs.length === 0) return;
  const perBlock = 2 ** g.refblockBits;
  const byBlock = new Map<number, { cluster: number; refcount: number }[]>();
  for (const r of repairs) {
    const t = Math.floor(r.cluster / perBlock);
    const list = byBlock.get(t);
    if (list) list.push(r);
    else byBlock.set(t, [r]);
  }
  const block = new Uint8Array(g.clusterSize);
  // update_refcount() changes the blocks in QEMU's refcount block cache; its discards happen at once.
  const overlay = out instanceof RepairOverlay ? out : undefined;
  if (overlay) overlay.cached = true;
  for (const [t, list] of byBlock) {
    const offset = stored.blockOffset(t);
    out.read(block, offset);
    for (const r of list) {
      setRefcount(block, r.cluster - t * perBlock, g.refcountOrder, r.refcount);
      if (getRefcount(block, r.cluster - t * perBlock, g.refcountOrder) !== r.refcount)
        throw new Error(`${out.name}: refcount ${r.refcount} does not fit an entry of ${1 << g.refcountOrder} bits`);
      // QEMU's check_oflag_copied() reads the refcounts as just repaired.
      if (r.cluster < stored.values.length) stored.values[r.cluster] = r.refcount;
    }
    out.write(block, offset);
  }
  if (overlay) overlay.cached = false;
  for (const r of repairs) if (r.refcount === 0) discardRange(out, r.cluster * g.clusterSize, g.clusterSize);
}
