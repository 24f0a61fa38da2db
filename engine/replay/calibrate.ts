// `qcowdbg calibrate`: measures the storage under a folder with the I/O QEMU issues, issued by qemu-io itself on a
// raw scratch file there (so QEMU's own per-request overhead is in the figures): 4 KiB and 64 KiB reads and writes,
// random and sequential, O_DIRECT (cache=none) and through the page cache (writeback), reads of holes, writes
// into holes and past the end, fdatasync after 0..16 MiB of dirty data and after allocation, fallocate punch/zero,
// and qcow2's own sequences on scratch images (cached and allocating writes, timed against the raw file's in one
// qemu-io process: calibrate-driver.ts; writethrough allocating writes). Each script runs `runs`
// times, in rounds, on the same starting state (files fsynced, allocated ranges punched back into holes, new random
// offsets for reads that must miss); each command counts its fastest run, the statistic `replay --validate-runs`
// uses for each request, so that the profile and the measurement it is checked against mean the same thing.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { DeviceProfile } from "./device-profiles.js";
import { PROFILE_FORMAT, PROFILE_VERSION } from "./device-profiles.js";
import { ioCost, type HostProfile, type IoCost } from "./host-profile.js";
import { runQemuIo } from "./qemu-io-run.js";
import { Mixer, punch, Script } from "./calibrate-script.js";
import { driverScript } from "./calibrate-driver.js";
import { prng } from "../prng.js";
import { withCpuIdle, type CpuIdleMode } from "./cpu-idle-hold.js";

export { inFirstL2 } from "./calibrate-driver.js";

const K = 1024;
const M = 1024 * 1024;
/** Scratch-file layout: data, then holes for each kind of allocating write, then holes to read. */
const DATA_END = 256 * M;
const DIRECT_ALLOC_4K = 256 * M;
const DIRECT_ALLOC_64K = 320 * M;
const BUF_ALLOC_4K = 384 * M;
const BUF_ALLOC_64K = 416 * M;
/** Ranges zeroed with write-zeroes (unwritten extents), then written into. */
const UNWRITTEN = 448 * M;
const DATA_END_ALLOC = 512 * M;
/** Written, then punched (fallocate PUNCH_HOLE), 64 KiB at a time. */
const PUNCH = 512 * M;
/** Holes to read: a wide sparse span, so each read meets pages (and read-ahead) never touched before. */
const HOLES = 1024 * M;
const HOLES_END = 64 * 1024 * M;
/** Written past here only after `truncate` extends the file (qemu-io refuses writes past the end). */
const FILE_SIZE = HOLES_END;
const EXTENDED_SIZE = FILE_SIZE + 8192 * M;
const DIRTY_SIZES = [M, 4 * M, 16 * M];
/** Allocating writes before the timed sync of the syncAllocN classes: one, then as many as qcow2 makes between
 * two L2 table allocations when a growing image appends clusters (about 50 in issue 14's scenario (b)). */
const ALLOC_WRITES = [1, 32];
/** Where those writes go: appended 64 KiB "clusters" in the punched extension, as qcow2 lays out new clusters. */
const SCATTER = FILE_SIZE + 6144 * M;

export interface CalibrateOptions {
  dir: string;
  /** Scales the number of I/Os per class (1 = default, under a minute on an SSD). */
  scale?: number;
  pageCacheBytes?: number;
  name?: string;
  /** Runs of each script; each command counts its fastest (default 3, as replay --validate-runs). */
  runs?: number;
  /** "hold" (default): idle CPUs kept out of halt states while timing, as replay --validate does (cpu-idle-hold.ts). */
  cpuIdle?: CpuIdleMode;
  onPhase?: (done: number, total: number, label: string) => void;
}


/**
 * Mean of a class's commands, each already its fastest run (the statistic of `replay --validate-runs`: the sum of
 * each request's fastest run), less its slowest twentieth. What a command's fastest of three runs still carries is
 * a spell of load that met it in every run: one 1-10 ms stall moved a class of 400 commands, and the terms taken as
 * differences of classes, by more than the terms themselves between one calibrate and the next. The trim stays
 * small because the validation's sums keep their tails: a tenth took 5-10% off the classes under load.
 */
