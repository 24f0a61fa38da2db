// What crash safety costs in time on this host: `crashtest --profile` replays the trace under the tested
// configuration and under each setting that trades safety for speed (the five cache modes, lazy refcounts toggled),
// models each run's time on the device profile and judges its crash states, so that a user sees beside each
// verdict what it costs (or saves) to have it.
import { parseConfigOptions, type EngineConfig } from "../image/engine-config.js";
import type { GuestRequest } from "../workload/guest-request.js";
import type { DeviceProfile } from "../replay/device-profiles.js";
import { replayTrace } from "../replay/replay-stats.js";
import { exploreTrace, type CrashOptions, type CrashSummary } from "./crash-explorer.js";

const CACHE_MODES = ["writeback", "writethrough", "none", "directsync", "unsafe"] as const;

export interface SafetyCost {
  /** The options that differ from the tested configuration ("tested" for it). */
  label: string;
  tested: boolean;
  config: EngineConfig;
  /** Modelled time of the whole trace on the profile, µs. */
  modelledUs: number;
  crash: CrashSummary;
}

/** The tested configuration's neighbours on the safety axis: every other cache mode, and lazy refcounts toggled. */
export function safetyAlternatives(base: EngineConfig, lazyNow: boolean, v3: boolean): { label: string; config: EngineConfig }[] {
  const out = CACHE_MODES.filter((m) => m !== base.cacheMode).map((m) => ({ label: `cache=${m}`, config: parseConfigOptions(`cache=${m}`, base) }));
  // Lazy refcounts need a version 3 image (QEMU refuses them on version 2).
  if (v3) out.push({ label: `lazy-refcounts=${lazyNow ? "off" : "on"}`, config: parseConfigOptions(`lazy-refcounts=${lazyNow ? "off" : "on"}`, base) });
  return out;
}

/**
 * Modelled time and crash verdicts of the tested configuration (its crash summary already computed) and of each
 * alternative. `requests` is called once per run (a trace is re-read).
 */
export function safetyCosts(image: string, requests: () => Iterable<GuestRequest>, base: EngineConfig, tested: CrashSummary, profile: DeviceProfile, crash: CrashOptions): SafetyCost[] {
  let v3 = false;
  const first = replayTrace(image, requests(), { config: base, profile, topN: 0, onOpen: (e) => (v3 = e.image.header.version >= 3) });
  const rows: SafetyCost[] = [{ label: "tested", tested: true, config: base, modelledUs: first.totalUs, crash: tested }];
  for (const alt of safetyAlternatives(base, first.image.lazyRefcounts, v3)) {
    const run = replayTrace(image, requests(), { config: alt.config, profile, topN: 0 });
    rows.push({ label: alt.label, tested: false, config: alt.config, modelledUs: run.totalUs, crash: exploreTrace(image, requests(), { ...crash, config: alt.config, onState: undefined }) });
  }
  return rows;
}
