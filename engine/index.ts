// The library entry (`import … from "qcowdbg"`): open an image, inspect it as qemu-img does, replay a trace with
// an engine configuration, and read the events and the report. The CLI is built on the same functions; this file
// only chooses what is public (re-exports) and adds the three conveniences a script wants first.
import { openForInspection } from "./check/open-inspection.js";
import { mapImage, type MapEntry, type MapOptions } from "./check/map.js";
import { checkImage, type CheckOptions, type CheckReport } from "./check/check.js";
import { FileStorage } from "./storage/file-storage.js";
import { defaultConfig, type EngineConfig } from "./image/engine-config.js";
import { loadProfile, DEFAULT_PROFILE, type DeviceProfile } from "./replay/device-profiles.js";
import { replayTrace, type ReplaySummary } from "./replay/replay-stats.js";
import { buildReport, type ReplayReport } from "./replay/report.js";
import { EVENT_NAMES } from "./events/event-schema.js";
import type { EngineEvent } from "./events/recorder.js";
import { openWorkload, type WorkloadOptions } from "./workload/index.js";

export { imageInfo, imageInfoChain, infoHuman, infoJson, probeFormat, type ImageInfo, type InfoOptions, type InfoResult } from "./check/info.js";
export { openForInspection } from "./check/open-inspection.js";
export { mapEntryHuman, mapEntryJson, mapImage, MapError, printMap, type MapEntry, type MapOptions } from "./check/map.js";
export { checkImage, CheckAborted, QemuOpenError, type CheckMessageKind, type CheckMessageSink, type CheckOptions, type CheckReport, type CheckResult } from "./check/check.js";
export { exportRaw, type ExportResult } from "./check/export.js";
export type { BlockNode, BlockStatus } from "./image/block-node.js";
export { FileStorage } from "./storage/file-storage.js";
export { CACHE_MODES, CACHE_POLICIES, defaultConfig, parseConfigOptions, parseSize, QEMU_DEFAULTS, type CacheMode, type CachePolicy, type EngineConfig } from "./image/engine-config.js";
export { BUILTIN_PROFILES, builtinProfile, DEFAULT_PROFILE, loadProfile, parseProfile, type DeviceProfile } from "./replay/device-profiles.js";
export { replayTrace, type CauseSummary, type OpSummary, type ReplayRunOptions, type ReplaySummary, type RequestContext, type SlowRequest } from "./replay/replay-stats.js";
export { buildReport, formatReport, type ReplayReport, type TraceInfo } from "./replay/report.js";
export { recommend, type Recommendation } from "./replay/recommend.js";
export { ReplayLoop } from "./replay/replay-loop.js";
export { fanOut, replayLockstep, type LockstepRun } from "./replay/lockstep.js";
export { EVENT_NAMES } from "./events/event-schema.js";
export { EventRecorder, type EngineEvent } from "./events/recorder.js";
export { formatJsonEvent, formatTextEvent } from "./events/text-format.js";
export { openWorkload, type GuestRequest, type Workload, type WorkloadOptions } from "./workload/index.js";

/** Every map extent of an image and its backing chain, as `qemu-img map --output=json` lists them. */
export function mapExtents(path: string, opts: MapOptions = {}): MapEntry[] {
  const top = openForInspection(path);
  try {
    const out: MapEntry[] = [];
    mapImage(top, opts, (e) => out.push({ ...e }));
    return out;
  } finally {
    top.close();
  }
}

/** `qemu-img check` of a qcow2 image, read-only: the result counters and QEMU's messages. */
export function checkFile(path: string, opts: CheckOptions = {}): CheckReport {
  const storage = new FileStorage(path);
  try {
    return checkImage(storage, path, opts);
  } finally {
    storage.close();
  }
}

/** One engine event with its kind's name, as `replay --events` writes it. */
export interface NamedEvent extends EngineEvent {
  name: string;
}

export interface ReplayFileOptions {
  /** Engine configuration (QEMU's defaults when absent); parseConfigOptions() reads QEMU's option syntax. */
  config?: EngineConfig;
  /** A built-in device profile name or a profile JSON file (default nvme). */
  profile?: string | DeviceProfile;
  /** How the trace is read and fitted onto the image (format, filters, fit). */
  workload?: WorkloadOptions;
  /** Called with each request's events while they are still recorded (the replay keeps memory flat). */
  onEvent?: (e: NamedEvent) => void;
  /** Slowest requests to explain (default 10). */
  topN?: number;
}

/**
 * Replays a trace file over a shadow of the image (the image file is never written) and returns the report the
 * CLI prints with `replay --output=json --no-recommend`.
 */
export function replayFile(image: string, trace: string, opts: ReplayFileOptions = {}): ReplayReport {
  const profile = typeof opts.profile === "object" ? opts.profile : loadProfile(opts.profile ?? DEFAULT_PROFILE);
  const workload = openWorkload(trace, opts.workload);
  try {
    const onEvent = opts.onEvent;
    const summary: ReplaySummary = replayTrace(image, workload.requests(), {
      config: opts.config ?? defaultConfig(),
      profile,
      topN: opts.topN,
      onRequest: onEvent
        ? (ctx) => {
            const rec = ctx.engine.recorder;
            for (let i = ctx.outcome.firstEvent; i < ctx.outcome.endEvent; i++) {
              const e = rec.get(i);
              onEvent({ ...e, seq: ctx.firstSeq + (i - ctx.outcome.firstEvent), name: EVENT_NAMES[e.kind] ?? `kind${e.kind}` });
            }
          }
        : undefined,
    });
    const s = workload.stats;
    return buildReport({ path: trace, format: workload.format, lines: s.lines, skipped: s.skipped, filtered: s.filtered, fit: opts.workload?.fit?.mode }, { name: profile.name, description: profile.description }, summary, [], [], undefined, "replayFile() replays once and looks for none (`qcowdbg replay` without --no-recommend computes and verifies them)");
  } finally {
    workload.close();
  }
}
