// calibrate's measure of QEMU's qcow2 driver and allocation path: one qemu-io process that switches (close, open)
// between a raw file, a qcow2 image and an extended-L2 qcow2 image, in blocks, so that each term is a difference
// of classes timed in the same process, seconds apart, rather than of two processes run at different moments
// (on the quiet development VM, the per-request driver cost taken across processes came out at 0, 7 and 14 µs in
// three runs).
import { Mixer, Script } from "./calibrate-script.js";

const K = 1024;
const M = K * K;
/** Commands of one class in a row: a block pays one image switch. */
const BLOCK = 16;
/** Clusters one L2 table maps on the 64 KiB-cluster images (8-byte entries; 16-byte with extended L2). */
export const L2_SPAN = 8192;
export const L2_SPAN_EXT = 4096;
/** Extended-L2 clusters [SUB_FIRST, 128) get their first 4 KiB written; qSubExt4 writes the rest of them. */
const SUB_FIRST = 16;
const SUB_CLUSTERS = 128 - SUB_FIRST;

export interface DriverFiles {
  /** Names relative to qemu-io's working directory (qemu-io splits `open`'s arguments on spaces). */
  raw: string;
  qcow2: string;
  ext: string;
}

/**
 * Guest offset of the i-th allocating write: a new 64 KiB cluster in [128, span) of the first L2 table (clusters
 * below 128 hold the set-up writes), shuffled, plus `within` bytes into it. Allocating an L2 table costs three
 * fdatasyncs and two metadata writes (qcow2's l2_allocate), which the model charges from the trace's own events:
 * spread over several tables, the writes folded them into the per-cluster term, and as a table maps 4x more with
 * 128 KiB extended-L2 clusters than with 64 KiB ones, the term came out as if it depended on the cluster size.
 */
export function inFirstL2(i: number, span: number, within: number): number {
  // 337 is prime and divides neither span - 128 (2^7 * 63, 2^7 * 31): i -> cluster is one-to-one.
  return (128 + ((i * 337) % (span - 128))) * 64 * K + within;
}

/**
 * The script (qemu-io starts on `files.qcow2`, both images fresh): set-up, then interleaved blocks of
 * - rRead4, rWrite4: cached 4 KiB reads and overwrites of the raw file's first MiB (data);
 * - qRead4, qWrite4: the same on the qcow2 image (1 MiB written first): their difference is the driver per request;
 * - qAlloc4: 4 KiB writes each into a new cluster (QEMU zeroes the rest of it, then writes);
 * - qAllocExt4: the same on the extended-L2 image, where 4 KiB covers whole subclusters: no COW, no zeroing;
 * - qSubExt4: 4 KiB writes into unallocated subclusters of clusters already allocated there: the same host write
 *   into a hole and the same L2 bitmap update as qAllocExt4, without the cluster allocation; so that
 *   qAllocExt4 - qSubExt4 is the allocation path (and the file's growth), measured within one image.
 * On each switch to an image an untimed read and, on the qcow2 images, an untimed allocating write load its L2
 * table and refcount block into QEMU's caches again (a close drops them).
 */
export function driverScript(files: DriverFiles, n: (x: number) => number, at: (base: number, span: number, align: number) => number): Script {
  const s = new Script();
  const open = (name: string, driver: string) => {
    s.add(null, "close");
    s.add(null, `open -t writeback -d unmap -o driver=${driver} ${name}`);
  };
  s.add(null, `write -q -P 90 0 ${M}`);
  s.add(null, "flush");
  open(files.ext, "qcow2");
  s.add(null, `write -q -P 90 0 ${M}`);
  for (let c = SUB_FIRST; c < 128; c++) s.add(null, `write -q ${c * 64 * K} 4k`);
  s.add(null, "flush");
  const nAlloc = Math.min(L2_SPAN_EXT - 256, n(100));
  const nSub = Math.min(SUB_CLUSTERS * 15, n(100));
  // Untimed allocations after the timed ones in each image's permutation: distinct clusters, same L2 table.
  let warmPlain = nAlloc;
  let warmExt = nAlloc;
  const image = new Map<string, "raw" | "qcow2" | "ext">();
  const x = new Mixer(BLOCK);
  const add = (tag: string, on: "raw" | "qcow2" | "ext", cmd: string) => {
    image.set(tag, on);
    x.add(tag, cmd);
  };
  for (let i = 0; i < n(100); i++) add("rRead4", "raw", `read ${at(0, M, 4 * K)} 4k`);
  for (let i = 0; i < n(100); i++) add("rWrite4", "raw", `write ${at(0, M, 4 * K)} 4k`);
  for (let i = 0; i < n(100); i++) add("qRead4", "qcow2", `read ${at(0, M, 4 * K)} 4k`);
  for (let i = 0; i < n(100); i++) add("qWrite4", "qcow2", `write ${at(0, M, 4 * K)} 4k`);
  for (let i = 0; i < nAlloc; i++) add("qAlloc4", "qcow2", `write ${inFirstL2(i, L2_SPAN, at(0, 64 * K, 4 * K))} 4k`);
  for (let i = 0; i < nAlloc; i++) add("qAllocExt4", "ext", `write ${inFirstL2(i, L2_SPAN_EXT, at(0, 64 * K, 4 * K))} 4k`);
  // Slot 1.. of each cluster in turn (slot 0 was written in the set-up): each write a subcluster never written.
  for (let i = 0; i < nSub; i++) add("qSubExt4", "ext", `write ${(SUB_FIRST + (i % SUB_CLUSTERS)) * 64 * K + (1 + Math.floor(i / SUB_CLUSTERS)) * 4 * K} 4k`);
  let current: "raw" | "qcow2" | "ext" = "ext";
  x.into(s, (tag) => {
    const want = image.get(tag)!;
    if (want === current) return;
    current = want;
    if (want === "raw") {
      open(files.raw, "raw");
      s.add(null, `read -q 0 ${M}`);
      return;
    }
    open(want === "ext" ? files.ext : files.qcow2, "qcow2");
    s.add(null, "read -q 0 4k");
    s.add(null, `write -q ${want === "ext" ? inFirstL2(warmExt++, L2_SPAN_EXT, 0) : inFirstL2(warmPlain++, L2_SPAN, 0)} 4k`);
  });
  return s;
}
