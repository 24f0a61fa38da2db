// `qcowdbg crashtest IMG TRACE`: replays a trace over a shadow of IMG with the host write log on and judges the
// crash states at every sync (every step with --every-step): clean, leaks, dirty, garbage, data-lost, corrupt.
// Exits 2 when a state is corrupt or loses data a completed flush covered. IMG is only ever read. With --profile it
// also models what the safety costs: the trace's time on that device under each cache mode and lazy-refcounts
// setting, each beside its own crash verdict.
import * as path from "node:path";
import type { Command } from "commander";
import { parseConfigOptions } from "../../engine/image/engine-config.js";
import { openWorkload, FORMAT_NAMES } from "../../engine/workload/index.js";
import { CrashExplorer } from "../../engine/crash/crash-explorer.js";
import { failing, formatSafetyCosts, formatSummary, safetyCostsJson, summaryJson } from "../../engine/crash/crash-report.js";
import { safetyCosts, type SafetyCost } from "../../engine/crash/safety-costs.js";
import { loadProfile, BUILTIN_PROFILES } from "../../engine/replay/device-profiles.js";
import { profileLabel } from "./profile-label.js";
import { prepareStateDir, StateSaver } from "../../engine/crash/save-states.js";
import { DEFAULT_SAMPLE } from "../../engine/crash/crash-states.js";
import { ExitError, guarded } from "../fail.js";
import { imageVirtualSize, traceOptions, type TraceFlags } from "../trace-options.js";

interface Flags extends TraceFlags {
  output: string;
  config?: string;
  states: string;
  seed: string;
  saveStates?: string;
  saveMax: string;
  everyStep?: boolean;
  torn?: boolean;
  profile?: string;
}

export function register(program: Command): void {
  program
    .command("crashtest")
    .description("replay a trace and judge every crash state the host writes allow at each sync: clean, leaks, dirty, garbage, data-lost, corrupt")
    .argument("<image>", "qcow2 image (never written: the replay and the crash states live in memory)")
    .argument("<trace>", `trace file (${FORMAT_NAMES.join(", ")})`)
    .option("--config <opts>", "engine options, e.g. cache=unsafe, lazy-refcounts=on, refcount-before-l2=off, cow-before-l2=off")
    .option("--states <n>", `states per crash point when more than 2^12 are possible (a seeded sample)`, String(DEFAULT_SAMPLE))
    .option("--seed <n>", "seed of the sample", "1")
    .option("--output <format>", "text or json", "text")
    .option("--save-states <dir>", "write real qcow2 files for a sample of the states checked, and DIR/index.json")
    .option("--save-max <n>", "states saved per verdict", "4")
    .option("--every-step", "also explore after every request, not only before each sync")
    .option("--torn", "add states where one write persisted only its first sector")
    .option("--profile <name|file>", `also model the trace's time under each cache mode and lazy-refcounts setting on this device profile (${BUILTIN_PROFILES.map((p) => p.name).join(", ")}, or a file from qcowdbg calibrate), each beside its crash verdict`)
    .option("--format <name>", "trace format, instead of detecting it")
    .option("--fit <mode>", "requests past the virtual size: wrap, scale or drop")
    .option("--lenient", "skip malformed trace lines instead of stopping")
    .option("--device <id>", "keep one device of a multi-device trace")
    .action(guarded((image: string, trace: string, flags: Flags) => run(image, trace, flags)));
}

function whole(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ExitError(`crashtest: ${flag} must be a whole number ${min}..${max}, not '${v}'`, 1);
  return n;
}

function run(image: string, trace: string, flags: Flags): void {
  if (flags.output !== "text" && flags.output !== "json") throw new ExitError(`crashtest: --output must be text or json, not '${flags.output}'`, 1);
  const sample = whole("--states", flags.states, 2, 1 << 20);
  const seed = whole("--seed", flags.seed, 0, 2 ** 32 - 1);
  const saveMax = whole("--save-max", flags.saveMax, 1, 1000);
  const config = parseConfigOptions(flags.config ?? "");
  const profile = flags.profile === undefined ? null : loadProfile(flags.profile);
  const workload = openWorkload(trace, { ...traceOptions("crashtest: ", flags, imageVirtualSize(image)), onNotice: (m) => process.stderr.write(`qcowdbg: note: ${m}\n`) });
  let saver: StateSaver | null = null;
  let explorer: CrashExplorer | null = null;
  try {
    explorer = new CrashExplorer(image, { config, sample, seed, everyStep: flags.everyStep, torn: flags.torn, onState: flags.saveStates ? (s) => saver?.onState(s) : undefined });
    const ex = explorer;
    if (flags.saveStates) {
      const inputs = [image];
      const b = ex.backing();
      if (b) inputs.push(b.resolved);
      const d = ex.dataFileName();
      if (d) inputs.push(path.isAbsolute(d) ? d : path.join(path.dirname(image), d));
      prepareStateDir(flags.saveStates, inputs);
      saver = new StateSaver(flags.saveStates, () => ex, saveMax);
    }
    let errors = 0;
    for (const r of workload.requests()) if (ex.apply(r)) errors++;
    const summary = ex.finish();
    saver?.finish();
    const mode = `cache=${ex.config.cacheMode}${flags.config ? `, ${flags.config}` : ""}`;
    let costs: SafetyCost[] | null = null;
    if (profile) {
      explorer.close();
      explorer = null;
      costs = safetyCosts(image, () => workload.requests(), config, summary, profile, { sample, seed, everyStep: flags.everyStep, torn: flags.torn });
    }
    if (flags.output === "json") {
      const out = { image, trace, format: workload.format, config: flags.config ?? "", errors, ...summaryJson(summary), saved: saver ? { dir: flags.saveStates, states: saver.saved.length } : undefined, ...(profile && costs ? { profile: profile.name, safetyCosts: safetyCostsJson(costs, mode) } : {}) };
      process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    } else {
      const lines = formatSummary(summary, `qcowdbg crashtest: ${image} <- ${trace} (${workload.format}), ${mode}${profile ? `, device profile ${profileLabel(profile)}` : ""}`);
      if (errors) lines.splice(1, 0, `  ${errors} requests failed (past the virtual size or refused) and were skipped`);
      if (saver) lines.push("", `  saved ${saver.saved.length} states to ${flags.saveStates} (index.json lists them worst first)`);
      if (profile && costs) lines.push("", ...formatSafetyCosts(costs, mode, profile.name));
      process.stdout.write(lines.join("\n") + "\n");
    }
    if (failing(summary)) process.exitCode = 2;
  } finally {
    explorer?.close();
    workload.close();
  }
}
