// Converted copies for what-if runs (compare.ts convertedCopy): a small copy in a replay's work folder goes to
// the folder's twin in /dev/shm (qemu-img's preallocation syncs are free there), is the same image as one made on
// disk, and goes with removeWorkDir; a copy into any other folder stays in it.
import { existsSync } from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { convertArgs, convertedCopy, makeWorkDir, qemuImgAvailable, removeWorkDir, type FormatOptions } from "../../engine/replay/compare.js";
import { infoJson, qemuImg, tmpDir } from "../format/qemu-images.js";

const tmp = tmpDir("qcowdbg-copy-folder-");
afterAll(() => tmp.cleanup());
const shm = process.platform === "linux" && existsSync("/dev/shm");

describe.skipIf(!qemuImgAvailable())("converted copies' folder", () => {
  it("puts a small copy of a work folder in RAM, the same image, removed with the folder", () => {
    const image = tmp.path("fresh.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", image, "10G");
    const dir = makeWorkDir();
    try {
      const copy = convertedCopy(image, { preallocation: "metadata" }, dir);
      const onDisk = convertedCopy(image, { preallocation: "metadata" }, tmp.dir);
      expect(path.dirname(onDisk)).toBe(tmp.dir);
      if (shm) expect(path.dirname(copy)).toBe(path.join("/dev/shm", path.basename(dir)));
      else expect(path.dirname(copy)).toBe(dir);
      const info = (f: string) => ({ ...infoJson(f), filename: "", "actual-size": 0 });
      expect(info(copy)).toEqual(info(onDisk));
      removeWorkDir(dir);
      expect(existsSync(copy)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    } finally {
      removeWorkDir(dir);
    }
  });

  it("keeps a copy that would fill RAM on disk: falloc/full preallocation, or metadata of a very large image", () => {
    const image = tmp.path("large.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", image, "2T");
    const dir = makeWorkDir();
    try {
      // Only where each would go is looked at (convertArgs makes qemu-img's arguments, nothing is copied).
      const folder = (f: FormatOptions) => path.dirname(convertArgs(image, f, dir).out);
      expect(folder({ preallocation: "full" })).toBe(dir);
      expect(folder({ preallocation: "falloc" })).toBe(dir);
      // 2 TiB in 64 KiB clusters: 32M L2 entries and refcounts, 512 MiB.
      expect(folder({ preallocation: "metadata" })).toBe(dir);
      if (shm) expect(folder({ preallocation: "metadata", clusterSize: 2 ** 21 })).not.toBe(dir);
    } finally {
      removeWorkDir(dir);
    }
  });
});
