// `replay --validate`: the modelled totals of the baseline and of each --compare configuration next to what
// qemu-io measures for the same requests on a scratch copy beside the image; text table and JSON "validation".
import * as path from "node:path";
import type { EngineConfig } from "../../engine/image/engine-config.js";
import type { DeviceProfile } from "../../engine/replay/device-profiles.js";
import { formatUs } from "../../engine/replay/human-units.js";
import { parseCpuIdleMode, withCpuIdle, type CpuIdleMode } from "../../engine/replay/cpu-idle-hold.js";
import { qemuIoAvailable } from "../../engine/replay/qemu-io-run.js";
import { QemuIoMeasurement, type Measurement } from "../../engine/replay/validate.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import { ExitError } from "../fail.js";

export interface ValidationRun {
  label: string;
  /** The image the run replayed (a converted copy for format what-ifs). */
  image: string;
  config: EngineConfig;
  modelledUs: number;
}

export interface Validation {
  profile: string;
  profileSource: string;
  method: string;
  runs: number;
  modelledSeconds: number;
  measuredSeconds: number;
  untimedFlushes: number;
  skippedRequests: number;
  /** Idle CPUs while qemu-io ran: "held" (kept out of halt states), "free", or "free (why)"; and the profile's. */
  cpuIdle: string;
  profileCpuIdle?: string;
  compare: { config: string; modelledSeconds: number; measuredSeconds: number }[];
}

export const MEASURE_METHOD = "sum of qemu-io's per-request timings (start-up and image open excluded), scratch copy beside the image, same cache mode and cache options";

/** --validate-runs: 1..20. */
export function parseValidateRuns(v: string | undefined): number {
  // The default matches calibrate --runs: a profile and its check mean the same statistic.
  if (v === undefined) return 3;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new ExitError(`replay: --validate-runs must be a whole number 1..20, not '${v}'`, 1);
  return n;
}

/** --cpu-idle (replay --validate, calibrate): hold (default) or free. */
export function parseCpuIdle(v: string | undefined, command = "replay"): CpuIdleMode {
  try {
    return parseCpuIdleMode(v);
  } catch (e) {
    throw new ExitError(`${command}: ${(e as Error).message}`, 1);
  }
}

export function checkValidateAvailable(): void {
  if (!qemuIoAvailable()) throw new ExitError("replay: --validate runs the trace through qemu-io, which is not installed", 1);
}

/**
 * Measures each configuration with qemu-io, `repeat` rounds of one run each (baseline first in every round): the
 * configurations alternate, so that a spell of load on a shared host weighs on all of them, not on one.
 */
export function validate(userImage: string, runs: ValidationRun[], requests: () => Iterable<GuestRequest>, virtualSize: number, profile: DeviceProfile, repeat = 1, onRun?: (label: string) => void, cpuIdleMode: CpuIdleMode = "hold"): Validation {
  const dir = path.dirname(path.resolve(userImage));
  const meters = runs.map((r, i) => new QemuIoMeasurement(r.image, requests(), r.config, virtualSize, String(i), dir));
  // Idle states held as calibrate held them, so that the profile and the measurement see the same host.
  const cpuIdle = withCpuIdle(cpuIdleMode, (state) => {
    for (let round = 0; round < repeat; round++)
      meters.forEach((m, i) => {
        if (round === 0) onRun?.(runs[i]!.label);
        m.runOnce();
      });
    return state;
  });
  const measured: Measurement[] = meters.map((m) => m.result());
  const [base, ...rest] = runs;
  return {
    profile: profile.name,
    profileSource: profile.source ?? "built-in",
    method: repeat > 1 ? `${MEASURE_METHOD}; ${repeat} runs, each request timed by its fastest run` : MEASURE_METHOD,
    runs: repeat,
    modelledSeconds: base!.modelledUs / 1e6,
    measuredSeconds: measured[0]!.seconds,
    untimedFlushes: measured[0]!.untimedFlushes,
    skippedRequests: measured[0]!.skipped,
    cpuIdle,
    ...(profile.measured?.cpuIdle !== undefined ? { profileCpuIdle: profile.measured.cpuIdle } : {}),
    compare: rest.map((r, i) => ({ config: r.label, modelledSeconds: r.modelledUs / 1e6, measuredSeconds: measured[i + 1]!.seconds })),
  };
}

export function formatValidation(v: Validation, baseLabel: string): string[] {
  const rows: [string, number, number][] = [[baseLabel, v.modelledSeconds, v.measuredSeconds], ...v.compare.map((c): [string, number, number] => [c.config, c.modelledSeconds, c.measuredSeconds])];
  const w = Math.max(13, ...rows.map((r) => r[0].length));
  const out = [
    `Validation against qemu-io (profile ${v.profile}, ${v.profileSource === "built-in" ? "built-in" : `from ${v.profileSource}`})`,
    `  measured: ${v.method}`,
    `  ${"configuration".padEnd(w)}  ${"modelled".padStart(10)}  ${"measured".padStart(10)}  model/real${rows.length > 1 ? "  ratio to first: modelled / measured" : ""}`,
  ];
  const [, m0, r0] = rows[0]!;
  rows.forEach(([label, m, r], i) => {
    const ratio = r > 0 ? (m / r).toFixed(2) : "-";
    const rel = i > 0 && m0 > 0 && r0 > 0 ? `  ${(m / m0).toFixed(2)} / ${(r / r0).toFixed(2)}` : "";
    out.push(`  ${label.padEnd(w)}  ${formatUs(m * 1e6).padStart(10)}  ${formatUs(r * 1e6).padStart(10)}  ${ratio.padStart(10)}${rel}`);
  });
  out.splice(2, 0, `  CPU idle states: ${v.cpuIdle === "held" ? "held at polling while qemu-io ran (PM QoS)" : `${v.cpuIdle}: times include waking halted CPUs`}`);
  if (v.profileCpuIdle !== undefined && isHeld(v.profileCpuIdle) !== isHeld(v.cpuIdle))
    out.push(`  note: the profile was calibrated with CPU idle states ${isHeld(v.profileCpuIdle) ? "held" : "free"} and this run ${isHeld(v.cpuIdle) ? "held them" : "left them free"} — the two saw different hosts; calibrate and validate with the same --cpu-idle`);
  if (v.untimedFlushes) out.push(`  note: ${v.untimedFlushes} flush requests were run but qemu-io prints no time for them`);
  if (v.skippedRequests) out.push(`  note: ${v.skippedRequests} requests past the virtual size were not sent to qemu-io`);
  return out;
}

function isHeld(state: string): boolean {
  return state === "held";
}
