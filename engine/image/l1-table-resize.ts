// Growing the active L1 table (qcow2_grow_l1_table): a new table in newly allocated clusters, written and synced,
// then the header pointed at it (l1_size and l1_table_offset, 12 bytes, synced) and the old table's clusters freed.
// A truncate that grows the image past what the L1 table maps calls it with the exact new size.
import { put32, put64 } from "../format/bytes.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import { allocClusters } from "./allocator.js";
import { pwriteSync } from "./flush.js";
import { metadataTablesChanged, preWriteOverlapCheck } from "./overlap-check.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { freeClusters } from "./refcounts.js";

/** QCOW_MAX_L1_SIZE: 32 MiB of entries. */
const MAX_L1_ENTRIES = (32 * 1024 * 1024) / 8;

/** Fails with an errno (EFBIG for a table QEMU will not make). */
export class L1ResizeError extends Error {
  constructor(readonly errno: "EFBIG") {
    super("File too large");
  }
}

/** size_to_l1: L1 entries that map `size` bytes of guest data. */
export function sizeToL1(img: Qcow2Image, size: number): number {
  const perEntry = img.clusterSize * img.geo.l2Entries;
  return Math.ceil(size / perEntry);
}

/** qcow2_vm_state_offset: the VM state area starts at the first L1 entry past the virtual size. */
export function vmStateOffset(img: Qcow2Image): number {
  return sizeToL1(img, img.virtualSize) * img.clusterSize * img.geo.l2Entries;
}

/** qcow2_grow_l1_table(min_size, exact_size). */
export function growL1Table(img: Qcow2Image, minSize: number, exact: boolean): void {
  const h = img.header;
  if (minSize <= h.l1Size) return;
  if (minSize > Math.floor(0x7fffffff / 8)) throw new L1ResizeError("EFBIG");
  let newSize = minSize;
  if (!exact) {
    // Bump the size up to grow less often.
    newSize = Math.max(h.l1Size, 1);
    while (minSize > newSize) newSize = Math.floor((newSize * 3 + 1) / 2);
  }
  if (newSize > MAX_L1_ENTRIES) throw new L1ResizeError("EFBIG");
  const bytes = newSize * 8;
  const table = new Uint8Array(bytes);
  table.set(img.l1.subarray(0, h.l1Size * 8));
  const offset = allocClusters(img, bytes);
  img.events.emit(EventKind.L1Grow, img.node, CACHE_NONE, -1, h.l1Size, newSize, offset);
  img.refcountCache.flush();
  // The header does not point at the new clusters yet: they must be free of any other metadata.
  preWriteOverlapCheck(img, 0, offset, bytes, false);
  pwriteSync(img, table, offset);
  const hdr = new Uint8Array(12);
  put32(hdr, 0, newSize);
  put64(hdr, 4, offset);
  pwriteSync(img, hdr, 36);
  const oldOffset = h.l1TableOffset;
  const oldSize = h.l1Size;
  img.rt.l1 = table;
  h.l1TableOffset = offset;
  h.l1Size = newSize;
  metadataTablesChanged(img);
  if (oldSize) freeClusters(img, oldOffset, oldSize * 8, false);
}
