// The overlap check's index of L2 tables and refcount blocks follows each L1 and refcount-table entry as it is set,
// instead of being rebuilt from the whole tables: after many allocations it must answer as a rebuilt one does.
import { afterAll, describe, expect, it } from "vitest";
import { checkMetadataOverlap, metadataTablesChanged } from "../../engine/image/overlap-check.js";
import { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { qemuImg, tmpDir } from "../format/qemu-images.js";

const dir = tmpDir("qcowdbg-overlap-index-");
afterAll(() => dir.cleanup());

function answers(img: Qcow2Image): number[] {
  const cs = img.clusterSize;
  const out: number[] = [];
  for (let c = 0; c * cs < img.file.size(); c++) out.push(checkMetadataOverlap(img, 0, c * cs, cs));
  return out;
}

describe("overlap-check index", () => {
  it("answers as a rebuilt index after L2 tables and refcount blocks were allocated", () => {
    const p = dir.path("a.qcow2");
    // 512-byte clusters and 1-bit refcounts: many L2 tables and refcount blocks, and refcount-table growth.
    qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=1", p, "64M");
    const img = Qcow2Image.open(p, { writable: true });
    try {
      const data = new Uint8Array(512).fill(1);
      let x = 12345;
      for (let i = 0; i < 3000; i++) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        img.write(data, (x % (64 * 2048)) * 512);
        // Checks between writes keep the index alive, so it is updated in place rather than rebuilt.
        if (i % 50 === 0) checkMetadataOverlap(img, 0, 0, 512);
      }
      const live = answers(img);
      expect(live.filter((b) => b !== 0).length).toBeGreaterThan(100);
      metadataTablesChanged(img);
      expect(answers(img)).toEqual(live);
    } finally {
      img.close();
    }
  });
});
