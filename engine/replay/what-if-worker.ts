// A worker thread of what-if-threads.ts: replays its share of the configurations over the requests it was given
// and posts the summaries. The engine is loaded inside the try, so that a worker that cannot load still answers
// (with `failed`) and the main thread, blocked in Atomics.wait, replays that share itself.
import { workerData } from "node:worker_threads";
import type { WorkerInput, WorkerOutput } from "./what-if-threads.js";

const input = workerData as WorkerInput;
let sent = false;

function finish(out: WorkerOutput): void {
  if (sent) return;
  sent = true;
  input.port.postMessage(out);
  Atomics.store(input.flag, 0, 1);
  Atomics.notify(input.flag, 0);
}

// Any other way out (an uncaught error, process.exit in a dependency) still wakes the main thread.
process.on("exit", () => finish({ failed: "the worker exited without a result" }));

try {
  const { RequestColumns } = await import("./request-columns.js");
  const { replayLockstep } = await import("./lockstep.js");
  const columns = RequestColumns.revive(input.columns);
  const results = replayLockstep(columns.requests(), input.runs).map((r) => (r instanceof Error ? { error: r.message } : { summary: r }));
  finish({ results });
} catch (e) {
  finish({ failed: e instanceof Error ? e.message : String(e) });
}
