// `qcowdbg replay` as a user runs it, against btt on the same requests: a 1,000,000-request trace of seeded random
// 4 KiB writes over a fresh 100 GiB qcow2 (made by qemu-img), replayed with its recommendations (verified by
// replaying every what-if, in one pass) and with --no-recommend, against `btt -i` on the same writes as
// blktrace's binary file (btt reads nothing else; qcowdbg reads blkparse's text, the slower parse). Runs are
// interleaved (btt, --no-recommend, default, per round) because the machine is shared; ratios are per round, then
// the median. Peak RSS is each child's own. Then 5,000,000 requests with --no-recommend against 1,000,000: the
// statistics stream, so peak RSS must not grow with the request count. Targets: default <= 1.0x btt and <= 1.5x
// --no-recommend, < 300 MiB. Both are run as users get them (worker threads on a second core: the baseline's
// engine beside the parser, the verification runs shared out) and in one thread (QCOWDBG_WORKERS=0, the "1t."
// rows). The baseline's second thread is only used when about two cores are idle (1-minute load average), so on
// a busy machine the default rows run it in one thread (set QCOWDBG_WORKERS=2 to force it).
// The default rows also give each thread's CPU and waits (from --debug), so a change in the balance of the
// threads (an engine that got faster at one format) shows. BENCH_REPLAY_REQUESTS / BENCH_ROUNDS shrink or grow it.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeBlkparseTrace } from "./lib/blkparse-trace.js";
import { writeBlktraceBinary } from "./lib/blktrace-binary.js";

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));
const REQUESTS = Number(process.env.BENCH_REPLAY_REQUESTS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const DISK = 100 * 2 ** 30;
/**
 * Prints the child's own peak RSS and CPU time on stderr at exit, from its main thread only (--import runs in
 * worker threads too, and a worker that ends on its own, such as the one making a copy, would print early figures).
 */
const MEASURE = `data:text/javascript,import{isMainThread}from"node:worker_threads";process.on("exit",()=>{if(!isMainThread)return;const u=process.resourceUsage();process.stderr.write("\\nqcowdbg-bench "+u.maxRSS+" "+(u.userCPUTime+u.systemCPUTime)+"\\n")})`;

interface Run {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  out: string;
  /** From --debug (the baseline on a worker): each thread's CPU seconds, the parser's wait at the end and the worker's idle time. */
  split?: { main: number; worker: number; mainWait: number; workerIdle: number };
}

function qcowdbg(args: string[], env: Record<string, string> = {}): Run {
  const t = performance.now();
  const r = spawnSync(process.execPath, ["--import", MEASURE, CLI, ...args], { encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, ...env } });
  const seconds = (performance.now() - t) / 1000;
  const m = /qcowdbg-bench (\d+) (\d+)/.exec(r.stderr ?? "");
  if (r.status !== 0 || !m) throw new Error(`qcowdbg ${args.join(" ")} failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ")}`);
  const d = /waited ([\d.]+) s for them; CPU: this thread ([\d.]+) s, the workers ([\d.]+) s\); the baseline's worker idle ([\d.]+) s/.exec(r.stderr ?? "");
  const split = d ? { mainWait: Number(d[1]), main: Number(d[2]), worker: Number(d[3]), workerIdle: Number(d[4]) } : undefined;
  return { seconds, cpuSeconds: Number(m[2]) / 1e6, peakRssMiB: Math.round(Number(m[1]) / 1024), out: r.stdout, split };
}

