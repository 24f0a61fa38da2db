// `qcowdbg calibrate [DIR]`: measures the storage that holds the images with the I/O QEMU issues (through qemu-io
// on a raw scratch file in DIR) and writes a device profile that replay, tui and dashboard take with --profile.
import * as fs from "node:fs";
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { parseSize } from "../../engine/image/engine-config.js";
import { calibrate, profileJson } from "../../engine/replay/calibrate.js";
import { qemuIoAvailable } from "../../engine/replay/qemu-io-run.js";
import { formatUs } from "../../engine/replay/human-units.js";
import { writeFileAtomic } from "../../engine/storage/atomic-output.js";
import { ExitError, guarded } from "../fail.js";
import { parseCpuIdle } from "./replay-validate.js";

interface Flags {
  output: string;
  name?: string;
  pageCache?: string;
  scale: string;
  runs: string;
  cpuIdle?: string;
}

export function register(program: Command): void {
  program
    .command("calibrate")
    .description("measure the storage under DIR (default: here) with the I/O QEMU issues and write a device profile for --profile")
    .argument("[dir]", "folder on the storage that holds the images", ".")
    .option("--output <file>", "profile to write (docs/device-profile.md)", "qcowdbg-profile.json")
    .option("--name <name>", "profile name shown in report headers (default: calibrated-HOST)")
    .option("--page-cache <size>", "host page cache the images may use (default: half of the available memory)")
    .option("--scale <x>", "I/Os per measurement, relative to the default (0.2 = quick, 3 = steadier)", "1")
    .option("--cpu-idle <mode>", "hold: keep idle CPUs out of halt states while timing (PM QoS, needs root; replay --validate does the same); free: time the host as it is", "hold")
    .option("--runs <n>", "runs of each measurement; each I/O counts its fastest (as replay --validate-runs; use the same number)", "3")
    .action(guarded((dir: string, flags: Flags) => run(dir, flags)));
}

function run(dir: string, flags: Flags): void {
  const scale = Number(flags.scale);
  if (!Number.isFinite(scale) || scale < 0.05 || scale > 20) throw new ExitError(`calibrate: --scale must be a number 0.05..20, not '${flags.scale}'`, 1);
  const runs = Number(flags.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new ExitError(`calibrate: --runs must be a whole number 1..20, not '${flags.runs}'`, 1);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new ExitError(`calibrate: ${dir}: not a folder`, 1);
  if (!qemuIoAvailable()) throw new ExitError("calibrate: needs qemu-io (QEMU's own I/O is what is measured); install qemu-utils, or use a built-in --profile (nvme, sata-ssd, hdd, network)", 1);
  const cpuIdle = parseCpuIdle(flags.cpuIdle, "calibrate");
  const pageCacheBytes = flags.pageCache === undefined ? undefined : parseSize(flags.pageCache);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: "calibrate [{bar}] {percentage}% | {phase}", stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(runs + 2, 0, { phase: "starting" });
  let profile;
  try {
    profile = calibrate({ dir, scale, runs, pageCacheBytes, cpuIdle, name: flags.name, onPhase: (done, total, label) => {
      bar?.setTotal(total);
      bar?.update(done, { phase: label });
      // spawnSync blocks the event loop: draw now, before the next phase starts.
      bar?.render();
    } });
  } finally {
    bar?.stop();
  }
  // Lands whole or not at all (a profile half-written by a kill would mislead every later replay).
  writeFileAtomic(flags.output, profileJson(profile));
  const h = profile.host!;
  const lines = [
    `qcowdbg calibrate: ${profile.measured!.dir} (${profile.measured!.filesystem ?? "?"}) in ${profile.measured!.seconds.toFixed(1)} s -> ${flags.output} (profile ${profile.name})`,
    `  O_DIRECT 4 KiB read    ${formatUs(profile.readLatencyUs)} + ${profile.readMiBps.toFixed(0)} MiB/s   (sequential ${formatUs(profile.seqReadLatencyUs)})`,
    `  O_DIRECT 4 KiB write   ${formatUs(profile.writeLatencyUs)} + ${profile.writeMiBps.toFixed(0)} MiB/s   (sequential ${formatUs(profile.seqWriteLatencyUs)})`,
    `  page-cache read        ${formatUs(h.cachedRead.us)} + ${h.cachedRead.usPerKiB.toFixed(2)} µs/KiB; hole ${formatUs(h.holeRead.us)} (O_DIRECT ${formatUs(h.directHoleRead.us)})`,
    `  page-cache write       ${formatUs(h.bufferedWrite.us)}; into a hole / past the end ${formatUs(h.bufferedAllocWrite.us)} (O_DIRECT ${formatUs(h.directAllocWrite.us)})`,
    `  qcow2 driver           ${formatUs(h.requestUs)} per request (over the raw file), ${formatUs(h.allocUs)} per cluster allocation`,
    `  fdatasync              ${formatUs(h.syncUs)} + ${formatUs(h.syncUsPerMiB)}/dirty MiB + ${formatUs(h.syncAllocUs)} after allocation + ${formatUs(h.syncUsPerAllocWrite ?? 0)}/allocating write (O_DIRECT ${formatUs(h.directSyncAllocUs)}); O_DIRECT flush ${formatUs(profile.flushUs)}`,
    `  CPU idle states        ${cpuIdleLine(profile.measured!.cpuIdle)}`,
    `  fallocate              punch ${formatUs(h.punchHoleUs)}, zero ${formatUs(h.zeroRangeUs)}; page cache ${(h.pageCacheBytes / 2 ** 30).toFixed(1)} GiB`,
    `use it: qcowdbg replay IMG TRACE --profile ${flags.output} [--validate]`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

/** The profile's measured.cpuIdle in words. */
export function cpuIdleLine(state: string | undefined): string {
  if (state === "held") return "held at polling while timing (PM QoS)";
  if (state === undefined) return "not recorded";
  return state === "free" ? "free (--cpu-idle free): timings include waking halted CPUs" : `${state}: timings include waking halted CPUs`;
}
