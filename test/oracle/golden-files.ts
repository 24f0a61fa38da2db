// Restores a write-oracle golden file for a test run: whole, or for a sparse workload with every all-zero 4 KiB
// block left as a hole, exactly as samples/write-oracle/make-goldens.py placed it for qemu-io (QEMU's
// metadata-preallocation probe reads st_blocks, and its block status reads the holes).
import * as fs from "node:fs";
import * as zlib from "node:zlib";

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
