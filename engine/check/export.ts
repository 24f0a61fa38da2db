// `qcowdbg export`: the guest-visible content of an image (its whole backing chain) as a raw file, the bytes
// `qemu-img convert -O raw` writes. Zero runs and all-zero 4 KiB blocks stay holes (convert's default -S 4k),
// and the output is never one of the files the image is made of.
import * as fs from "node:fs";
import { UnsupportedError } from "../format/format-error.js";
import type { BlockNode } from "../image/block-node.js";
import { Qcow2Image } from "../image/qcow2-image.js";
import { chainInputs } from "../image/input-files.js";
import { AtomicOutput } from "../storage/atomic-output.js";
import { refuseClashes } from "../storage/output-guard.js";
import { contentRuns, qemuLength } from "./map.js";

/** Bytes read per request: big enough to amortise lookups, small enough to stay cache friendly. */
const CHUNK = 2 * 1024 * 1024;
/** qemu-img convert's default minimum sparse size (-S 4k). */
const SPARSE_BLOCK = 4096;

export interface ExportResult {
  /** Bytes of the output (the virtual size). */
  size: number;
  /** Bytes actually written (the rest are holes). */
  written: number;
}

/** Every host file the image reads from: image files of the chain and external data files. */
export function chainFiles(top: BlockNode): string[] {
  return chainInputs(top).map((f) => f.path);
}

/** Refuses an output that is the image itself, a backing file or a data file: writing it would destroy the input. */
export function checkOutput(top: BlockNode, out: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(out);
  } catch {
    return;
  }
  if (st.isDirectory()) throw new UnsupportedError(out, "is a directory");
  // Holes need a regular file (positional writes and a final truncate to the virtual size).
  if (!st.isFile()) throw new UnsupportedError(out, "is not a regular file; export writes a sparse raw file");
  refuseClashes([{ role: "the export output", path: out }], chainInputs(top));
}

function isZero(buf: Buffer, zeros: Buffer): boolean {
  return buf.equals(zeros.subarray(0, buf.length));
}

/** Writes the non-zero 4 KiB blocks of `buf` (guest offset `pos`) to `fd`, coalescing neighbours into one write. */
function writeSparse(fd: number, buf: Buffer, pos: number, zeros: Buffer): number {
  let written = 0;
  let runStart = -1;
  const flush = (end: number) => {
    if (runStart < 0) return;
    let done = runStart;
    while (done < end) done += fs.writeSync(fd, buf, done, end - done, pos + done);
    written += end - runStart;
    runStart = -1;
  };
  // Blocks are aligned to the output file, as convert's are, so holes land on filesystem blocks.
  let i = 0;
  while (i < buf.length) {
    const blockEnd = Math.min(buf.length, Math.floor((pos + i) / SPARSE_BLOCK) * SPARSE_BLOCK + SPARSE_BLOCK - pos);
    const zero = isZero(buf.subarray(i, blockEnd), zeros);
    if (zero) flush(i);
    else if (runStart < 0) runStart = i;
    i = blockEnd;
  }
  flush(buf.length);
  return written;
}

/**
 * Writes the guest content of `top` to `out` (created or truncated). Reading encrypted data is not supported
 * (qcowdbg never holds keys); compressed clusters are inflated; backing data shows through as QEMU reads it.
 */
export function exportRaw(top: BlockNode, out: string, onProgress?: (done: number, total: number) => void): ExportResult {
  if (top instanceof Qcow2Image && top.header.cryptMethod !== 0)
    throw new UnsupportedError(top.filename, "exporting an encrypted image is not supported (qcowdbg does not decrypt)");
  checkOutput(top, out);
  const size = qemuLength(top);
  // A temporary file renamed into place: an interrupted export never leaves a partial file under OUT.
  const target = new AtomicOutput(out);
  const fd = target.fd();
  let written = 0;
  let done = false;
  try {
    const buf = Buffer.alloc(CHUNK);
    const zeros = Buffer.alloc(CHUNK);
    contentRuns(top, (start, length, zero) => {
      if (zero) return;
      for (let off = start; off < start + length; off += CHUNK) {
        const n = Math.min(CHUNK, start + length - off);
        const view = buf.subarray(0, n);
        // Bytes past a raw file's end (its rounded-up last sector) read as zero.
        top.read(view, off);
        written += writeSparse(fd, view, off, zeros);
        onProgress?.(off + n, size);
      }
    });
    fs.ftruncateSync(fd, size);
    target.commit();
    done = true;
  } catch (e) {
    // Errors on the descriptor (EFBIG, ENOSPC) carry no name: the output's.
    const errno = e as NodeJS.ErrnoException;
    if (typeof errno.code === "string" && !errno.path) errno.path = out;
    throw e;
  } finally {
    if (!done) target.abort();
  }
  return { size, written };
}
