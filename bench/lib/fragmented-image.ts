// The images the inspection bench measures on: a 200 GiB image with preallocation=metadata (qemu-img create) and
// a 64 GiB one with 4 KiB clusters and 150,000 random 4 KiB writes (a long map: ~300k entries). The writes go
// through the engine in place, in random order as a guest would issue them: qemu-io took 9.6 minutes for them on
// this (loaded) 2-core machine, the engine takes seconds, and its file maps identically to qemu-io's (same md5 of
// qemu-img map's output). The overlap check is off: it verifies, it decides nothing, and with a 32 MiB L2 cache
// of 4 KiB slices it made each write 17x slower. Both tools then map the same file, outputs compared.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { quietEvents } from "../../engine/check/open-inspection.js";
import { Qcow2Image } from "../../engine/image/qcow2-image.js";

function qemuImgCreate(args: string[]): void {
  const r = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`qemu-img create ${args.join(" ")} failed: ${r.stderr}`);
}

/** qemu-img create -o preallocation=metadata, 200 GiB: 3.2 M allocated clusters, 25 MiB of L2 tables. */
export function preallocatedImage(dir: string): string {
  const img = join(dir, "prealloc-200g.qcow2");
  qemuImgCreate(["-o", "preallocation=metadata", img, "200G"]);
  return img;
}

/** 64 GiB, 4 KiB clusters, `writes` random 4 KiB writes (a fixed seed: the same image every run). */
export function fragmentedImage(dir: string, writes = 150_000): string {
  const file = join(dir, "frag-64g-4k.qcow2");
  qemuImgCreate(["-o", "cluster_size=4k", file, "64G"]);
  const img = Qcow2Image.open(file, { write: true, writable: true, events: quietEvents(), config: { cacheMode: "unsafe", overlapCheck: "none" } });
  try {
    const clusters = img.virtualSize / 4096;
    const block = new Uint8Array(4096).fill(0xcd);
    let s = 12345;
    for (let i = 0; i < writes; i++) {
      s = (s * 48271) % 2147483647;
      img.write(block, Math.floor((s / 2147483647) * clusters) * 4096);
    }
  } finally {
    img.close();
  }
  return file;
}
