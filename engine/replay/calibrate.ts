// `qcowdbg calibrate`: measures the storage under a folder with the I/O QEMU issues, issued by qemu-io itself on a
// raw scratch file there (so QEMU's own per-request overhead is in the figures): 4 KiB and 64 KiB reads and writes,
// random and sequential, O_DIRECT (cache=none) and through the page cache (writeback), reads of holes, writes
// into holes and past the end, fdatasync after 0..16 MiB of dirty data and after allocation, fallocate punch/zero,
// and qcow2's own sequences on scratch images (cached and allocating writes, writethrough). Each script runs `runs`
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
import { prng } from "../prng.js";

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

export interface CalibrateOptions {
  dir: string;
  /** Scales the number of I/Os per class (1 = default, under a minute on an SSD). */
  scale?: number;
  pageCacheBytes?: number;
  name?: string;
  /** Runs of each script; each command counts its fastest (default 3, as replay --validate-runs). */
  runs?: number;
  onPhase?: (done: number, total: number, label: string) => void;
}


/**
 * Mean of a class's commands, each already its fastest run: the same statistic as `replay --validate-runs` (the
 * sum of each request's fastest run), so that a profile and the measurement it is checked against agree in kind.
 */
export function classMean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
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
    qemu: { cache: string; format: string };
    setup?: () => void;
    script?: Script;
    best?: number[];
  }
  const jobs: Job[] = [];
  const measure = (target: string, make: () => Script, qemu: { cache: string; format: string }, setup?: () => void) => void jobs.push({ target, make, qemu, setup });
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
      for (let i = 0; i < n(15); i++) x.add("sync0", `write -f ${at(0, 8 * M, 4 * K)} 4k`, [clean()]);
      for (let r = 0; r < Math.max(2, Math.round(3 * scale)); r++)
        for (const size of DIRTY_SIZES) x.add(`sync${size}`, `write -f ${at(0, 8 * M, 4 * K)} 4k`, [clean(), `write ${at(8 * M, 64 * M, 4 * K)} ${size}`]);
      const ext = FILE_SIZE + 64 * M;
      for (let i = 0; i < n(30); i++) x.add("bFuaAfterAlloc", `write -f ${at(0, 8 * M, 4 * K)} 4k`, [clean(), `write ${ext + i * M} 4k`]);
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
    const freshQcow2 = (opts: string[] = []) => () => {
      fs.rmSync(qcow, { force: true });
      const r = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", ...opts, qcow, "1G"], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`calibrate: qemu-img create failed: ${(r.stderr || String(r.error)).trim()}`);
    };
    const free = 16384 - 128;
    try {
      // On a fresh image, interleaved: cached 4 KiB reads and overwrites of 1 MiB written (and synced) first, whose
      // difference from the raw file's is QEMU's qcow2 driver; allocating writes, each into a cluster never
      // written (shuffled), as a growing image takes them.
      measure(qcow, () => {
        const q = new Script();
        q.add(null, `write -q -P 90 0 ${M}`);
        q.add(null, "flush");
        q.add(null, `read -q 0 ${M}`);
        const x = new Mixer();
        for (let i = 0; i < n(200); i++) x.add("qRead4", `read ${at(0, M, 4 * K)} 4k`);
        for (let i = 0; i < n(200); i++) x.add("qWrite4", `write ${at(0, M, 4 * K)} 4k`);
        for (let i = 0; i < Math.min(L2_SPAN - 128, n(100)); i++) x.add("qAlloc4", `write ${inFirstL2(i, L2_SPAN, at(0, 64 * K, 4 * K))} 4k`);
        x.into(q);
        return q;
      }, { cache: "writeback", format: "qcow2" }, freshQcow2());
      // Allocating writes that need no COW and so no write-zeroes (extended L2: 4 KiB covers whole subclusters),
      // each into a new cluster at the end of the file: qcow2's allocation path and the file's growth, alone. The
      // untimed write first allocates the one L2 table the timed writes use (see inFirstL2).
      measure(qcow, () => {
        const q = new Script();
        q.add(null, "write 0 4k");
        for (let i = 0; i < Math.min(L2_SPAN_EXT - 128, n(100)); i++) q.add("qAllocExt4", `write ${inFirstL2(i, L2_SPAN_EXT, at(0, 64 * K, 4 * K))} 4k`);
        return q;
      }, { cache: "writeback", format: "qcow2" }, freshQcow2(["-o", "extended_l2=on"]));
      // Writethrough allocating writes: what a growing image pays per write (a check kept in classesUs). They all
      // land in the second L2 table (clusters 8192-16383), which the untimed write into its last cluster allocates
      // first, for the reason given at inFirstL2.
      const base = 8192;
      measure(qcow, () => {
        const wt = new Script();
        wt.add(null, `write ${16383 * 64 * K} 4k`);
        for (let i = 0; i < Math.min(free / 2, n(40)); i++) wt.add("qWT4", `write ${(base + ((i * 337) % (free / 2))) * 64 * K + at(0, 64 * K, 4 * K)} 4k`);
        return wt;
      }, { cache: "writethrough", format: "qcow2" }, freshQcow2());
      for (let r = 0; r < runs; r++) {
        step(`run ${r + 1} of ${runs}: O_DIRECT, page cache, fdatasync, fallocate, qcow2`);
        for (const j of jobs) runRound(j);
      }
    } finally {
      fs.rmSync(qcow, { force: true });
    }
    for (const j of jobs) for (const [k, v] of j.script!.classify(j.best!)) all.set(k, [...(all.get(k) ?? []), ...v]);
    step("done");
  } finally {
    fs.rmSync(file, { force: true });
  }
  return buildProfile(all, opts, (performance.now() - t0) / 1000);
}

