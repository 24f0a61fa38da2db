// QEMU's pre-write overlap check (qcow2_check_metadata_overlap(), overlap-check=cached, qemu-img's default) for the
// writes check -r makes, and what a refused write does: the image is marked corrupt (fatal: the corrupt bit goes
// into the header) and the write fails with EIO. The metadata is QEMU's in-memory view: the active L1 table, the
// refcount table in use (the old one until a rebuild exchanges it), the snapshot table and the snapshots' L1s.
import { CheckAborted, type CheckContext } from "./check-context.js";
import { RepairOverlay } from "./repair-overlay.js";

/** QEMU's refcount block cache holds 4 clusters by default (MIN_REFCOUNT_CACHE_SIZE): more dirty blocks evict. */
const REFCOUNT_CACHE_ENTRIES = 4;
import type { OpenedForCheck } from "./open-validation.js";
import type { SnapshotTable } from "./snapshot-check.js";

export type OverlapIgnore = "none" | "active-l1" | "active-l2";

const TWO32 = 0x100000000;

export class RepairOverlap {
  /** The refcount table QEMU holds: offset, and its entries' bytes. */
  reftableOffset: number;
  reftable: Uint8Array;
  /** Set once a write was refused: QEMU has marked the image corrupt and stopped using it. */
  fatal = false;

  constructor(
    private readonly ctx: CheckContext,
    private readonly img: OpenedForCheck,
    private readonly snapshots: SnapshotTable,
  ) {
    this.reftableOffset = img.reftableOffset.n;
    this.reftable = img.reftable;
  }

  /** The metadata a write of `size` bytes at `offset` would overwrite (QEMU's name for it), if any. */
  find(offset: number, size: number, ignore: OverlapIgnore): string | undefined {
    const cs = this.ctx.g.clusterSize;
    if (offset < cs) return "qcow2_header";
    const start = Math.floor(offset / cs) * cs;
    const end = Math.ceil((offset + size) / cs) * cs;
    const hits = (o: number, n: number) => n > 0 && o < end && start < o + n;
    const img = this.img;
    const l1Size = img.header.l1Size;
    if (ignore !== "active-l1" && l1Size && hits(img.l1TableOffset.n, l1Size * 8)) return "active L1 table";
    if (this.reftable.length && hits(this.reftableOffset, this.reftable.length)) return "refcount table";
    if (this.snapshots.size && hits(this.snapshots.offset, this.snapshots.size)) return "snapshot table";
    for (const sn of this.snapshots.snapshots) if (sn.l1Size && hits(sn.l1TableOffset.n, sn.l1Size * 8)) return "inactive L1 table";
    if (ignore !== "active-l2") {
      const dv = new DataView(img.l1.buffer, img.l1.byteOffset, img.l1.byteLength);
      for (let i = 0; i < l1Size; i++) {
        const l2 = (dv.getUint32(i * 8) & 0x00ffffff) * TWO32 + (dv.getUint32(i * 8 + 4) & 0xfffffe00);
        if (l2 && hits(l2, cs)) return "active L2 table";
      }
    }
    const rt = new DataView(this.reftable.buffer, this.reftable.byteOffset, this.reftable.byteLength);
    for (let i = 0; i < this.reftable.length / 8; i++) {
      const block = rt.getUint32(i * 8) * TWO32 + (rt.getUint32(i * 8 + 4) & 0xfffffe00);
      if (block && hits(block, cs)) return "refcount block";
    }
    return undefined;
  }

  /**
   * qcow2_pre_write_overlap_check(): returns quietly when the write is safe; otherwise signals the corruption as
   * QEMU does (message, corrupt bit written) and throws after `then` has said and counted what the caller does.
   */
  check(offset: number, size: number, ignore: OverlapIgnore, then: () => void): void {
    const what = this.find(offset, size, ignore);
    if (what === undefined) return;
    const out = this.ctx.storage;
    // The BDS becomes unusable: QEMU never flushes its refcount block cache, so the refcount repairs in it are
    // lost, except those an eviction wrote earlier, which depends on QEMU's LRU and is not modelled.
    if (out instanceof RepairOverlay) {
      if (out.cachedTables.size > REFCOUNT_CACHE_ENTRIES)
        this.ctx.refuseRepair(`a repair write overlaps ${what} after refcount repairs in ${out.cachedTables.size} refcount blocks: QEMU would mark the image corrupt with some of them evicted from its cache`);
      out.dropCached();
    }
    this.fatal = true;
    this.ctx.say(`qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with ${what}); further corruption events will be suppressed`);
    // qcow2_mark_corrupt(): incompatible feature bit 1 (v3 headers only; v2 has no such field).
    if (this.img.header.version >= 3) {
      const b = new Uint8Array(1);
      this.ctx.storage.read(b, 79);
      b[0]! |= 2;
      this.ctx.storage.write(b, 79);
    }
    then();
    throw new CheckAborted("Input/output error");
  }
}
