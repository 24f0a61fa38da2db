// What-ifs on several cores: the configurations to verify are shared out over worker threads and this thread,
// each stepping its share in lock-step over the same requests (parsed once, in packed columns, copied to each
// worker), and the summaries come back in the runs' order, so the result is the same as one thread's. Synchronous
// like the rest of the engine: this thread replays its share, then waits on each worker with Atomics.wait and
// takes its result with receiveMessageOnPort. One usable core, or QCOWDBG_WORKERS=0, runs everything here.
import * as fs from "node:fs";
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { replayLockstep, type LockstepRun } from "./lockstep.js";
import type { RequestColumns } from "./request-columns.js";
import type { ReplaySummary } from "./replay-stats.js";
import type { GuestRequest } from "../workload/guest-request.js";

/** Requests kept in memory: one set of columns, or several in order (chunks). */
export type Tape = RequestColumns | RequestColumns[];

/** The requests of a tape, in order, in one object rewritten for each (RequestColumns.requestsReused): for replay loops, which keep none. */
export function* tapeRequests(t: Tape): Generator<GuestRequest> {
  if (Array.isArray(t)) for (const c of t) yield* c.requestsReused();
  else yield* t.requestsReused();
}

/** What a worker is given: the requests and its runs with their plain options (no callbacks cross threads). */
export interface WorkerInput {
  columns: Tape;
  runs: LockstepRun[];
  /** Set to 1 (and notified) once the result is posted on `port`. */
  flag: Int32Array;
  port: MessagePort;
}

/** A worker's answer: one result per run, or why the worker itself failed (its runs then run here). */
export type WorkerOutput = { results: ({ summary: ReplaySummary } | { error: string })[] } | { failed: string };

/**
 * The worker script beside this file: the module build's in dist/engine/replay, or from the CLI's bundle
 * (dist/bundle, where this code is a chunk) the bundle's own entry, which loads a few chunks where the module
 * build's loads ~70 modules; the module build's copy when the bundle has none. what-if-worker.ts also serves
 * replay-thread.ts.
 */
export const WORKER = [new URL("./what-if-worker.js", import.meta.url), new URL("../engine/replay/what-if-worker.js", import.meta.url)].find(
  (u) => u.protocol === "file:" && fs.existsSync(fileURLToPath(u)),
);

/**
 * Threads to use for `runs` configurations: one per configuration up to the usable cores
 * (os.availableParallelism), or up to QCOWDBG_WORKERS when set (0 or 1: this thread only). Without the compiled worker
 * script (running from the TypeScript sources, as the unit tests do) everything runs here.
 */
export function whatIfThreads(runs: number, env: NodeJS.ProcessEnv = process.env): number {
  const set = env.QCOWDBG_WORKERS === undefined || env.QCOWDBG_WORKERS === "" ? NaN : Math.floor(Number(env.QCOWDBG_WORKERS));
  const n = Math.min(runs, set >= 0 ? set : os.availableParallelism());
  if (n <= 1 || !WORKER) return 1;
  return n;
}

/**
 * Whether to replay beside the parser on a second thread (replay-thread.ts): when QCOWDBG_WORKERS allows 2 or
 * more threads, or, unset, when about two cores are idle (usable cores minus the 1-minute load average, at least
 * 1.5). Unlike the verification runs, which each need a core anyway and run with less garbage collection in heaps
 * of their own, this thread only pays where a core would otherwise idle: on a busy machine its hand-over costs
 * more CPU (about a second per million requests) than the overlap gains.
 */
export function streamThread(env: NodeJS.ProcessEnv = process.env): boolean {
  if (!WORKER) return false;
  const set = env.QCOWDBG_WORKERS === undefined || env.QCOWDBG_WORKERS === "" ? NaN : Math.floor(Number(env.QCOWDBG_WORKERS));
  if (set >= 0) return set >= 2;
  return os.availableParallelism() - os.loadavg()[0]! >= 1.5;
}

/**
 * Replays `columns` under every run, `threads` at a time (whatIfThreads by default). Runs with callbacks
 * (progress, per-request hooks) stay in this thread; the others are dealt round-robin. An Error stands in for a
 * run whose image could not be opened, as in replayLockstep.
 */
export function replayOnThreads(columns: Tape, runs: LockstepRun[], threads = whatIfThreads(runs.length)): (ReplaySummary | Error)[] {
  if (threads <= 1 || runs.length <= 1) return replayLockstep(tapeRequests(columns), runs);
  const shares: number[][] = Array.from({ length: threads }, () => []);
  // Share 0 is this thread's. Dealing starts at the first worker's, so this thread, which also holds the runs
  // with callbacks, gets no more than the others.
  let next = 1;
  runs.forEach((r, i) => {
    if (hasCallbacks(r)) shares[0]!.push(i);
    else shares[next++ % threads]!.push(i);
  });
  const local = shares[0]!;
  const workers = shares.slice(1).filter((s) => s.length > 0).map((share) => start(columns, share, runs));
  const out: (ReplaySummary | Error)[] = new Array<ReplaySummary | Error>(runs.length);
  try {
    replayLockstep(tapeRequests(columns), local.map((i) => runs[i]!)).forEach((r, k) => (out[local[k]!] = r));
    for (const w of workers) {
      const res = wait(w);
      // A worker that failed as a whole (it could not load, or died): its runs are replayed here instead.
      const mine = "failed" in res ? replayLockstep(tapeRequests(columns), w.share.map((i) => runs[i]!)) : res.results.map((r) => ("error" in r ? new Error(r.error) : r.summary));
      mine.forEach((r, k) => (out[w.share[k]!] = r));
    }
    return out;
  } finally {
    for (const w of workers) void w.worker.terminate();
  }
}

interface Started {
  worker: Worker;
  share: number[];
  flag: Int32Array;
  port: MessagePort;
}

function start(columns: Tape, share: number[], runs: LockstepRun[]): Started {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const input: WorkerInput = { columns, runs: share.map((i) => plainRun(runs[i]!)), flag, port: port2 };
  const worker = new Worker(WORKER!, { workerData: input, transferList: [port2] });
  worker.unref();
  return { worker, share, flag, port: port1 };
}

function wait(w: Started): WorkerOutput {
  while (Atomics.load(w.flag, 0) === 0) Atomics.wait(w.flag, 0, 0, 1000);
  const m = receiveMessageOnPort(w.port);
  w.port.close();
  return m ? (m.message as WorkerOutput) : { failed: "no result" };
}

function hasCallbacks(r: LockstepRun): boolean {
  const o = r.opts;
  return Boolean(o.onProgress || o.onRequest || o.onOpen);
}

/** A run's options without its callbacks (none are set on runs dealt to workers). */
export function plainRun(r: LockstepRun): LockstepRun {
  const { config, profile, keepData, topN, perEventCosts, keepEvents } = r.opts;
  return { imagePath: r.imagePath, opts: { config, profile, keepData, topN, perEventCosts, keepEvents } };
}
