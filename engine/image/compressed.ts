// Compressed clusters: read the descriptor's byte range and inflate exactly one cluster (deflate raw stream with
// window bits 12, or zstd frames). Garbage input is an error naming the L2 entry, never a crash or a hang.
import * as zlib from "node:zlib";
import { decompress as zstdDecompress } from "fzstd";
import { compressedDescriptor } from "../format/l2-entry.js";
import { FormatError } from "../format/format-error.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import type { Qcow2Image } from "./qcow2-image.js";

/**
 * A compressed cluster that does not inflate to one cluster. Inspection reports it like any malformed structure;
 * a guest request fails with EIO and the session goes on, as qcow2_co_preadv_compressed returns -EIO.
 */
export class CompressedDataError extends FormatError {}

export function readCompressedCluster(img: Qcow2Image, hi: number, lo: number, guestOffset: number): Uint8Array {
  const d = compressedDescriptor(hi, lo, img.clusterBits);
  const cs = img.clusterSize;
  const fileSize = img.file.size();
  if (d.hostOffset >= fileSize)
    throw new CompressedDataError("compressed cluster", "host_offset", d.hostOffset, img.filename, `guest offset 0x${guestOffset.toString(16)}: compressed data starts beyond the end of the file`);
  // The last sector may be over-read past EOF: QEMU allows it.
  const raw = new Uint8Array(Math.min(d.length, 2 * cs + 512));
  img.file.read(raw, d.hostOffset);
  img.events.emit(EventKind.DataRead, img.node, CACHE_NONE, -1, d.hostOffset, raw.length, 0);
  let out: Uint8Array;
  try {
    if (img.header.compressionType === 1) out = zstdCluster(raw, cs);
    else out = deflateCluster(raw, cs);
  } catch (e) {
    throw new CompressedDataError("compressed cluster", "data", d.hostOffset, img.filename, `guest offset 0x${guestOffset.toString(16)}: ${(e as Error).message}`);
  }
  img.events.emit(EventKind.Decompress, img.node, CACHE_NONE, -1, d.hostOffset, raw.length, cs);
  return out;
}

function deflateCluster(raw: Uint8Array, cs: number): Uint8Array {
  // QEMU: inflateInit2(-12); the output must fill the cluster; trailing input is allowed.
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(raw, { windowBits: 12, maxOutputLength: cs, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  } catch (e) {
    const msg = (e as Error).message;
    if (/maxOutputLength|Cannot create a Buffer larger|buffer/i.test(msg)) throw new Error("deflate data expands beyond one cluster");
    throw new Error(`invalid deflate data (${msg})`);
  }
  if (out.length < cs) throw new Error(`deflate data decompresses to ${out.length} bytes, need ${cs}`);
  return new Uint8Array(out.buffer, out.byteOffset, cs);
}

function zstdCluster(raw: Uint8Array, cs: number): Uint8Array {
  const out = new Uint8Array(cs);
  let filled = 0;
  // One or more frames: decompress until the cluster is full (QEMU's qcow2_zstd_decompress).
  let pos = 0;
  while (filled < cs && pos < raw.length) {
    const frameLen = zstdFrameLength(raw, pos);
    const chunk = zstdDecompress(raw.subarray(pos, pos + frameLen));
    if (filled + chunk.length > cs) throw new Error("zstd data expands beyond one cluster");
    out.set(chunk, filled);
    filled += chunk.length;
    pos += frameLen;
  }
  if (filled < cs) throw new Error(`zstd data decompresses to ${filled} bytes, need ${cs}`);
  return out;
}

/** Length of the zstd frame at `pos` (walks block headers), so several frames can follow each other. */
function zstdFrameLength(b: Uint8Array, pos: number): number {
  const start = pos;
  if (b.length - pos < 6 || b[pos] !== 0x28 || b[pos + 1] !== 0xb5 || b[pos + 2] !== 0x2f || b[pos + 3] !== 0xfd) throw new Error("bad zstd frame magic");
  pos += 4;
  const fhd = b[pos++]!;
  const dictIdFlag = fhd & 3;
  const singleSegment = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const checksum = (fhd >> 2) & 1;
  if (!singleSegment) pos++;
  pos += [0, 1, 2, 4][dictIdFlag]!;
  pos += fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  while (true) {
    if (pos + 3 > b.length) throw new Error("truncated zstd frame");
    const bh = b[pos]! | (b[pos + 1]! << 8) | (b[pos + 2]! << 16);
    pos += 3;
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (type === 3) throw new Error("reserved zstd block type");
    pos += type === 1 ? 1 : size;
    if (last) break;
  }
  if (checksum) pos += 4;
  if (pos > b.length) throw new Error("truncated zstd frame");
  return pos - start;
}
