// The timeline's memory per request (issue 12: "a documented cost per request that stays under 24 bytes"). A
// blkparse trace of N random 4 KiB writes over a 100 GiB qcow2 is opened as the TUI opens it (event log off, as
// past LOG_LIMIT) and run to its end; the growth of heapUsed + external (external already counts ArrayBuffers) after
// a GC, minus what a plain replay of the same requests grows (the image's own metadata state, bounded by the image,
// not by the trace), divided by N, is the timeline's cost per request. Each run is its own child process.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeBlkparseTrace } from "./lib/blkparse-trace.js";

const SELF = fileURLToPath(import.meta.url);
const SIZES = (process.env.BENCH_TIMELINE_SIZES ?? "100000,1000000").split(",").map(Number);
const DISK = 100 * 2 ** 30;
/** The documented ceiling (docs/ARCHITECTURE.md, "Timeline memory"). */
const TARGET = 24;

function mem(): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error("run with --expose-gc");
  g();
  g();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

async function child(mode: string, image: string, trace: string): Promise<Record<string, number>> {
  const { openTraceSession } = await import("../inspector/session/open-session.js");
  const { openWorkload } = await import("../engine/workload/index.js");
  const { ReplayEngine } = await import("../engine/replay/replay-engine.js");
  const { Timeline } = await import("../engine/replay/timeline.js");
  if (mode === "plain") {
    // The same requests straight through an engine: what the image's state grows by, whatever holds it.
    const reqs = [...(function* () {
      const w = openWorkload(trace, {});
      try {
        yield* w.requests();
      } finally {
        w.close();
      }
    })()];
    const m0 = mem();
    const engine = new ReplayEngine(image, { record: false });
    for (const r of reqs) engine.apply(r);
    const grown = mem() - m0;
    engine.close();
    return { requests: reqs.length, grownBytes: grown };
  }
  const m0 = mem();
  const session = openTraceSession(image, trace, { record: false });
  const tl = session.timeline;
  if (!(tl instanceof Timeline)) throw new Error("the trace session has no engine timeline");
  const m1 = mem();
  const t0 = performance.now();
  tl.runTo(tl.requestCount);
  const runSeconds = (performance.now() - t0) / 1000;
  const m2 = mem();
  const s = tl.stats();
  const out = {
    requests: tl.requestCount,
    grownBytes: m2 - m0,
    openedBytes: m1 - m0,
    columnsBytes: tl.requests.bytesHeld(),
    checkpointBytes: s.checkpointBytes,
    anchorBytes: tl.checkpoints.anchorBytes(),
    checkpoints: s.checkpoints,
    interval: s.interval,
    runSeconds,
  };
  session.close();
  return out;
}

function spawnChild(mode: string, image: string, trace: string): Record<string, number> {
  const r = spawnSync(process.execPath, ["--expose-gc", "--max-old-space-size=4096", SELF, "--child", mode, image, trace], { encoding: "utf8", maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench child failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

export async function run(): Promise<Record<string, number | string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-bench-tlmem-"));
  try {
    const image = path.join(dir, "disk-100g.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", image, String(DISK)]);
    const res: Record<string, number | string> = { "target.bytesPerRequest": TARGET };
    const own: [number, number][] = [];
    for (const n of SIZES) {
      const trace = path.join(dir, `trace-${n}.txt`);
      writeBlkparseTrace(trace, n, DISK);
      const tl = spawnChild("timeline", image, trace);
      const plain = spawnChild("plain", image, trace);
      const k = n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`;
      const per = (x: number) => Math.round((x / n) * 10) / 10;
      res[`${k}.timeline.bytesPerRequest`] = per(tl.grownBytes! - plain.grownBytes!);
      res[`${k}.columns.bytesPerRequest`] = per(tl.columnsBytes!);
      res[`${k}.checkpoints.bytesPerRequest`] = per(tl.checkpointBytes!);
      res[`${k}.whole.bytesPerRequest`] = per(tl.grownBytes!);
      res[`${k}.imageState.MiB`] = Math.round(plain.grownBytes! / 2 ** 20);
      res[`${k}.checkpoints`] = tl.checkpoints!;
      res[`${k}.checkpointInterval`] = tl.interval!;
      res[`${k}.runTo.s`] = Math.round(tl.runSeconds! * 100) / 100;
      res[`${k}.anchors.MiB`] = Math.round(tl.anchorBytes! / 2 ** 20);
      // Anchors are a few whole copies of each cache (delta-archive.ts): fixed, so not part of the slope.
      own.push([n, tl.grownBytes! - plain.grownBytes! - tl.anchorBytes!]);
      fs.rmSync(trace);
    }
    if (own.length >= 2) {
      // What each further request adds: the cost per request docs/ARCHITECTURE.md gives, without the fixed part.
      const [[n0, b0], [n1, b1]] = [own[0]!, own[own.length - 1]!];
      const slope = (b1 - b0) / (n1 - n0);
      res["perFurtherRequest.bytes"] = Math.round(slope * 10) / 10;
      res["fixed.MiB.withoutAnchors"] = Math.round((b0 - slope * n0) / 2 ** 20);
      res["perFurtherRequest.underTarget"] = slope < TARGET ? "yes" : "NO";
    }
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF && process.argv[2] === "--child") {
  child(process.argv[3]!, process.argv[4]!, process.argv[5]!).then((r) => process.stdout.write(JSON.stringify(r) + "\n"));
} else if (process.argv[1] === SELF) {
  run().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(34)} ${v}\n`);
  });
}
