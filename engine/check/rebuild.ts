// check -r all when a cluster in use has refcount 0 (or a refcount block is unusable): QEMU 7.2's
// rebuild_refcount_structure(). The computed refcounts become the new refcount blocks; each block and the new
// refcount table go into the first free clusters of the computed table (first fit, growing the image at its end
// when no gap fits), in QEMU's order, so the rebuilt file is byte for byte the one qemu-img writes. The old
// structure is left behind as leaks, which the check's next pass frees.
import type { Storage } from "../storage/storage.js";
import { setRefcount } from "../format/refcount-entry.js";
import { newRefcountArray, type CheckGeometry, type RefcountArray } from "./check-context.js";

const REFTABLE_ENTRY_SIZE = 8;

export interface RebuildResult {
  reftableOffset: number;
  reftableClusters: number;
  /** The in-memory table's logical length after the allocations (QEMU's *nb_clusters). */
  nbClusters: number;
}

/** The in-memory refcount table (IMRT) as rebuild_refcount_structure() grows and allocates from it. */
class Imrt {
  constructor(
    public refs: RefcountArray,
    public nb: number,
    private readonly g: CheckGeometry,
  ) {}

  /** realloc_refcount_array(): capacity only grows; new slots are free. */
  grow(nb: number): void {
    if (nb > this.refs.length) {
      const bigger = newRefcountArray(this.g.refcountOrder, Math.max(nb, this.refs.length * 2));
      bigger.set(this.refs as never);
      this.refs = bigger;
    }
    this.nb = Math.max(this.nb, nb);
  }

  /** alloc_clusters_imrt(): the first run of `count` free clusters from *firstFree on, marked used (refcount 1). */
  alloc(count: number, firstFree: { v: number }): number {
    let cluster = firstFree.v;
    let firstGap = true;
    let run = 0;
    for (; cluster < this.nb && run < count; cluster++) {
      if (this.refs[cluster] === 0) {
        run++;
        if (firstGap) {
          firstFree.v = cluster;
          firstGap = false;
        }
      } else run = 0;
    }
    if (run < count) this.grow(cluster + count - run);
    cluster -= run;
    for (let i = 0; i < count; i++) this.refs[cluster + i] = 1;
    return cluster * this.g.clusterSize;
  }
}

/**
 * Writes the new refcount blocks and table through `out` (the repair overlay) and points the header at the new
 * table. `refs` holds the computed refcounts of clusters [0, nbClusters); it is not changed (a grown copy is
 * used). `guard` is QEMU's pre-write overlap check: a cluster free in the computed table may still be named by
 * the metadata QEMU holds (an old refcount block the check could not count), and QEMU then fails the write.
 */
export function rebuildRefcountStructure(
  out: Storage,
  g: CheckGeometry,
  refs: RefcountArray,
  nbClusters: number,
  guard: (offset: number, size: number, what: "refblock" | "reftable") => void,
): RebuildResult {
  const imrt = new Imrt(newRefcountArray(g.refcountOrder, nbClusters + 1), nbClusters, g);
  imrt.refs.set(refs.subarray(0, Math.min(refs.length, nbClusters + 1)) as never);
  const cs = g.clusterSize;
  const perBlock = 2 ** g.refblockBits;
  const reftable: number[] = [];
  let entries = 0;

  /** rebuild_refcounts_write_refblocks(): returns whether the reftable grew. */
  const writeRefblocks = (first: number, endCluster: number): boolean => {
    const firstFree = { v: 0 };
    let grown = false;
    let end = endCluster;
    for (let cluster = first; cluster < end; cluster++) {
      if (!imrt.refs[cluster]) continue;
      const index = Math.floor(cluster / perBlock);
      const start = index * perBlock;
      let offset: number;
      if (entries > index && reftable[index]) offset = reftable[index]!;
      else {
        // Never allocate in a refcount block already written.
        if (firstFree.v < start) firstFree.v = start;
        offset = imrt.alloc(1, firstFree);
        const own = offset / cs;
        if (own >= end) end = own + 1; // the block holding this block's refcount must be written too
        if (entries <= index) {
          const bytes = Math.ceil(((index + 1) * REFTABLE_ENTRY_SIZE) / cs) * cs;
          const n = bytes / REFTABLE_ENTRY_SIZE;
          for (let i = entries; i < n; i++) reftable[i] = 0;
          entries = n;
          grown = true;
        }
        reftable[index] = offset;
      }
      guard(offset, cs, "refblock");
      out.write(encodeBlock(imrt.refs, start, perBlock, g), offset);
      cluster = start + perBlock - 1;
    }
    return grown;
  };

  writeRefblocks(0, nbClusters);
  let reftableOffset = -1;
  let reftableClusters = 0;
  let grown: boolean;
  do {
    reftableClusters = Math.ceil((entries * REFTABLE_ENTRY_SIZE) / cs);
    reftableOffset = imrt.alloc(reftableClusters, { v: 0 });
    const first = reftableOffset / cs;
    grown = writeRefblocks(first, first + reftableClusters);
  } while (grown);

  const table = new Uint8Array(entries * REFTABLE_ENTRY_SIZE);
  const dv = new DataView(table.buffer);
  for (let i = 0; i < entries; i++) dv.setBigUint64(i * 8, BigInt(reftable[i] ?? 0));
  guard(reftableOffset, table.length, "reftable");
  out.write(table, reftableOffset);
  const header = new Uint8Array(12);
  const hv = new DataView(header.buffer);
  hv.setBigUint64(0, BigInt(reftableOffset));
  hv.setUint32(8, reftableClusters);
  out.write(header, 48);
  return { reftableOffset, reftableClusters, nbClusters: imrt.nb };
}

/** One refcount block's slice of the in-memory table, in the on-disk encoding of the image's refcount width. */
function encodeBlock(refs: RefcountArray, start: number, perBlock: number, g: CheckGeometry): Uint8Array {
  const block = new Uint8Array(g.clusterSize);
  const end = Math.min(refs.length, start + perBlock);
  for (let k = start; k < end; k++) {
    const v = refs[k]!;
    if (v !== 0) setRefcount(block, k - start, g.refcountOrder, v);
  }
  return block;
}
