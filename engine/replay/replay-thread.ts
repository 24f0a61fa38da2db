// One replay with its parsing and its engine on two cores: this thread parses the trace (so every trace error,
// notice and statistic is the parser's own, as in one thread) and posts the requests in packed chunks to a worker
// thread that replays them. Parsing then costs no time of its own when a second core is free. The worker may lag
// at most MAX_AHEAD chunks (memory stays flat over any trace length). Synchronous: the hand-over is
// Atomics.wait/notify on a shared counter plus receiveMessageOnPort, as in what-if-threads.ts. Only when a core is
// idle (streamThread): on a busy machine the hand-over's own CPU costs more than the overlap gains.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { GuestRequest } from "../workload/guest-request.js";
import { RequestColumns } from "./request-columns.js";
import type { LockstepRun } from "./lockstep.js";
import { replayTrace, type ReplaySummary } from "./replay-stats.js";
import { WORKER, plainRun, streamThread, type WorkerOutput } from "./what-if-threads.js";

/** Requests per chunk posted to the worker. */
const CHUNK = 8192;
/** Chunks the parser may be ahead of the replay. */
const MAX_AHEAD = 16;
/** Slots of the shared control array. */
export const POSTED = 0;
export const CONSUMED = 1;
export const DONE = 2;

/** What the streaming worker is given. */
export interface StreamInput {
  stream: true;
  run: LockstepRun;
  ctl: Int32Array;
  port: MessagePort;
}

/** A chunk of requests, or the end of the trace. */
export type StreamMessage = { chunk: RequestColumns } | { end: true };

/**
 * Replays `requests()` under `run` with the engine on a worker thread when a second core is idle (streamThread;
 * and the run has no per-request callbacks), recording every request into `tape` when given. Otherwise, or when the worker
 * cannot start or fails, in this thread from a fresh `requests()` (the same summary either way).
 */
export function replayStreamed(requests: () => Iterable<GuestRequest>, run: LockstepRun, tape?: RequestColumns): ReplaySummary {
  const o = run.opts;
  const inProcess = (): ReplaySummary => {
    tape?.clear();
    return replayTrace(run.imagePath, tape ? tape.record(requests()) : requests(), o);
  };
  if (!streamThread() || o.onRequest || o.onOpen || o.perEventCosts || o.keepEvents) return inProcess();
  const ctl = new Int32Array(new SharedArrayBuffer(12));
  const { port1, port2 } = new MessageChannel();
  const input: StreamInput = { stream: true, run: plainRun(run), ctl, port: port2 };
  const worker = new Worker(WORKER!, { workerData: input, transferList: [port2] });
  worker.unref();
  try {
    let posted = 0;
    let chunk = new RequestColumns(CHUNK);
    let n = 0;
    const post = (m: StreamMessage): boolean => {
      // Wait while the replay is MAX_AHEAD chunks behind; stop feeding a worker that has ended (failed).
      for (;;) {
        if (Atomics.load(ctl, DONE) !== 0) return false;
        const consumed = Atomics.load(ctl, CONSUMED);
        if (posted - consumed < MAX_AHEAD) break;
        Atomics.wait(ctl, CONSUMED, consumed, 200);
      }
      port1.postMessage(m);
      posted++;
      Atomics.store(ctl, POSTED, posted);
      Atomics.notify(ctl, POSTED);
      return true;
    };
    let alive = true;
    for (const r of requests()) {
      chunk.push(r);
      tape?.push(r);
      if (++n % 4096 === 0) o.onProgress?.(n);
      if (chunk.length === CHUNK) {
        if (!(alive = post({ chunk }))) break;
        chunk = new RequestColumns(CHUNK);
      }
    }
    if (alive) alive = post({ chunk }) && post({ end: true });
    while (Atomics.load(ctl, DONE) === 0) Atomics.wait(ctl, DONE, 0, 1000);
    const m = receiveMessageOnPort(port1)?.message as WorkerOutput | undefined;
    const res = m && "results" in m ? m.results[0] : undefined;
    // The worker could not replay (say, it could not load or open the image): this thread does, with the
    // errors the user would see without a worker.
    if (!alive || !res || "error" in res) return inProcess();
    o.onProgress?.(res.summary.requests);
    return res.summary;
  } finally {
    port1.close();
    void worker.terminate();
  }
}
