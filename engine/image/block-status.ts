// qcow2_co_block_status for one layer, plus the first-call metadata preallocation probe QEMU runs
// (qcow2_detect_metadata_preallocation), which reads the refcount of every cluster of the file.
import { SubclusterType } from "../format/l2-entry.js";
import type { BlockStatus } from "./block-node.js";
import { getHostOffset, type Lookup } from "./cluster-lookup.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { detectMetadataPreallocation } from "./refcounts.js";

/** The lookup part of qcow2_co_block_status (with its first-call preallocation probe); the result is reused. */
export function qcow2Lookup(img: Qcow2Image, offset: number, count: number): Lookup {
  if (!img.rt.metadataPreallocationChecked) {
    img.rt.metadataPreallocation = img.config.detectPreallocation ? detectMetadataPreallocation(img) : false;
    img.rt.metadataPreallocationChecked = true;
  }
  return getHostOffset(img, offset, Math.min(count, 0x7fffffff));
}

export function qcow2BlockStatus(img: Qcow2Image, offset: number, count: number): BlockStatus {
  const l = qcow2Lookup(img, offset, count);
  const st: BlockStatus = { bytes: l.bytes, data: false, zero: false, allocated: false, compressed: false, recurse: false };
  const t = l.type;
  if ((t === SubclusterType.Normal || t === SubclusterType.ZeroAlloc || t === SubclusterType.UnallocatedAlloc) && img.header.cryptMethod === 0) {
    st.offset = l.host;
    st.file = img.dataFile;
  }
  if (t === SubclusterType.ZeroPlain || t === SubclusterType.ZeroAlloc) st.zero = true;
  else if (t !== SubclusterType.UnallocatedPlain && t !== SubclusterType.UnallocatedAlloc) st.data = true;
  if (t === SubclusterType.Compressed) st.compressed = true;
  if (img.rt.metadataPreallocation && st.data && st.offset !== undefined) st.recurse = true;
  st.allocated = st.data || st.zero;
  return st;
}
