// Restores a write-oracle golden file for a test run: whole, or for a sparse workload with every all-zero 4 KiB
// block left as a hole, exactly as samples/write-oracle/make-goldens.py placed it for qemu-io (QEMU's
// metadata-preallocation probe reads st_blocks, and its block status reads the holes).
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { findAllocation } from "../../engine/storage/seek-hole.js";

export const GOLD = path.resolve(import.meta.dirname, "../../samples/write-oracle/goldens");

/** A workload of samples/write-oracle/goldens/index.json; each test reads the per-mode fields it checks (M). */
export interface GoldenWorkload<M> {
  name: string;
  files: string[];
  /** The workload ran on copies whose all-zero 4 KiB blocks are holes (metadata preallocation, class 4). */
  sparse?: boolean;
  /** Native addons the workload's exactness rests on (compress: streams as QEMU's zlib and zstd make them). */
  needs?: string[];
  /** The workload's own qemu-io options (-C), given to qcowdbg repl too. */
  opts?: string[];
  modes: Record<string, M>;
}

export function goldenWorkloads<M>(): GoldenWorkload<M>[] {
  return (JSON.parse(fs.readFileSync(path.join(GOLD, "index.json"), "utf8")) as { workloads: GoldenWorkload<M>[] }).workloads;
}

/** Restores a workload's base image (as imageName) and side files into dir, as qemu-io had them; returns the image. */
export function restoreWorkload(w: GoldenWorkload<unknown>, dir: string, imageName = "img.qcow2"): string {
  const wd = path.join(GOLD, w.name);
  for (const f of w.files) restoreGolden(path.join(wd, f + ".gz"), path.join(dir, f), w.sparse === true);
  const img = path.join(dir, imageName);
  restoreGolden(path.join(wd, "base.qcow2.gz"), img, w.sparse === true);
  return img;
}

/** Data extents of a file as lseek reports them (SEEK_DATA/SEEK_HOLE through the native addon). */
export function dataExtents(file: string): [number, number][] {
  const fd = fs.openSync(file, "r");
  try {
    const extents: [number, number][] = [];
    for (let off = 0, size = fs.fstatSync(fd).size; off < size; ) {
      const a = findAllocation(fd, off);
      if (a.kind === "trailing" || a.kind === "unknown") break;
      if (a.kind === "data") extents.push([off, a.end]);
      off = a.end;
    }
    return extents;
  } finally {
    fs.closeSync(fd);
  }
}

const BLOCK = 4096;

export function restoreGolden(gz: string, dst: string, sparse: boolean): void {
  const data = zlib.gunzipSync(fs.readFileSync(gz));
  if (!sparse) {
    fs.writeFileSync(dst, data);
    return;
  }
  const fd = fs.openSync(dst, "w");
  try {
    for (let off = 0; off < data.length; off += BLOCK) {
      const block = data.subarray(off, Math.min(off + BLOCK, data.length));
      if (block.some((b) => b !== 0)) fs.writeSync(fd, block, 0, block.length, off);
    }
    fs.ftruncateSync(fd, data.length);
  } finally {
    fs.closeSync(fd);
  }
}

const ADDONS: Record<string, string> = { compress: "dist/native/compress.node" };

/** Why a workload cannot be held to QEMU here: a native addon its exactness rests on is not built (or ""). */
export function missingAddon(root: string, needs: string[] | undefined): string {
  for (const n of needs ?? []) if (!fs.existsSync(`${root}/${ADDONS[n] ?? `dist/native/${n}.node`}`)) return `the ${n} addon is not built (node scripts/build-native.mjs)`;
  return "";
}