/**
 * Clusters one L2 table maps on calibrate's 64 KiB-cluster scratch images (64 KiB / 8-byte entries; with extended
 * L2, 16-byte entries). Allocating writes stay inside the first table, which an untimed write allocated: an L2
 * table's allocation costs three fdatasyncs and two metadata writes (qcow2's l2_allocate), which the model charges
 * from the trace's own events. Spread over two or three tables, as before, they added 5-10 µs to each measured
 * allocation, and as tables cover 4x more with 128 KiB extended-L2 clusters than with 64 KiB ones, the profile's
 * allocation cost came out as if it depended on the cluster size (issue 14, scenario (c)).
 */
const L2_SPAN = 8192;
const L2_SPAN_EXT = 4096;

/**
 * Guest offset of the i-th allocating write: a new 64 KiB cluster in [128, span) of the first L2 table (clusters
 * below 128 hold the set-up writes), shuffled, plus `within` bytes into it.
 */
export function inFirstL2(i: number, span: number, within: number): number {
  // 337 is prime and divides neither span - 128 (2^7 * 63, 2^7 * 31): i -> cluster is one-to-one.
  return (128 + ((i * 337) % (span - 128))) * 64 * K + within;
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
  const allocNoCow = m("qAllocExt4") - m("qWrite4") - holeExtra;
  // The two allocating writes must agree: one that also zeroes a cluster cannot cost less than one that does not.
  // When they do not (a spell of load on one of them), the zeroing one's residual is the measure.
  const ceiling = m("qAlloc4") - m("qWrite4") - unwrittenExtra;
  // A residual below zero is an allocation path too cheap for the host's noise to resolve: it counts as none.
  const allocUs = all.has("qAllocExt4") && allocNoCow <= ceiling ? Math.max(0, allocNoCow) : Math.max(0, m("qAlloc4") - m("qWrite4") - m("zero") - unwrittenExtra);
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
    requestUs: round(Math.max(0, (m("qRead4") - m("cRead4") + m("qWrite4") - m("bWrite4")) / 2)),
    allocUs: round(allocUs),
    syncUs: round(syncBase),
    syncUsPerMiB: round(perMiB),
    syncAllocUs: round(syncAlloc),
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
