// A worker thread of what-if-threads.ts (replays its share of the configurations over the requests it was given
// and posts the summaries), of replay-thread.ts (replays one configuration over requests posted in chunks as
// they are parsed) or of speculative-runs.ts (makes its variants' converted copies, then replays them in
// lock-step over requests posted in chunks; or only makes the copies of the main thread's runs). The engine is loaded inside the try, so that a worker that cannot load still answers and the
// main thread, blocked in Atomics.wait, replays that share itself.
import { receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import type { GuestRequest } from "../workload/guest-request.js";
import type { WorkerInput, WorkerOutput } from "./what-if-threads.js";
import type { StreamInput, StreamMessage } from "./replay-thread.js";
import type { CopyInput, MainCopies, SpeculateInput, SpeculateOutput } from "./speculative-runs.js";
import type { AsideInput, AsideOutput, EachCopyInput, EachCopyMessage } from "./baseline-aside.js";

const input = workerData as WorkerInput | StreamInput | SpeculateInput | CopyInput | AsideInput | EachCopyInput;
// Where "done" is signalled: the what-if flag, the stream's control array (slot 2, DONE; slot 1, CONSUMED,
// is woken too, since the parser may be waiting for room), the speculation's (slot 1)
// the copies' (slot 0) or the baseline's aside (slot 2, ASIDE_DONE).
const [flag, at] = "stream" in input ? [input.ctl, 2] : "speculate" in input ? [input.ctl, 1] : "copy" in input ? [input.ctl, 0] : "aside" in input ? [input.ctl, 2] : "copyEach" in input ? [input.ctl, 1] : [input.flag, 0];
let sent = false;

/** Chunks in the order posted; slot 0 of `ctl` counts posts and is read before each try, so a post between the try and the wait changes it and the wait returns at once. */
function* pull(ctl: Int32Array, port: MessagePort, revive: (chunk: unknown) => Iterable<GuestRequest>, consumed?: number): Generator<GuestRequest> {
  for (;;) {
    const seen = Atomics.load(ctl, 0);
    const got = receiveMessageOnPort(port);
    if (!got) {
      Atomics.wait(ctl, 0, seen, 1000);
      continue;
    }
    const m = got.message as StreamMessage;
    if (consumed !== undefined) {
      Atomics.add(ctl, consumed, 1);
      Atomics.notify(ctl, consumed);
    }
    if ("end" in m) return;
    yield* revive(m.chunk);
  }
}

function finish(out: WorkerOutput | SpeculateOutput | MainCopies | AsideOutput | EachCopyMessage): void {
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
  // Every consumer here is a replay loop, which keeps no request: one object rewritten for each.
  const revive = (chunk: unknown) => RequestColumns.revive(chunk).requestsReused();
  if ("copyEach" in input) {
    // Every copy at once (qemu-img mostly waits on the disk), each answered as soon as it is made.
    // Only qemu-img runs here (the arguments come made): nothing of the engine is loaded.
    const { runConvert } = await import("./convert-run.js");
    const { ctl, port } = input;
    await Promise.all(
      input.copyEach.map(async (m, k) => {
        let out: EachCopyMessage;
        try {
          out = { k, path: await runConvert(m) };
        } catch (e) {
          out = { k, error: e instanceof Error ? e.message : String(e) };
        }
        port.postMessage(out);
        Atomics.add(ctl, 0, 1);
        Atomics.notify(ctl, 0);
      }),
    );
    finish({ allDone: true });
  } else if ("aside" in input) {
    const { replayAsideWorker } = await import("./baseline-aside.js");
    try {
      finish(replayAsideWorker(input));
    } catch (e) {
      finish({ failed: e instanceof Error ? e.message : String(e) });
    }
  } else if ("copy" in input) {
    const { convertedCopy } = await import("./compare.js");
    finish({
      mainCopies: input.copy.map((m) => {
        try {
          return { path: convertedCopy(m.imagePath, m.convert, input.dir) };
        } catch (e) {
          return { error: e instanceof Error ? e.message : String(e) };
        }
      }),
    });
  } else if ("stream" in input) {
    const { replayTrace } = await import("./replay-stats.js");
    try {
      finish({ results: [{ summary: replayTrace(input.run.imagePath, pull(input.ctl, input.port, revive, 1), input.run.opts) }] });
    } catch (e) {
      finish({ results: [{ error: e instanceof Error ? e.message : String(e) }] });
    }
  } else if ("speculate" in input) {
    const { replayLockstep } = await import("./lockstep.js");
    const { convertedCopy } = await import("./compare.js");
    const { formatKey, threadCpuSeconds } = await import("./speculative-runs.js");
    // Converted copies first (qemu-img runs while this thread waits, not the parser's); a variant whose copy
    // cannot be made is left out, and the main thread runs it again for its error.
    const copies = new Map<string, string>();
    const paths = input.runs.map((r): string | Error => {
      if (!r.convert) return r.imagePath;
      const k = formatKey(r.convert);
      try {
        let p = copies.get(k);
        if (p === undefined) copies.set(k, (p = convertedCopy(r.imagePath, r.convert, input.dir)));
        return p;
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    });
    const ok = input.runs.flatMap((r, i) => (typeof paths[i] === "string" ? [{ imagePath: paths[i], opts: r.opts }] : []));
    const ran = replayLockstep(pull(input.ctl, input.port, revive), ok);
    const results = paths.map((p) => {
      if (typeof p !== "string") return { error: p.message };
      const r = ran.shift()!;
      return r instanceof Error ? { error: r.message } : { summary: r };
    });
    finish({ results, copies: [...copies], cpuSeconds: threadCpuSeconds() });
  } else {
    const { replayLockstep } = await import("./lockstep.js");
    const { tapeRequests } = await import("./what-if-threads.js");
    const columns = Array.isArray(input.columns) ? input.columns.map((c) => RequestColumns.revive(c)) : RequestColumns.revive(input.columns);
    const results = replayLockstep(tapeRequests(columns), input.runs).map((r) => (r instanceof Error ? { error: r.message } : { summary: r }));
    finish({ results });
  }
} catch (e) {
  finish({ failed: e instanceof Error ? e.message : String(e) });
}