function btt(bin: string): number | string {
  const t = performance.now();
  // btt writes its *_fp.dat plot files into its working directory: run it beside the binary trace, in the
  // bench's temp directory, not in the user's checkout.
  const r = spawnSync("btt", ["-i", bin], { cwd: path.dirname(bin), encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) return `btt not run: ${r.error.message} (apt-get install blktrace)`;
  if (r.status !== 0) return `btt failed: ${(r.stderr || r.stdout).trim().split("\n")[0]}`;
  return (performance.now() - t) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function run(): Promise<Record<string, number | string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-bench-recommend-"));
  try {
    const image = path.join(dir, "disk-100g.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", image, String(DISK)]);
    const text = path.join(dir, "writes.blkparse.txt");
    const bin = path.join(dir, "writes.blktrace.0");
    writeBlkparseTrace(text, REQUESTS, DISK);
    // How busy the machine was (other work shares its cores): ratios are per round for this reason.
    const load0 = os.loadavg()[0]!;
    writeBlktraceBinary(bin, REQUESTS, DISK);
    const rows = { btt: [] as number[], plain: [] as Run[], rec: [] as Run[], plain1: [] as Run[], rec1: [] as Run[] };
    const one = { QCOWDBG_WORKERS: "0" };
    let bttNote = "";
    for (let i = 0; i < ROUNDS; i++) {
      const b = btt(bin);
      if (typeof b === "string") bttNote = b;
      else rows.btt.push(b);
      rows.plain.push(qcowdbg(["replay", image, text, "--no-recommend"]));
      // --debug only adds a line on stderr: each thread's CPU time and waits (how well the runs were dealt).
      rows.rec.push(qcowdbg(["--debug", "replay", image, text]));
      rows.plain1.push(qcowdbg(["replay", image, text, "--no-recommend"], one));
      rows.rec1.push(qcowdbg(["replay", image, text], one));
    }
    const after = rows.rec[0]!.out.split("\nRecommendations\n")[1] ?? "";
    const recs = after.split("\n\n")[0]!.split("\n").filter((l) => /^ {2}\d+\. /.test(l)).length;
    const res: Record<string, number | string> = {
      "requests": REQUESTS,
      "rounds": ROUNDS,
      "noRecommend.seconds": round(median(rows.plain.map((r) => r.seconds))),
      "noRecommend.cpuSeconds": round(median(rows.plain.map((r) => r.cpuSeconds))),
      "noRecommend.peakRssMiB": Math.max(...rows.plain.map((r) => r.peakRssMiB)),
      "default.seconds": round(median(rows.rec.map((r) => r.seconds))),
      "default.cpuSeconds": round(median(rows.rec.map((r) => r.cpuSeconds))),
      "default.peakRssMiB": Math.max(...rows.rec.map((r) => r.peakRssMiB)),
      "default.peakRssMiB.target": 300,
      "default.recommendations": recs,
      "defaultVsNoRecommend.ratio": round(median(rows.rec.map((r, i) => r.seconds / rows.plain[i]!.seconds))),
      "defaultVsNoRecommend.cpuRatio": round(median(rows.rec.map((r, i) => r.cpuSeconds / rows.plain[i]!.cpuSeconds))),
      "defaultVsNoRecommend.ratio.target": 1.5,
      "1t.noRecommend.seconds": round(median(rows.plain1.map((r) => r.seconds))),
      "1t.noRecommend.peakRssMiB": Math.max(...rows.plain1.map((r) => r.peakRssMiB)),
      "1t.default.seconds": round(median(rows.rec1.map((r) => r.seconds))),
      "1t.default.cpuSeconds": round(median(rows.rec1.map((r) => r.cpuSeconds))),
      "1t.default.peakRssMiB": Math.max(...rows.rec1.map((r) => r.peakRssMiB)),
      "1t.defaultVsNoRecommend.ratio": round(median(rows.rec1.map((r, i) => r.seconds / rows.plain1[i]!.seconds))),
      "threadsVs1t.default.ratio": round(median(rows.rec.map((r, i) => r.seconds / rows.rec1[i]!.seconds))),
      ...splitRows(rows.rec),
      "loadAverage.start": round(load0),
      "loadAverage.end": round(os.loadavg()[0]!),
    };
    if (rows.btt.length) {
      res["btt.seconds"] = round(median(rows.btt));
      res["defaultVsBtt.ratio"] = round(median(rows.rec.map((r, i) => r.seconds / rows.btt[i]!)));
      res["defaultVsBtt.ratio.target"] = 1.0;
      res["1t.defaultVsBtt.ratio"] = round(median(rows.rec1.map((r, i) => r.seconds / rows.btt[i]!)));
      res["noRecommendVsBtt.ratio"] = round(median(rows.plain.map((r, i) => r.seconds / rows.btt[i]!)));
    } else res["btt.note"] = bttNote;
    fs.rmSync(bin);
    if (process.env.BENCH_SKIP_5M !== "1") {
      // Five times the requests: memory must stay where it was.
      const big = REQUESTS * 5;
      writeBlkparseTrace(text, big, DISK);
      const r5 = qcowdbg(["replay", image, text, "--no-recommend"]);
      res["5x.requests"] = big;
      res["5x.noRecommend.seconds"] = round(r5.seconds);
      res["5x.noRecommend.peakRssMiB"] = r5.peakRssMiB;
      const rss1 = Math.max(...rows.plain.map((r) => r.peakRssMiB));
      res["5xVs1x.peakRssGrowthMiB"] = r5.peakRssMiB - rss1;
      res["5xVs1x.bytesPerExtraRequest"] = round(((r5.peakRssMiB - rss1) * 2 ** 20) / (big - REQUESTS));
    }
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The default runs' CPU per thread (the parser's, the baseline's worker) and their waits, medians: a deal of the
 * verification runs that leaves one thread waiting shows here (a wait or an idle time of a second or more).
 */
function splitRows(runs: Run[]): Record<string, number> {
  const s = runs.map((r) => r.split).filter((x): x is NonNullable<Run["split"]> => x !== undefined);
  if (s.length === 0) return {};
  return {
    "default.thread.parser.cpuSeconds": round(median(s.map((x) => x.main))),
    "default.thread.worker.cpuSeconds": round(median(s.map((x) => x.worker))),
    "default.thread.parser.waitSeconds": round(median(s.map((x) => x.mainWait))),
    "default.thread.worker.idleSeconds": round(median(s.map((x) => x.workerIdle))),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run().then((r) => process.stdout.write(JSON.stringify(r, null, 2) + "\n"));
