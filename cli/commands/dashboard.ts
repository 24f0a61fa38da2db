// `qcowdbg dashboard IMG TRACE`: replays a trace over a shadow of the image with live charts (modelled latency,
// rates, time by cause, cache hit rates, the host-file map, slowest requests), optionally beside a what-if
// configuration. Options mean what they mean for `qcowdbg replay`; this module only turns argv into them.
import { applyTempLimit, TEMP_LIMIT_HELP } from "../temp-limit.js";
import * as path from "node:path";
import type { Command } from "commander";
import { parseConfigOptions } from "../../engine/image/engine-config.js";
import { BUILTIN_PROFILES, DEFAULT_PROFILE, loadProfile } from "../../engine/replay/device-profiles.js";
import { convertedCopy, makeWorkDir, needsConversion, parseVariant, qemuImgAvailable, removeWorkDir } from "../../engine/replay/compare.js";
import { FORMAT_NAMES, openWorkload, type FormatName } from "../../engine/workload/index.js";
import { runDashboard, type DashboardRunSpec } from "../../inspector/dashboard/run-dashboard.js";
import { ExitError, guarded } from "../fail.js";
import { profileLabel } from "./profile-label.js";
import { countLines } from "../count-lines.js";
import { imageFacts, traceOptions } from "../trace-options.js";
import { dirtyImageNote } from "../../inspector/dirty-image-note.js";

interface Flags {
  config?: string;
  tempLimit?: string;
  profile: string;
  whatIf?: string;
  format?: string;
  fit?: string;
  device?: string;
  lenient?: boolean;
  speed: string;
}


export function register(program: Command): void {
  program
    .command("dashboard")
    .description("replay a trace over a shadow of IMG with live charts: latency, time by cause, cache hit rates, host-file map, slowest requests")
    .argument("<image>", "qcow2 image (never written: writes go to a shadow layer)")
    .argument("<trace>", `trace file (${FORMAT_NAMES.join(", ")})`)
    .option("--config <opts>", "engine options, e.g. l2-cache-size=1M,cache=writethrough,lazy-refcounts=on")
    .option("--profile <name|file>", `device profile: ${BUILTIN_PROFILES.map((p) => p.name).join(", ")}, or a JSON file from \`qcowdbg calibrate\``, DEFAULT_PROFILE)
    .option("--what-if <config>", "replay a second configuration side by side (engine options, plus cluster_size=/extended_l2= via a converted copy)")
    .option("--format <name>", "trace format, instead of detecting it")
    .option("--fit <mode>", "requests past the virtual size: wrap, scale or drop (default: they fail and are counted as errors)")
    .option("--device <id>", "keep one device of a multi-device trace")
    .option("--lenient", "skip malformed trace lines instead of stopping")
    .option("--speed <req/s|max>", "replay speed at start (+/- change it)", "max")
    .option("--temp-limit <size>", TEMP_LIMIT_HELP)
    .action(guarded((image: string, trace: string, flags: Flags) => run(image, trace, flags)));
}

async function run(image: string, trace: string, flags: Flags): Promise<void> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) throw new ExitError("dashboard: needs a terminal (stdin and stdout); `qcowdbg replay` prints the same diagnosis as text", 1);
  applyTempLimit(flags.tempLimit);
  const speed = parseSpeed(flags.speed);
  const base = parseConfigOptions(flags.config ?? "");
  const profile = loadProfile(flags.profile);
  const facts = imageFacts(image);
  const virtualSize = facts.virtualSize;
  const dirty = facts.dirty ? dirtyImageNote(image) : null;
  let toldDirty = false;
  const wo = traceOptions("dashboard: ", flags, virtualSize);
  // Detected once, before the screen is taken: a trace of no known format fails as plain text.
  const format = wo.format ?? detectTraceFormat(trace);
  const runs: DashboardRunSpec[] = [{ label: flags.config ?? "baseline", imagePath: image, config: base }];
  let workDir = "";
  try {
    if (flags.whatIf !== undefined) {
      const v = parseVariant(flags.whatIf, base);
      let img = image;
      if (needsConversion(v.format)) {
        if (!qemuImgAvailable()) throw new ExitError("dashboard: cluster_size/extended_l2 need a converted copy, and qemu-img is not installed", 1);
        workDir = makeWorkDir();
        img = convertedCopy(image, v.format, workDir);
      }
      runs.push({ label: v.label, imagePath: img, config: v.config });
    }
    await runDashboard({
      info: { image: path.basename(image), trace: path.basename(trace), format, profile: profileLabel(profile) },
      runs,
      profile,
      openWorkload: (onNotice) => {
        // Into the dashboard's log, with the trace's own notices (each run opens the trace: say it once).
        if (dirty && !toldDirty) onNotice(dirty);
        toldDirty = true;
        return openWorkload(trace, { ...wo, format, onNotice });
      },
      traceUnits: format === "blktrace" ? null : countLines(trace),
      speed,
    });
  } finally {
    if (workDir) removeWorkDir(workDir);
  }
  // blessed leaves stdin referenced after destroy; nothing else is pending once the dashboard has closed.
  process.stdin.unref?.();
}

function parseSpeed(s: string): number {
  if (s === "max") return Infinity;
  const n = Number(s);
  if (!(n > 0) || !Number.isFinite(n)) throw new ExitError(`dashboard: --speed must be a number of requests per second or 'max', not '${s}'`, 1);
  return n;
}



/** The format openWorkload detects (for the title, the progress figure and both runs). */
function detectTraceFormat(trace: string): FormatName {
  const w = openWorkload(trace);
  try {
    return w.format;
  } finally {
    w.close();
  }
}

