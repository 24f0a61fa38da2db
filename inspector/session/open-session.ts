// Builds a Session from file names: an image and a trace make a timeline (replay on a shadow layer, time
// travel, breakpoints); an image alone makes an image browser over the REPL's qemu-io interpreter.
import type { EngineConfig } from "../../engine/image/engine-config.js";
import type { DeviceProfile } from "../../engine/replay/device-profiles.js";
import type { Storage } from "../../engine/storage/storage.js";
import { ReplayEngine } from "../../engine/replay/replay-engine.js";
import { RequestColumns } from "../../engine/replay/request-columns.js";
import { Timeline } from "../../engine/replay/timeline.js";
import { openWorkload, type FitMode, type WorkloadOptions } from "../../engine/workload/index.js";
import { requestCost } from "./counters-view.js";
import { dirtyImageNote } from "../dirty-image-note.js";
import { ReplSession } from "./repl-session.js";
import { Session } from "./session.js";
import type { EventSink } from "../../engine/events/recorder.js";

export interface TraceSessionOptions {
  config?: Partial<EngineConfig>;
  /** Trace reading: format, device, lenient, ... (fit is given as a mode: the image's size is known here). */
  workload?: Omit<WorkloadOptions, "fit">;
  fit?: FitMode;
  out?: (line: string) => void;
  /** Device profile for the modelled latencies (default: the built-in NVMe one). */
  profile?: DeviceProfile;
  /** Keep every engine event (default: up to LOG_LIMIT requests; past that the log would take gigabytes). */
  record?: boolean;
}

/** Requests up to which the event log is kept by default (tens of events each, 35 bytes per event). */
export const LOG_LIMIT = 500_000;

export function openTraceSession(imagePath: string, tracePath: string, opts: TraceSessionOptions = {}): Session {
  const engine = new ReplayEngine(imagePath, { config: opts.config });
  try {
    const fit = opts.fit ? { mode: opts.fit, virtualSize: engine.image.virtualSize } : undefined;
    const workload = openWorkload(tracePath, { ...opts.workload, fit });
    let requests: RequestColumns;
    try {
      requests = RequestColumns.from(workload.requests());
    } finally {
      workload.close();
    }
    engine.recorder.enabled = opts.record ?? requests.length <= LOG_LIMIT;
    const cacheMode = engine.config.cacheMode;
    const timeline = new Timeline(engine, requests, {
      // A checkpoint every 1,024 requests at first, not every 16,384 events (~630 random writes), and further
      // apart while capturing the caches takes over a fifth of the replay's time: on a 100 GiB image it took as
      // long as the replay. A jump still re-runs only some milliseconds of requests.
      checkpoints: { maxEvents: 32768, captureShare: 0.2, maxInterval: 2048 },
      latencyOf: (_i, ctx) => requestCost(ctx.recorder, ctx.firstEvent, ctx.endEvent, ctx.request.op !== "read" && ctx.request.op !== "flush", cacheMode, opts.profile).us,
    });
    const session = new Session(
      {
        kind: "trace",
        timeline,
        imagePath,
        tracePath,
        profile: opts.profile,
        close: () => {
          timeline.dispose();
          engine.close();
        },
      },
      { out: opts.out },
    );
    // The command pane (TUI) or the output (repl): the replay's first requests see the repaired image.
    if (engine.image.repairedAtOpen) session.print(`note: ${dirtyImageNote(imagePath)}`);
    return session;
  } catch (e) {
    engine.close();
    throw e;
  }
}

export interface ImageSessionOptions {
  config?: Partial<EngineConfig>;
  /** Write in place (--write); otherwise a shadow layer (the one given, or a fresh one). */
  write?: boolean;
  storage?: Storage;
  events?: EventSink;
  out?: (line: string) => void;
}

/** An image browser: qemu-io commands act on the image; output reaches `out` through the session. */
export function openImageSession(imagePath: string, opts: ImageSessionOptions = {}): Session {
  const box: { session: Session | null } = { session: null };
  const repl = new ReplSession(imagePath, {
    out: (l) => box.session?.print(l),
    config: opts.config,
    write: opts.write,
    writable: true,
    events: opts.events,
    storage: opts.storage,
  });
  box.session = new Session({ kind: "image", repl, imagePath }, { out: opts.out });
  return box.session;
}
