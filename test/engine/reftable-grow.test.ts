// The refcount table grows past its first cluster (qcow2_refcount_area) as allocations outrun it: the image's
// reftableSize follows the new table (it is the table's length, refcount_table_clusters whole), and QEMU finds
// the image written in place consistent.
import { afterAll, describe, expect, it } from "vitest";
import { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { qemuImg, tmpDir } from "../format/qemu-images.js";

const dir = tmpDir("qcowdbg-reftable-grow-");
afterAll(() => dir.cleanup());

describe("refcount table growth", () => {
  it("reftableSize follows the grown table", () => {
    const p = dir.path("grow.qcow2");
    // 512-byte clusters, 16-bit refcounts: a refcount block covers 128 KiB, a one-cluster table 8 MiB.
    qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", p, "64M");
    const img = Qcow2Image.open(p, { write: true });
    try {
      const before = img.reftableSize;
      const data = new Uint8Array(65536).fill(7);
      for (let off = 0; off < 16 << 20; off += data.length) img.write(data, off);
      expect(img.header.refcountTableClusters).toBeGreaterThan(1);
      expect(img.reftableSize).toBeGreaterThan(before);
      expect(img.reftableSize).toBe((img.header.refcountTableClusters * img.clusterSize) / 8);
      img.flush();
    } finally {
      img.close();
    }
    qemuImg("check", "-q", p);
  });
});
