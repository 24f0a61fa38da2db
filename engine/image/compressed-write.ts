// Compressed writes (qcow2_co_pwritev_compressed_part): each whole cluster is compressed as QEMU's zlib or zstd
// call does (qemu-compress.ts) and stored at a byte offset from qcow2_alloc_bytes, sharing host clusters between
// compressed clusters. Only unallocated clusters can be written this way; data that does not shrink is written normally.
import { encodeCompressed, entryOffset } from "../format/l2-entry.js";
import { EventKind, CACHE_NONE, ADD_TASK_WRITE } from "../events/event-kind.js";
import { corruption } from "./cluster-lookup.js";
import { GuestIoError } from "./guest-io-error.js";
import { getClusterTable, l2Hi, l2Lo, setBitmap, setL2, sliceIndex } from "./l2-table.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { Again, allocClustersNoref, getRefcount, updateRefcount } from "./refcounts.js";
import { maxRefcount } from "../format/refcount-entry.js";
import { qcow2Write } from "./write-path.js";
import { preWriteOverlapCheck } from "./overlap-check.js";
import { qemuCompress, zstdAvailable } from "./qemu-compress.js";

/** qcow2_alloc_bytes: `size` bytes, packed after the previous compressed cluster when they fit. */
function allocBytes(img: Qcow2Image, size: number): number {
  const cs = img.clusterSize;
  let offset = img.rt.freeByteOffset;
  if (offset && getRefcount(img, Math.floor(offset / cs)) === maxRefcount(img.header.refcountOrder)) offset = 0;
  let free = cs - (offset % cs);
  while (true) {
    if (!offset || free < size) {
      const fresh = allocClustersNoref(img, cs);
      if (fresh === 0) throw corruption(img, "refcount table", "allocation", 0, "preventing invalid allocation of compressed cluster at offset 0");
      if (!offset || Math.ceil(offset / cs) * cs !== fresh) {
        offset = fresh;
        free = cs;
      } else free += cs;
    }
    try {
      updateRefcount(img, offset, size, 1, false);
      break;
    } catch (e) {
      if (!(e instanceof Again)) throw e;
      offset = 0;
    }
  }
  img.l2Cache.setDependency(img.refcountCache);
  img.events.emit(EventKind.ClusterAlloc, img.node, CACHE_NONE, -1, offset, 0, size);
  img.rt.freeByteOffset = (offset + size) % cs === 0 ? 0 : offset + size;
  return offset;
}

function writeCompressedCluster(img: Qcow2Image, data: Uint8Array, offset: number): void {
  const cs = img.clusterSize;
  const buf = new Uint8Array(cs);
  buf.set(data);
  const out = qemuCompress(img.header.compressionType, buf, cs - 1);
  if (out === null) {
    // Does not shrink: QEMU writes a normal cluster instead.
    qcow2Write(img, data, offset);
    return;
  }
  const slot = getClusterTable(img, offset);
  const idx = sliceIndex(img, offset);
  let host: number;
  try {
    if (entryOffset(l2Hi(img, slot, idx), l2Lo(img, slot, idx)) !== 0)
      throw new GuestIoError("EIO", `guest offset 0x${offset.toString(16)} is already allocated; compressed writes cannot overwrite`);
    host = allocBytes(img, out.length);
    const sectors = Math.floor((host + out.length - 1) / 512) - Math.floor(host / 512);
    const [hi, lo] = encodeCompressed(host, sectors, img.clusterBits);
    img.l2Cache.markDirty(slot);
    setL2(img, slot, idx, hi, lo);
    if (img.geo.extendedL2) setBitmap(img, slot, idx, 0, 0);
  } finally {
    img.l2Cache.put(slot);
  }
  preWriteOverlapCheck(img, 0, host, out.length, true);
  // Compressed data that ends the file ends it on O_DIRECT's alignment boundary under cache=none/directsync
  // (Storage.writeAlign, set by Qcow2Image.open).
  img.dataFile.write(out, host);
  img.events.emit(EventKind.DataWrite, img.node, CACHE_NONE, -1, host, out.length, 0);
}

/** qcow2_co_pwritev_compressed_part: whole clusters only (or the last, partial one of the image). */
export function qcow2WriteCompressed(img: Qcow2Image, data: Uint8Array, offset: number): void {
  const cs = img.clusterSize;
  if (img.hasDataFile) throw new GuestIoError("ENOTSUP", "compressed writes are not possible with an external data file");
  if (img.header.compressionType === 1 && !zstdAvailable())
    throw new GuestIoError("ENOTSUP", "zstd compression needs qcowdbg's native addon and libzstd.so.1 (node scripts/build-native.mjs)");
  if (img.header.compressionType > 1) throw new GuestIoError("ENOTSUP", `unknown compression type ${img.header.compressionType}`);
  if (offset % cs) throw new GuestIoError("EINVAL", "compressed writes must start on a cluster boundary");
  if (data.length % cs && offset + data.length !== img.virtualSize) throw new GuestIoError("EINVAL", "compressed writes must cover whole clusters");
  // With several clusters QEMU starts every task first; each yields at once (compression runs in a thread pool),
  // then they finish in order.
  // Several clusters get an AIO task pool; each task carries its qiov_offset (EngineEvent.d).
  const pool = data.length > cs ? 1 : 0;
  for (let done = 0; done < data.length; done += cs)
    img.events.emit(EventKind.AddTask, img.node, ADD_TASK_WRITE, 0, 0, offset + done, Math.min(cs, data.length - done), done * 2 + pool);
  for (let done = 0; done < data.length; done += cs) writeCompressedCluster(img, data.subarray(done, Math.min(done + cs, data.length)), offset + done);
}
