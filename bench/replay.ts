// Replay speed and memory. (1) A 1,000,000-request blkparse text trace of random 4 KiB writes over 100 GiB,
// parsed and replayed metadata-only with the recorder on and the cost model, over a 100 GiB qcow2 made by
// qemu-img (targets: >= 300,000 requests/s, peak RSS < 1 GiB). (2) The engine alone: 1,000,000 such writes
// through ReplayEngine, every event kept (targets, issue 12: >= 1,000,000 requests/s on one core, <= 64 bytes
// per event; the rate per wall-clock second, and per second of the process's CPU time for a shared machine).
// Then on a 128 KiB-cluster extended-L2 image (the replay's advice). (3) qemu-io running 100,000 of the writes
// on tmpfs, for the ratio. Each measure runs in a child process of its own so its peak RSS is its own.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { defaultConfig } from "../engine/image/engine-config.js";
import { builtinProfile } from "../engine/replay/device-profiles.js";
import { ReplayEngine } from "../engine/replay/replay-engine.js";
import { replayTrace } from "../engine/replay/replay-stats.js";
import { openWorkload } from "../engine/workload/index.js";
import type { GuestRequest } from "../engine/workload/guest-request.js";
import { randomOffsets, writeBlkparseTrace } from "./lib/blkparse-trace.js";

const SELF = fileURLToPath(import.meta.url);
const REQUESTS = 1_000_000;
const QEMU_IO_REQUESTS = 100_000;
const DISK = 100 * 2 ** 30;
const BLOCK = 4096;

