// Time-travel speed and memory: 1,000,000 random 4 KiB writes (metadata-only) over a 100 GiB qcow2 made by
// qemu-img, run forwards once through a Timeline (checkpoints taken on the way), then 200 random jumps
// (target: every one < 100 ms) and event-level views. Jumps are checked against fingerprints taken on the way
// forwards. Each configuration (event log on, off) runs in a child process so its peak RSS is its own.
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ReplayEngine } from "../engine/replay/replay-engine.js";
import { RequestColumns } from "../engine/replay/request-columns.js";
import { Timeline } from "../engine/replay/timeline.js";
import type { GuestRequest } from "../engine/workload/guest-request.js";

const SELF = fileURLToPath(import.meta.url);
const REQUESTS = 1_000_000;
const JUMPS = 200;
const DISK = 100 * 2 ** 30;
const BLOCK = 4096;

/** Park-Miller, seeded: every run replays the same offsets and jumps. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 48271) % 2147483647);
}

function fingerprint(e: ReplayEngine): string {
  const img = e.image;
  const h = createHash("sha256");
  for (const a of [img.l1, img.reftable, img.l2Cache.tables, img.refcountCache.tables]) h.update(a);
  for (const c of [img.l2Cache, img.refcountCache]) {
    h.update(new Uint8Array(c.offsets.buffer));
    h.update(new Uint8Array(c.lru.buffer));
    h.update(new Uint8Array(c.refs.buffer));
    h.update(c.dirty);
  }
  h.update(`${img.rt.freeClusterIndex} ${e.recorder.length} ${Array.from(e.recorder.counts).join(",")} ${img.file.size()}`);
  return h.digest("hex");
}

const maxRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const ms = (t0: number) => performance.now() - t0;
/** CPU time of this process since `c0`, in ms: what a jump costs when the machine is shared. */
const cpuMs = (c0: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
};
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

function child(image: string, record: boolean): Record<string, number> {
  const next = lcg(7);
  const reqs = new RequestColumns(REQUESTS);
  const r: GuestRequest = { time: 0, op: "write", offset: 0, length: BLOCK, fua: false, preflush: false, source: "bench:0" };
  for (let i = 0; i < REQUESTS; i++) {
    r.time = i * 1e-5;
    r.offset = (next() % (DISK / BLOCK)) * BLOCK;
    r.source = `bench:${i + 1}`;
    reqs.push(r);
  }
  const tl = new Timeline(new ReplayEngine(image, { record }), reqs);
  // Forwards, with fingerprints at a few points to check the jumps against.
  const probes = [1, 4_097, 333_333, 500_000, 777_777, REQUESTS];
  const want = new Map<number, string>();
  let t0 = performance.now();
  let c0 = process.cpuUsage();
  for (const p of probes) {
    tl.runTo(p);
    want.set(p, fingerprint(tl.engine));
  }
  const forwardSeconds = ms(t0) / 1000;
  const forwardCpuSeconds = cpuMs(c0) / 1000;
  const forwardRss = maxRssMiB();

  const pick = lcg(11);
  const times: number[] = [];
  const cpu: number[] = [];
  let mismatches = 0;
  for (let j = 0; j < JUMPS; j++) {
    // Every fourth jump lands on a fingerprinted position; the rest anywhere.
    const target = j % 4 === 0 ? probes[pick() % probes.length]! : pick() % (REQUESTS + 1);
    t0 = performance.now();
    c0 = process.cpuUsage();
    tl.runTo(target);
    times.push(ms(t0));
    cpu.push(cpuMs(c0));
    const f = want.get(target);
    if (f !== undefined && f !== fingerprint(tl.engine)) mismatches++;
  }
  // Stepping into a request (one re-run with cache views) and back out of it.
  const stepTimes: number[] = [];
  for (let j = 0; j < 20; j++) {
    tl.runTo(pick() % REQUESTS);
    t0 = performance.now();
    tl.step();
    tl.view();
    tl.reverseStep();
    tl.reverseStep();
    stepTimes.push(ms(t0));
  }
  for (const xs of [times, cpu, stepTimes]) xs.sort((a, b) => a - b);
  const s = tl.stats();
  const out = {
    requests: REQUESTS,
    forwardSeconds,
    forwardCpuSeconds,
    forwardRequestsPerSecond: Math.round(REQUESTS / forwardSeconds),
    jumpP50Ms: pct(times, 0.5),
    jumpP95Ms: pct(times, 0.95),
    jumpMaxMs: pct(times, 1),
    jumpsOver100Ms: times.filter((t) => t >= 100).length,
    jumpCpuP50Ms: pct(cpu, 0.5),
    jumpCpuMaxMs: pct(cpu, 1),
    jumpMismatches: mismatches,
    stepIntoAndBackP50Ms: pct(stepTimes, 0.5),
    stepIntoAndBackMaxMs: pct(stepTimes, 1),
    loadAverage: os.loadavg()[0]!,
    checkpoints: s.checkpoints,
    checkpointMiB: Math.round(s.checkpointBytes / 2 ** 20),
    checkpointInterval: s.interval,
    checkpointMaxEvents: s.maxEvents,
    thinnings: s.thinnings,
    events: tl.engine.recorder.length,
    recorderMiB: Math.round(tl.engine.recorder.capacityBytes() / 2 ** 20),
    requestColumnsMiB: Math.round(reqs.bytesHeld() / 2 ** 20),
    shadowMiB: Math.round(tl.engine.shadow.retainedBytes() / 2 ** 20),
    forwardPeakRssMiB: forwardRss,
    peakRssMiB: maxRssMiB(),
  };
  tl.dispose();
  tl.engine.close();
  return out;
}

function spawnChild(image: string, record: boolean): Record<string, number> {
  const r = spawnSync(process.execPath, ["--max-old-space-size=6144", SELF, "--child", image, record ? "on" : "off"], { encoding: "utf8", maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench child failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

export async function run(): Promise<Record<string, number | string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-bench-timeline-"));
  try {
    const image = path.join(dir, "disk-100g.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", image, String(DISK)]);
    const before = fs.readFileSync(image);
    const res: Record<string, number | string> = { "jump.target.maxMs": 100 };
    for (const record of [true, false]) {
      const c = spawnChild(image, record);
      for (const [k, v] of Object.entries(c)) res[`${record ? "log" : "nolog"}.${k}`] = typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 100) / 100 : v;
    }
    res["image.unchanged"] = fs.readFileSync(image).equals(before) ? "yes" : "NO";
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF && process.argv[2] === "--child") {
  process.stdout.write(JSON.stringify(child(process.argv[3]!, process.argv[4] === "on")) + "\n");
} else if (process.argv[1] === SELF) {
  run().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(34)} ${v}\n`);
  });
}
