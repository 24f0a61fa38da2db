// A worker thread of what-if-threads.ts (replays its share of the configurations over the requests it was given
// and posts the summaries) or of replay-thread.ts (replays one configuration over requests posted in chunks as
// they are parsed). The engine is loaded inside the try, so that a worker that cannot load still answers and the
// main thread, blocked in Atomics.wait, replays that share itself.
import { receiveMessageOnPort, workerData } from "node:worker_threads";
import type { GuestRequest } from "../workload/guest-request.js";
import type { WorkerInput, WorkerOutput } from "./what-if-threads.js";
import type { StreamInput, StreamMessage } from "./replay-thread.js";

const input = workerData as WorkerInput | StreamInput;
// Where "done" is signalled: the what-if flag, or the stream's control array (slot 2, DONE; slot 1, CONSUMED,
// is woken too, since the parser may be waiting for room).
const [flag, at] = "stream" in input ? [input.ctl, 2] : [input.flag, 0];
let sent = false;

function finish(out: WorkerOutput): void {
  if (sent) return;
  sent = true;
  input.port.postMessage(out);
  Atomics.store(flag, at, 1);
  Atomics.notify(flag, at);
  if ("stream" in input) Atomics.notify(input.ctl, 1);
}

// Any other way out (an uncaught error, process.exit in a dependency) still wakes the main thread.
process.on("exit", () => finish({ failed: "the worker exited without a result" }));

try {
  const { RequestColumns } = await import("./request-columns.js");
  if ("stream" in input) {
    const { replayTrace } = await import("./replay-stats.js");
    const { ctl, port } = input;
    // Chunks in the order posted; POSTED (slot 0) is read before each try, so a post between the try and the
    // wait changes it and the wait returns at once.
    const pull = function* (): Generator<GuestRequest> {
      for (;;) {
        const seen = Atomics.load(ctl, 0);
        const got = receiveMessageOnPort(port);
        if (!got) {
          Atomics.wait(ctl, 0, seen, 1000);
          continue;
        }
        const m = got.message as StreamMessage;
        Atomics.add(ctl, 1, 1);
        Atomics.notify(ctl, 1);
        if ("end" in m) return;
        yield* RequestColumns.revive(m.chunk).requests();
      }
    };
    try {
      finish({ results: [{ summary: replayTrace(input.run.imagePath, pull(), input.run.opts) }] });
    } catch (e) {
      finish({ results: [{ error: e instanceof Error ? e.message : String(e) }] });
    }
  } else {
    const { replayLockstep } = await import("./lockstep.js");
    const columns = RequestColumns.revive(input.columns);
    const results = replayLockstep(columns.requests(), input.runs).map((r) => (r instanceof Error ? { error: r.message } : { summary: r }));
    finish({ results });
  }
} catch (e) {
  finish({ failed: e instanceof Error ? e.message : String(e) });
}