export function classMean(xs: number[]): number {
  if (!xs.length) return 0;
  const kept = [...xs].sort((a, b) => a - b).slice(0, xs.length - Math.floor(xs.length / 20));
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

/** us + usPerKiB from the cost at 4 KiB and 64 KiB (µs). */
export function fitCost(us4k: number, us64k: number): IoCost {
  const usPerKiB = Math.max(0, (us64k - us4k) / 60);
  return { us: round(Math.max(0, us4k - 4 * usPerKiB)), usPerKiB: round(usPerKiB) };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function calibrate(opts: CalibrateOptions): DeviceProfile {
  return withCpuIdle(opts.cpuIdle ?? "hold", (cpuIdle) => {
    const p = measureProfile(opts);
    p.measured!.cpuIdle = cpuIdle;
    return p;
  });
}

function measureProfile(opts: CalibrateOptions): DeviceProfile {
  const t0 = performance.now();
  const scale = opts.scale ?? 1;
  const runs = Math.max(1, opts.runs ?? 3);
  // Scale 1: about 5,000 I/Os per run, three runs: 10-20 s on an SSD, under a minute on a busy host.
  const n = (x: number) => Math.max(3, Math.round(x * 4 * scale));
  const rnd = prng(14);
  const at = (base: number, span: number, align: number) => base + Math.floor((rnd() * span) / align) * align;
  const file = path.join(opts.dir, `.qcowdbg-calibrate-${process.pid}.raw`);
  const phases = runs + 2;
  let phase = 0;
  const step = (label: string) => opts.onPhase?.(phase++, phases, label);
  const all = new Map<string, number[]>();
  /**
   * A script `make` builds afresh for each run (new random offsets, so reads meant to miss the page cache do;
   * `setup` and the script's own first commands restore its starting state); each command keeps its fastest run.
   * The scripts run in rounds, one run of each per round, so that the runs of one script lie far apart in time and
   * a spell of load cannot cover all of them (as replay --validate alternates its configurations).
   */
  interface Job {
    target: string;
    make: () => Script;
    qemu: { cache: string; format: string; cwd?: string };
    setup?: () => void;
    script?: Script;
    best?: number[];
  }
  const jobs: Job[] = [];
  const measure = (target: string, make: () => Script, qemu: Job["qemu"], setup?: () => void) => void jobs.push({ target, make, qemu, setup });
  const runRound = (j: Job) => {
    j.setup?.();
    // Nothing of the previous script left dirty: with ext4's ordered journal one file's fdatasync commits (and
    // waits for) every file's new blocks, so a sync class would pay for another script's writes.
    settle(file);
    if (j.target !== file) settle(j.target);
    const s = j.make();
    const res = runQemuIo(j.target, s.lines, { ...j.qemu, discard: "unmap" });
    if (j.script && s.tags.join() !== j.script.tags.join()) throw new Error("calibrate: runs of one script differ in their commands");
    j.script = s;
    j.best = j.best ? j.best.map((x, i) => Math.min(x, res.seconds[i] ?? Infinity)) : res.seconds;
  };
  const raw = (cache: string) => ({ cache, format: "raw" });
  try {
    step("writing a 256 MiB scratch file");
    const fd = fs.openSync(file, "wx");
    fs.ftruncateSync(fd, FILE_SIZE);
    fs.closeSync(fd);
    const fill = new Script();
    for (let o = 0; o < DATA_END; o += 4 * M) fill.add(null, `write -q -P 165 ${o} ${4 * M}`);
    runQemuIo(file, fill.lines, { ...raw("none"), discard: "unmap" });
    // Every class of allocating write starts on holes in each run: its area is punched back first.
    const punchAlloc = (s: Script) => punch(s, DATA_END, DATA_END_ALLOC);

    // O_DIRECT reads and writes (cache=none).
    measure(file, () => {
      const d = new Script();
      punchAlloc(d);
      // Sequential runs stay whole (the device must see them back to back); the random classes interleave.
      let seq = at(0, DATA_END / 2, 4 * K);
      for (let i = 0; i < n(200); i++, seq += 4 * K) d.add("dSeqRead4", `read ${seq} 4k`);
      seq = at(DATA_END / 2, DATA_END / 4, 4 * K);
      for (let i = 0; i < n(100); i++, seq += 4 * K) d.add("dSeqWrite4", `write ${seq} 4k`);
      const x = new Mixer();
      for (let i = 0; i < n(200); i++) x.add("dRead4", `read ${at(0, DATA_END, 4 * K)} 4k`);
      for (let i = 0; i < n(60); i++) x.add("dRead64", `read ${at(0, DATA_END, 64 * K)} 64k`);
      for (let i = 0; i < n(100); i++) x.add("dHole4", `read ${at(HOLES, HOLES_END - HOLES, 4 * K)} 4k`);
      for (let i = 0; i < n(30); i++) x.add("dHole64", `read ${at(HOLES, HOLES_END - HOLES, 64 * K)} 64k`);
      for (let i = 0; i < n(200); i++) x.add("dWrite4", `write ${at(0, DATA_END, 4 * K)} 4k`);
      for (let i = 0; i < n(50); i++) x.add("dWrite64", `write ${at(0, DATA_END, 64 * K)} 64k`);
      for (let i = 0; i < n(100); i++) x.add("dAlloc4", `write ${DIRECT_ALLOC_4K + i * 256 * K} 4k`);
      for (let i = 0; i < n(30); i++) x.add("dAlloc64", `write ${DIRECT_ALLOC_64K + i * M} 64k`);
      // A write into a range that write-zeroes just allocated (an unwritten extent), as qcow2 writes a new
      // cluster after zeroing it.
      for (let i = 0; i < n(30); i++) x.add("dUnwritten4", `write ${UNWRITTEN + i * 256 * K + 4 * K} 4k`, [`write -z ${UNWRITTEN + i * 256 * K} 64k`]);
      x.into(d);
      // Syncs: a FUA write is the write plus an fdatasync (QEMU emulates FUA with a flush on files).
      d.add(null, "write -f 0 4k");
      for (let i = 0; i < n(30); i++) d.add("dFua4", `write -f ${at(0, DATA_END, 4 * K)} 4k`);
      for (let i = 0; i < n(15); i++) {
        d.add(null, `write ${DIRECT_ALLOC_4K + i * 256 * K + 128 * K} 4k`);
        d.add("dFuaAfterAlloc", `write -f ${at(0, DATA_END, 4 * K)} 4k`);
      }
      return d;
    }, raw("none"));

    // Page-cache reads and writes (cache=writeback).
    measure(file, () => {
      const b = new Script();
      punchAlloc(b);
      b.add(null, `read -q 0 ${8 * M}`);
      const x = new Mixer();
      for (let i = 0; i < n(200); i++) x.add("cRead4", `read ${at(0, 8 * M, 4 * K)} 4k`);
      for (let i = 0; i < n(60); i++) x.add("cRead64", `read ${at(0, 8 * M, 64 * K)} 64k`);
      for (let i = 0; i < n(100); i++) x.add("hRead4", `read ${at(HOLES, HOLES_END - HOLES, 4 * K)} 4k`);
      for (let i = 0; i < n(30); i++) x.add("hRead64", `read ${at(HOLES, HOLES_END - HOLES, 64 * K)} 64k`);
      for (let i = 0; i < n(200); i++) x.add("bWrite4", `write ${at(0, 8 * M, 4 * K)} 4k`);
      for (let i = 0; i < n(50); i++) x.add("bWrite64", `write ${at(0, 8 * M, 64 * K)} 64k`);
      for (let i = 0; i < n(100); i++) x.add("bAlloc4", `write ${BUF_ALLOC_4K + i * 256 * K} 4k`);
      for (let i = 0; i < n(30); i++) x.add("bAlloc64", `write ${BUF_ALLOC_64K + i * M} 64k`);
      for (let i = 0; i < n(30); i++) x.add("bUnwritten4", `write ${UNWRITTEN + i * 256 * K + 4 * K} 4k`, [`write -z ${UNWRITTEN + i * 256 * K} 64k`]);
      x.into(b);
      return b;
    }, raw("writeback"));

    // fdatasync after dirty data and allocation; fallocate.
    measure(file, () => {
      const s = new Script();
      s.add(null, `truncate ${EXTENDED_SIZE}`);
      punch(s, FILE_SIZE, EXTENDED_SIZE);
      s.add(null, "write -f 0 4k");
      // Interleaved units, each starting clean: an untimed FUA write first syncs whatever the unit before left
      // dirty or allocated, so each timed sync pays for its own unit's state only. fdatasync with only the timed
      // 4 KiB dirty; after 1..16 MiB of dirty data; after an allocating write (a journal commit).
      const x = new Mixer();
      const clean = () => `write -f ${at(0, 8 * M, 4 * K)} 4k`;
      for (let i = 0; i < n(30); i++) x.add("sync0", `write -f ${at(0, 8 * M, 4 * K)} 4k`, [clean()]);
      for (let r = 0; r < Math.max(4, Math.round(5 * scale)); r++)
        for (const size of DIRTY_SIZES) x.add(`sync${size}`, `write -f ${at(0, 8 * M, 4 * K)} 4k`, [clean(), `write ${at(8 * M, 64 * M, 4 * K)} ${size}`]);
      const ext = FILE_SIZE + 64 * M;
      for (let i = 0; i < n(30); i++) x.add("bFuaAfterAlloc", `write -f ${at(0, 8 * M, 4 * K)} 4k`, [clean(), `write ${ext + i * M} 4k`]);
      // fdatasync after 1 and 32 allocating writes, each as qcow2 allocates a cluster in writeback: write-zeroes
      // over a new 64 KiB cluster after the last, then 4 KiB of data into it (their difference: what each
      // allocating write adds to the next sync, written back and converted as its own extent).
      let scatter = SCATTER;
      for (let r = 0; r < Math.max(4, Math.round(6 * scale)); r++)
        for (const count of ALLOC_WRITES) {
          const before = [clean()];
          for (let i = 0; i < count; i++, scatter += 64 * K) before.push(`write -z ${scatter} 64k`, `write ${scatter + at(0, 64 * K, 4 * K)} 4k`);
          x.add(`syncAllocN${count}`, `write -f ${at(0, 8 * M, 4 * K)} 4k`, before);
        }
      // Writes into the file's extension (blocks allocated where the file had none).
      for (let i = 0; i < n(30); i++) x.add("bExtend64", `write ${FILE_SIZE + i * 64 * K} 64k`);
      // Punching data (written just before, in an area no other class reads).
      for (let i = 0; i < n(30); i++) x.add("punch", `discard ${PUNCH + i * 512 * K} 64k`, [`write ${PUNCH + i * 512 * K} 64k`]);
      // Zero-fill of a new cluster: into holes, as qcow2 zeroes the COW areas of a cluster it just allocated.
      for (let i = 0; i < n(30); i++) x.add("zero", `write -z ${FILE_SIZE + 4096 * M + i * 256 * K} 64k`);
      x.into(s);
      return s;
    }, raw("writeback"));

    // qcow2's own work, on scratch images beside the raw file.
    const qcow = `${file}.qcow2`;
    const ext = `${file}.ext.qcow2`;
    const create = (target: string, opts: string[]) => {
      fs.rmSync(target, { force: true });
      const r = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", ...opts, target, "1G"], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`calibrate: qemu-img create failed: ${(r.stderr || String(r.error)).trim()}`);
    };
    const freshQcow2 = (opts: string[] = []) => () => create(qcow, opts);
    const free = 16384 - 128;
    try {
      // The driver and the allocation path, as differences within one qemu-io process (calibrate-driver.ts).
      const files = { raw: path.basename(file), qcow2: path.basename(qcow), ext: path.basename(ext) };
      measure(qcow, () => driverScript(files, n, at), { cache: "writeback", format: "qcow2", cwd: opts.dir }, () => {
        create(qcow, []);
        create(ext, ["-o", "extended_l2=on"]);
        settle(ext);
      });
      // Writethrough allocating writes: what a growing image pays per write (a check kept in classesUs). They all
      // land in the second L2 table (clusters 8192-16383), which the untimed write into its last cluster allocates
      // first, for the reason given at inFirstL2 (calibrate-driver.ts).
      const base = 8192;
      measure(qcow, () => {
        const wt = new Script();
        wt.add(null, `write ${16383 * 64 * K} 4k`);
        for (let i = 0; i < Math.min(free / 2, n(100)); i++) wt.add("qWT4", `write ${(base + ((i * 337) % (free / 2))) * 64 * K + at(0, 64 * K, 4 * K)} 4k`);
        return wt;
      }, { cache: "writethrough", format: "qcow2" }, freshQcow2());
      for (let r = 0; r < runs; r++) {
        step(`run ${r + 1} of ${runs}: O_DIRECT, page cache, fdatasync, fallocate, qcow2`);
        for (const j of jobs) runRound(j);
      }
    } finally {
      fs.rmSync(qcow, { force: true });
      fs.rmSync(ext, { force: true });
    }
    for (const j of jobs) for (const [k, v] of j.script!.classify(j.best!)) all.set(k, [...(all.get(k) ?? []), ...v]);
    step("done");
  } finally {
    fs.rmSync(file, { force: true });
  }
  return buildProfile(all, opts, (performance.now() - t0) / 1000);
}

function bufferedWriteOf(m: (k: string) => number): IoCost {
  return fitCost(m("bWrite4"), m("bWrite64"));
}

/** Turns the per-class timings (µs) into a profile. */
export function buildProfile(all: Map<string, number[]>, opts: CalibrateOptions, seconds: number): DeviceProfile {
  const m = (k: string) => classMean(all.get(k) ?? []);
  const mibps = (us4: number, us64: number) => (us64 > us4 ? Math.min(1e6, (60 / 1024 / ((us64 - us4) / 1e6))) : 1e6);
  const readMiBps = mibps(m("dRead4"), m("dRead64"));
  const writeMiBps = mibps(m("dWrite4"), m("dWrite64"));
  const xfer = (bytes: number, mib: number) => (bytes / (mib * M)) * 1e6;
  const syncPlain = Math.max(0, m("dFua4") - m("dWrite4"));
  // fdatasync: the plain one, then per dirty MiB (least squares through it, over 1..16 MiB).
  const syncBase = Math.max(0, m("sync0") - m("bWrite4"));
  const xs = DIRTY_SIZES.map((x) => x / M);
  const ys = DIRTY_SIZES.map((x) => m(`sync${x}`) - m("sync0"));
  const slope = xs.reduce((a, x, i) => a + x * ys[i]!, 0) / xs.reduce((a, x) => a + x * x, 0);
  // After allocation (buffered): measured where QEMU pays it, in a writethrough allocating qcow2 write (qWT4).
  // That is the writeback allocating write (qAlloc4), plus its refcount block and L2 table written back (two
  // 64 KiB overwrites), plus two syncs: the first after the allocation (a journal commit), the second after the L2
  // write-back alone. A raw file's sync after a buffered allocating write (bFuaAfterAlloc - sync0) is the fallback:
  // on ext4 it runs 1.5-2x dearer than what the sync after qcow2's write-zeroes and write costs.
  const perMiB = Math.max(0, slope);
  const wb64 = ioCost(bufferedWriteOf(m), 64 * K);
  const inQcow2 = m("qWT4") - m("qAlloc4") - 2 * wb64 - 2 * syncBase - (perMiB * (4 * K + 128 * K)) / M;
  const syncAlloc = all.has("qWT4") && all.has("qAlloc4") ? Math.max(0, inQcow2) : Math.max(0, m("bFuaAfterAlloc") - m("sync0"));
  const directSyncAlloc = Math.max(0, m("dFuaAfterAlloc") - m("dFua4"));
  // Per allocating write after the first, less the dirty 4 KiB each adds (charged per MiB already).
  const [n1, nMany] = [ALLOC_WRITES[0]!, ALLOC_WRITES[ALLOC_WRITES.length - 1]!];
  const extra = nMany - n1;
  const perAllocWrite = Math.max(0, (m(`syncAllocN${nMany}`) - m(`syncAllocN${n1}`) - (perMiB * extra * 4 * K) / M) / extra);
  const bufferedWrite = bufferedWriteOf(m);
  const bufferedAllocWrite = fitCost(m("bAlloc4"), (m("bAlloc64") + m("bExtend64")) / 2);
  const directWrite = { us: 0, usPerKiB: (1e6 / (writeMiBps * M)) * K };
  // Only the 4 KiB write into an unwritten extent is measured: its per-KiB part is the overwrite's.
  const unwritten = (us4: number, per: IoCost) => ({ us: round(Math.max(0, us4 - 4 * per.usPerKiB)), usPerKiB: round(per.usPerKiB) });
  // qcow2's allocation path (CPU, metadata in its caches): an allocating write that needs no write-zeroes
  // (qAllocExt4, extended L2) less an overwrite and less what the file charges for a write into a hole rather than
  // over data. Then the write-zeroes over a new cluster, where QEMU issues it: a 4 KiB allocating write (qAlloc4)
  // less an overwrite, the allocation path and the extra of writing into the zeroed (unwritten) range. Each
  // kind of allocating write thus costs what calibrate measured for it. Without the qcow2 classes (or when a
  // difference comes out negative on a noisy host): the raw file's write-zeroes inside its size ("zero"), and the
  // allocation path as what qAlloc4 leaves over it. (A whole-cluster allocating write was tried as the measure of
  // the allocation path: its 64 KiB write past the end of the file costs more than any raw-file class shows.)
  const holeExtra = Math.max(0, m("bAlloc4") - m("bWrite4"));
  const unwrittenExtra = Math.max(0, m("bUnwritten4") - m("bWrite4"));
  // With the in-process classes (calibrate-driver.ts): a new cluster's write less a new subcluster's in an already
  // allocated cluster of the same image, timed in the same process. Both write 4 KiB into a hole and update the
  // L2 bitmap; only the first allocates the cluster and grows the file.
  const allocNoCow = all.has("qSubExt4") ? m("qAllocExt4") - m("qSubExt4") : m("qAllocExt4") - m("qWrite4") - holeExtra;
  // The two allocating writes must agree: one that also zeroes a cluster cannot cost less than one that does not.
  // When they do not (a spell of load on one of them), the zeroing one's residual is the measure.
  const ceiling = m("qAlloc4") - m("qWrite4") - unwrittenExtra;
  // A residual below zero is an allocation path too cheap for the host's noise to resolve: it counts as none.
  const allocUs = all.has("qAllocExt4") && allocNoCow <= ceiling ? Math.max(0, allocNoCow) : Math.max(0, m("qAlloc4") - m("qWrite4") - m("zero") - unwrittenExtra);
  // The driver per request: the qcow2 image's cached reads and overwrites less the raw file's, in the same process
  // when calibrate-driver.ts timed both (rRead4, rWrite4), else against the page-cache script's (older profiles).
  const [rRead, rWrite] = all.has("rRead4") && all.has("rWrite4") ? [m("rRead4"), m("rWrite4")] : [m("cRead4"), m("bWrite4")];
  const requestUs = Math.max(0, (m("qRead4") - rRead + m("qWrite4") - rWrite) / 2);
  const zeroInQcow2 = m("qAlloc4") - m("qWrite4") - allocUs - unwrittenExtra;
  const zeroRangeUs = all.has("qAlloc4") && zeroInQcow2 > 0 ? zeroInQcow2 : m("zero");
  const host: HostProfile = {
    pageCacheBytes: opts.pageCacheBytes ?? defaultPageCache(),
    cachedRead: fitCost(m("cRead4"), m("cRead64")),
    holeRead: fitCost(m("hRead4"), m("hRead64")),
    directHoleRead: fitCost(m("dHole4"), m("dHole64")),
    bufferedWrite,
    bufferedAllocWrite,
    directAllocWrite: fitCost(m("dAlloc4"), m("dAlloc64")),
    ...(all.has("bUnwritten4") ? { bufferedUnwrittenWrite: unwritten(m("bUnwritten4"), bufferedWrite) } : {}),
    ...(all.has("dUnwritten4") ? { directUnwrittenWrite: unwritten(m("dUnwritten4"), directWrite) } : {}),
    requestUs: round(requestUs),
    allocUs: round(allocUs),
    syncUs: round(syncBase),
    syncUsPerMiB: round(perMiB),
    syncAllocUs: round(syncAlloc),
    syncUsPerAllocWrite: round(perAllocWrite),
    directSyncAllocUs: round(directSyncAlloc),
    punchHoleUs: round(m("punch")),
    zeroRangeUs: round(zeroRangeUs),
  };
  return {
    name: opts.name ?? `calibrated-${os.hostname()}`,
    description: `measured by qcowdbg calibrate in ${path.resolve(opts.dir)} on ${os.hostname()}`,
    version: PROFILE_VERSION,
    readLatencyUs: round(Math.max(0, m("dRead4") - xfer(4 * K, readMiBps))),
    writeLatencyUs: round(Math.max(0, m("dWrite4") - xfer(4 * K, writeMiBps))),
    seqReadLatencyUs: round(Math.max(0, m("dSeqRead4") - xfer(4 * K, readMiBps))),
    seqWriteLatencyUs: round(Math.max(0, m("dSeqWrite4") - xfer(4 * K, writeMiBps))),
    readMiBps: round(readMiBps),
    writeMiBps: round(writeMiBps),
    flushUs: round(syncPlain),
    // Not measured (host CPU, not storage): the built-in figures.
    decompressMiBps: 400,
    decompressUs: 2,
    host,
    measured: { host: os.hostname(), dir: path.resolve(opts.dir), filesystem: filesystemOf(opts.dir), date: new Date().toISOString(), tool: "qemu-io", seconds: round(seconds), classesUs: Object.fromEntries([...all.keys()].sort().map((k) => [k, round(m(k))])) },
  };
}

/** fsync (data and metadata) of a scratch file, if it exists. */
function settle(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, "r+");
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Half of the memory available now (the rest is the guest's and everyone else's). */
function defaultPageCache(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync("/proc/meminfo", "utf8"));
    if (m) return Math.floor((Number(m[1]) * 1024) / 2);
  } catch {
    // not Linux: fall back to free memory
  }
  return Math.floor(os.freemem() / 2);
}

function filesystemOf(dir: string): string | undefined {
  try {
    const abs = fs.realpathSync(dir);
    let best: [string, string] | undefined;
    for (const line of fs.readFileSync("/proc/mounts", "utf8").split("\n")) {
      const [, mnt, type] = line.split(" ");
      if (mnt && type && (abs === mnt || abs.startsWith(mnt.endsWith("/") ? mnt : mnt + "/")) && (!best || mnt.length > best[0].length)) best = [mnt, type];
    }
    return best?.[1];
  } catch {
    return undefined;
  }
}

/** The profile as the JSON file `calibrate` writes (docs/device-profile.md). */
export function profileJson(p: DeviceProfile): string {
  const { source: _source, seek: _seek, ...rest } = p;
  void _source;
  void _seek;
  return JSON.stringify({ format: PROFILE_FORMAT, ...rest }, null, 2) + "\n";
}
