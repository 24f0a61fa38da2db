// Shared pieces of the dashboard tests: sample paths, traces written to a temporary folder, and live runs
// opened the way the dashboard opens them.
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfigOptions } from "../../engine/image/engine-config.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { openWorkload, type Workload } from "../../engine/workload/index.js";
import { EventLog } from "../../inspector/dashboard/event-log.js";
import { LiveReplay } from "../../inspector/dashboard/live-replay.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const ROOT = here("../../");
export const TOUR = here("../../samples/images/tour.qcow2");
export const TOUR_TRACE = here("../../samples/traces/tour.qemu-io");
export const SAMPLES = here("../../samples/images/");
export const NVME = builtinProfile("nvme")!;

/** Writes a qemu-io script into `dir` and returns its path. */
export function writeTrace(dir: string, name: string, lines: string[]): string {
  const p = path.join(dir, name);
  writeFileSync(p, lines.join("\n") + "\n");
  return p;
}

/** Sequential writes of `len` bytes over [0, size): allocates every L2 table and refcount block on the way. */
export function fillTrace(size: number, len: number, flushEvery = 64): string[] {
  const out: string[] = [];
  for (let off = 0, i = 0; off + len <= size; off += len, i++) {
    out.push(`write -P 0x${(i % 255 + 1).toString(16)} ${off} ${len}`);
    if (i % flushEvery === flushEvery - 1) out.push("flush");
  }
  return out;
}

export interface OpenRun {
  run: LiveReplay;
  workload: Workload;
  log: EventLog;
  close(): void;
}

export function openRun(image: string, trace: string, config = "", log = new EventLog()): OpenRun {
  const workload = openWorkload(trace);
  const run = new LiveReplay({ label: config || "baseline", imagePath: image, config: parseConfigOptions(config), profile: NVME, requests: workload.requests(), log });
  return { run, workload, log, close: () => (run.close(), workload.close()) };
}
