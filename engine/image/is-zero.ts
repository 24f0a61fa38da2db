// Whether a guest range reads as zero, asked of the whole backing chain as QEMU's block layer does
// (bdrv_co_common_block_status_above): is_zero() for write-zeroes (want_zero) and bdrv_co_is_zero_fast() for COW.
// A qcow2 backing node answers from its own L2 slice (loading it through its cache, as QEMU's trace shows).
import { SubclusterType } from "../format/l2-entry.js";
import { holeStatus, isQcow2Node, RawNode, type BlockNode } from "./block-node.js";
import { qcow2Lookup } from "./block-status.js";
import type { Qcow2Image } from "./qcow2-image.js";

/** bdrv_getlength(): whole 512-byte sectors (qcow2 truncates, a raw file's partial sector counts). */
function length(node: BlockNode): number {
  return node.format === "qcow2" ? Math.floor(node.virtualSize / 512) * 512 : Math.ceil(node.virtualSize / 512) * 512;
}

interface Answer {
  zero: boolean;
  allocated: boolean;
  bytes: number;
}

/**
 * The one Answer every call fills and returns (no object per query): each caller reads it before the next query.
 * Nothing here re-enters itself (a layer's lookup never asks block status).
 */
const scratch: Answer = { zero: false, allocated: false, bytes: 0 };
function answer(zero: boolean, allocated: boolean, bytes: number): Answer {
  scratch.zero = zero;
  scratch.allocated = allocated;
  scratch.bytes = bytes;
  return scratch;
}

/** bdrv_co_block_status() of one node: its ZERO and ALLOCATED bits and how far they hold. */
function layer(node: BlockNode, offset: number, bytes: number, wantZero: boolean): Answer {
  if (!isQcow2Node(node)) {
    // raw -> file-posix: without want_zero the file says DATA at once; with it, SEEK_HOLE tells holes.
    if (!wantZero || !(node instanceof RawNode)) return answer(false, true, bytes);
    const h = holeStatus(node.file, offset, bytes);
    return answer(h.zero, true, Math.min(h.bytes, bytes));
  }
  const l = qcow2Lookup(node, offset, bytes);
  const t = l.type;
  let n = l.bytes;
  if (t === SubclusterType.ZeroPlain || t === SubclusterType.ZeroAlloc) return answer(true, true, n);
  if (t !== SubclusterType.UnallocatedPlain && t !== SubclusterType.UnallocatedAlloc) {
    // Data. With metadata preallocation QEMU asks the host file (BDRV_BLOCK_RECURSE) whether it is a hole.
    let zero = false;
    if (wantZero && node.rt.metadataPreallocation && t !== SubclusterType.Compressed && node.header.cryptMethod === 0) {
      const file = node.dataFile;
      const total = Math.ceil(file.size() / 512) * 512;
      if (l.host >= total) zero = true;
      else {
        const h = holeStatus(file, l.host, Math.min(n, total - l.host));
        if (l.host + h.bytes >= total && h.zero) zero = true;
        else {
          n = Math.min(n, h.bytes);
          zero = h.zero;
        }
      }
    }
    return answer(zero, true, n);
  }
  // Unallocated: zero without a backing file, or (want_zero only) past the end of a shorter one.
  const zero = !node.backing || (wantZero && offset >= length(node.backing));
  return answer(zero, false, n);
}

/** bdrv_co_common_block_status_above(bs, NULL, ...): the first layer that allocates the range decides. */
function statusAbove(top: Qcow2Image, offset: number, bytes: number, wantZero: boolean): Answer {
  const total = length(top);
  if (offset >= total) return answer(false, false, 0);
  const first = layer(top, offset, Math.min(bytes, total - offset), wantZero);
  if (first.allocated || first.bytes === 0) return first;
  let ret = first;
  bytes = Math.min(bytes, first.bytes);
  for (let p = top.backing; p; p = p.backing) {
    const len = length(p);
    // A layer shorter than the range: its synthesised zeros count as allocated there.
    if (offset >= len) return answer(true, true, bytes);
    ret = layer(p, offset, Math.min(bytes, len - offset), wantZero);
    if (ret.allocated) break;
    bytes = Math.min(bytes, ret.bytes);
  }
  return ret;
}

/** is_zero() of block/qcow2.c: the range, clamped to the image, reads as zero (the loop merges kinds of zeros). */
export function isZero(img: Qcow2Image, offset: number, bytes: number): boolean {
  const total = length(img);
  if (offset + bytes > total) bytes = total - offset;
  if (bytes <= 0) return true;
  let r: Answer;
  do {
    r = statusAbove(img, offset, bytes, true);
    offset += r.bytes;
    bytes -= r.bytes;
  } while (r.zero && r.bytes && bytes);
  return r.zero && bytes === 0;
}

/** bdrv_co_is_zero_fast(): one status query without want_zero that must cover the whole range (COW shortcut). */
export function isZeroFast(img: Qcow2Image, offset: number, bytes: number): boolean {
  if (bytes === 0) return true;
  const r = statusAbove(img, offset, bytes, false);
  return r.zero && r.bytes === bytes;
}
