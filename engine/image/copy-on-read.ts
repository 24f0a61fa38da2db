// Copy-on-read (qemu-io -C, BDRV_O_COPY_ON_READ on the top node): a guest read of ranges the top image does not
// allocate also writes what it read into the top image, cluster-aligned, as QEMU 7.2's bdrv_aligned_preadv and
// bdrv_co_do_copy_on_readv do. The copies are BDRV_REQ_WRITE_UNCHANGED writes: no FUA, so no flush even in
// writethrough mode; a copy that reads as zero becomes a zero write (without unmap).
import { GuestIoError } from "./guest-io-error.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { qcow2Read } from "./read-path.js";
import { qcow2Write } from "./write-path.js";
import { qcow2WriteZeroes } from "./zero-discard.js";

/** MAX_BOUNCE_BUFFER: 32768 sectors. */
const MAX_BOUNCE = 32768 * 512;
/** max_transfer: qcow2 sets none, so BDRV_REQUEST_MAX_BYTES. */
const MAX_TRANSFER = 2147483136;

/** bdrv_is_allocated() on the top node only; pnum 0 at or past the end. */
function isAllocated(img: Qcow2Image, offset: number, bytes: number): { allocated: boolean; pnum: number } {
  if (offset >= img.virtualSize || bytes <= 0) return { allocated: false, pnum: 0 };
  const st = img.blockStatus(offset, Math.min(bytes, img.virtualSize - offset));
  return { allocated: st.allocated, pnum: Math.min(st.bytes, bytes) };
}

/** A guest read with copy-on-read; buf.length bytes at offset, which lie inside the image. */
export function copyOnRead(img: Qcow2Image, buf: Uint8Array, offset: number): void {
  // A node a corruption made unusable (bs->drv NULL) fails every request, even an empty one (blk_check_byte_request).
  if (img.rt.unusable) throw new GuestIoError("ENOMEDIUM", `${img.filename}: image was made unusable by a corruption`);
  const bytes = buf.length;
  if (!bytes) return;
  const whole = isAllocated(img, offset, bytes);
  if (whole.allocated && whole.pnum === bytes) {
    qcow2Read(img, buf, offset);
    return;
  }
  // bdrv_round_to_clusters(): the copy covers whole clusters so no more backing I/O is needed later.
  const cs = img.clusterSize;
  let clusterOffset = Math.floor(offset / cs) * cs;
  let clusterBytes = Math.ceil((offset - clusterOffset + bytes) / cs) * cs;
  let skip = offset - clusterOffset;
  let progress = 0;
  while (clusterBytes) {
    const a = isAllocated(img, clusterOffset, Math.min(clusterBytes, MAX_TRANSFER));
    let pnum = a.pnum;
    // The image ends inside the cluster.
    if (!a.allocated && pnum === 0) break;
    if (!a.allocated) {
      pnum = Math.min(pnum, MAX_BOUNCE);
      const bounce = new Uint8Array(pnum);
      qcow2Read(img, bounce, clusterOffset);
      if (bounce.every((b) => b === 0)) qcow2WriteZeroes(img, clusterOffset, pnum, false);
      else qcow2Write(img, bounce, clusterOffset);
      const n = Math.min(pnum - skip, bytes - progress);
      if (n > 0) buf.set(bounce.subarray(skip, skip + n), progress);
    } else {
      const n = Math.min(pnum - skip, bytes - progress);
      // Read directly into the guest buffer: the driver sees it at qiov_offset `progress` (its add_task says so).
      if (n > 0) qcow2Read(img, buf.subarray(progress, progress + n), offset + progress, false, progress);
    }
    clusterOffset += pnum;
    clusterBytes -= pnum;
    progress += pnum - skip;
    skip = 0;
  }
}