function maxRssMiB(): number {
  // resourceUsage().maxRSS is in KiB.
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Child: parse only, then parse + replay with statistics. */
function childReplay(image: string, trace: string): Record<string, number> {
  let t = performance.now();
  let parsed = 0;
  for (const r of openWorkload(trace).requests()) parsed += r.length > 0 ? 1 : 0;
  const parseSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const s = replayTrace(image, openWorkload(trace).requests(), { config: defaultConfig(), profile: builtinProfile("nvme")!, topN: 10 });
  const seconds = (performance.now() - t) / 1000;
  return {
    requests: s.requests,
    parsed,
    parseRequestsPerSecond: Math.round(parsed / parseSeconds),
    seconds,
    requestsPerSecond: Math.round(s.requests / seconds),
    modelledSeconds: s.totalUs / 1e6,
    l2Misses: s.caches.l2.misses,
    maxRssMiB: maxRssMiB(),
  };
}

/** Child: the engine alone, every event kept. */
function childEngine(image: string): Record<string, number> {
  const e = new ReplayEngine(image, { record: true });
  const next = randomOffsets(2, DISK);
  const req: GuestRequest = { time: 0, op: "write", offset: 0, length: BLOCK, fua: false, preflush: false, source: "bench" };
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  let errors = 0;
  for (let i = 0; i < REQUESTS; i++) {
    req.offset = next();
    if (e.apply(req).error !== undefined) errors++;
  }
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const r = e.recorder;
  const out = {
    requests: REQUESTS,
    errors,
    seconds,
    requestsPerSecond: Math.round(REQUESTS / seconds),
    cpuRequestsPerSecond: Math.round(REQUESTS / cpuSeconds),
    events: r.length,
    eventsPerRequest: r.length / REQUESTS,
    bytesPerEvent: r.bytesPerEvent(),
    recorderMiB: Math.round(r.capacityBytes() / 2 ** 20),
    maxRssMiB: maxRssMiB(),
  };
  e.close();
  return out;
}

function child(args: string[]): Record<string, number> {
  const r = spawnSync(process.execPath, ["--max-old-space-size=4096", SELF, "--child", ...args], { encoding: "utf8", maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench child ${args[0]} failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

/** qemu-io -t writeback running the first `n` engine-bench writes from a script on stdin, image on tmpfs. */
function qemuIo(n: number): { seconds: number; requestsPerSecond: number } | string {
  const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(shm, "qcowdbg-bench-"));
  try {
    const img = path.join(dir, "q.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", img, String(DISK)]);
    const next = randomOffsets(2, DISK);
    const script: string[] = [];
    for (let i = 0; i < n; i++) script.push(`write -q ${next()} 4k`);
    const t = performance.now();
    const r = spawnSync("qemu-io", ["-f", "qcow2", "-t", "writeback", img], { input: script.join("\n") + "\n", encoding: "utf8", maxBuffer: 64 << 20 });
    const seconds = (performance.now() - t) / 1000;
    if (r.error) return `qemu-io not run: ${r.error.message}`;
    if (r.status !== 0) return `qemu-io failed: ${r.stderr.trim().split("\n")[0]}`;
    return { seconds, requestsPerSecond: Math.round(n / seconds) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, number | string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-bench-replay-"));
  try {
    const image = path.join(dir, "disk-100g.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", image, String(DISK)]);
    const trace = path.join(dir, "random-4k-writes.blkparse.txt");
    let t = performance.now();
    writeBlkparseTrace(trace, REQUESTS, DISK);
    const genSeconds = (performance.now() - t) / 1000;
    const replay = child(["replay", image, trace]);
    fs.rmSync(trace);
    const engine = child(["engine", image]);
    // The same writes on the layout the replay's advice makes (128 KiB clusters, 4 KiB subclusters).
    const extImage = path.join(dir, "disk-100g-ext.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "cluster_size=128k,extended_l2=on", extImage, String(DISK)]);
    const ext = child(["engine", extImage]);
    t = performance.now();
    const q = qemuIo(QEMU_IO_REQUESTS);
    const res: Record<string, number | string> = {
      "trace.requests": REQUESTS,
      "trace.generateSeconds": round(genSeconds),
      "replay.parseOnlyRequestsPerSecond": replay.parseRequestsPerSecond!,
      "replay.requestsPerSecond": replay.requestsPerSecond!,
      "replay.requestsPerSecond.target": 300_000,
      "replay.seconds": round(replay.seconds!),
      "replay.peakRssMiB": replay.maxRssMiB!,
      "replay.peakRssMiB.target": 1024,
      "replay.modelledSeconds": round(replay.modelledSeconds!),
      "engine.requestsPerSecond": engine.requestsPerSecond!,
      "engine.requestsPerSecond.target": 1_000_000,
      // Per second of the process's CPU time (its GC threads' included): on a shared machine the wall-clock rate
      // also counts the time other processes had the core.
      "engine.cpuRequestsPerSecond": engine.cpuRequestsPerSecond!,
      "engine.errors": engine.errors!,
      "engine.eventsPerRequest": round(engine.eventsPerRequest!),
      "engine.bytesPerEvent": engine.bytesPerEvent!,
      "engine.bytesPerEvent.target": 64,
      "engine.recorderMiB": engine.recorderMiB!,
      "engine.peakRssMiB": engine.maxRssMiB!,
      "engine.extendedL2.requestsPerSecond": ext.requestsPerSecond!,
      "engine.extendedL2.cpuRequestsPerSecond": ext.cpuRequestsPerSecond!,
      "engine.extendedL2.eventsPerRequest": round(ext.eventsPerRequest!),
    };
    if (typeof q === "string") res["qemuIo.note"] = q;
    else {
      res["qemuIo.requests"] = QEMU_IO_REQUESTS;
      res["qemuIo.seconds"] = round(q.seconds);
      res["qemuIo.requestsPerSecond"] = q.requestsPerSecond;
      res["engineVsQemuIo.ratio"] = round(engine.requestsPerSecond! / q.requestsPerSecond);
    }
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1] === SELF && process.argv[2] === "--child") {
  const [kind, a, b] = process.argv.slice(3);
  const out = kind === "replay" ? childReplay(a!, b!) : childEngine(a!);
  process.stdout.write(JSON.stringify(out) + "\n");
} else if (process.argv[1] === SELF) {
  // Run on its own: node dist/bench/replay.js
  run().then((r) => process.stdout.write(JSON.stringify(r, null, 2) + "\n"));
}
