// `qcowdbg tui IMG [TRACE]`: the full-screen inspector. With a trace: step, continue and travel back through
// its replay (the image is never written: a shadow layer takes the writes). Without: browse the image and run
// qemu-io commands on it from the `:` line (a shadow layer too, unless --write).
import type { Command } from "commander";
import { defaultConfig, parseConfigOptions } from "../../engine/image/engine-config.js";
import { BUILTIN_PROFILES, DEFAULT_PROFILE, loadProfile } from "../../engine/replay/device-profiles.js";
import { FORMAT_NAMES, type FitMode } from "../../engine/workload/index.js";
import { openImageSession, openTraceSession } from "../../inspector/session/open-session.js";
import type { Session } from "../../inspector/session/session.js";
import { ExitError, guarded } from "../fail.js";
import { applyTempLimit, TEMP_LIMIT_HELP } from "../temp-limit.js";
import { checkFitMode, checkFormat } from "../trace-options.js";

interface TuiFlags {
  config?: string;
  format?: string;
  fit?: string;
  lenient?: boolean;
  device?: string;
  write?: boolean;
  maxFps: string;
  profile?: string;
  tempLimit?: string;
}


export function openFromFlags(image: string, trace: string | undefined, flags: Omit<TuiFlags, "maxFps">, out?: (line: string) => void): Session {
  // A trace replay keeps no guest data unless asked (`--config metadata-only=off`): a blkparse trace carries
  // none, and keeping the patterns of a million writes is what filled gigabytes of temp files (issue 12).
  const config = parseConfigOptions(flags.config ?? "", defaultConfig({ metadataOnly: Boolean(trace) }));
  if (!trace) {
    // The `:` line speaks qemu-io, so its default cache mode is qemu-io's (writethrough) unless one is given.
    if (!/(^|,)\s*(cache|t)\s*=/.test(flags.config ?? "")) config.cacheMode = "writethrough";
    return openImageSession(image, { config, write: flags.write, out });
  }
  if (flags.write) throw new ExitError("--write applies without a trace only (a replay always goes to a shadow layer)", 1);
  if (flags.format !== undefined) checkFormat("", flags.format);
  if (flags.fit !== undefined) checkFitMode("", "--fit", flags.fit);
  return openTraceSession(image, trace, {
    config,
    fit: flags.fit as FitMode | undefined,
    profile: flags.profile === undefined ? undefined : loadProfile(flags.profile),
    workload: { format: flags.format as (typeof FORMAT_NAMES)[number] | undefined, lenient: flags.lenient, device: flags.device },
    out,
  });
}

export function register(program: Command): void {
  program
    .command("tui")
    .description("full-screen inspector: step through a trace's replay (or browse an image) and watch the caches, tables and clusters change")
    .argument("<image>", "qcow2 image")
    .argument("[trace]", `trace to replay (${FORMAT_NAMES.join(", ")})`)
    .option("--config <opts>", "engine options, e.g. l2-cache-size=1M,l2-cache-entry-size=4K,cache=writethrough; a trace replays metadata-only unless metadata-only=off")
    .option("--format <name>", "trace format, instead of detecting it")
    .option("--fit <mode>", "requests past the virtual size: wrap, scale or drop")
    .option("--lenient", "skip malformed trace lines")
    .option("--device <id>", "keep one device of a multi-device trace")
    .option("--write", "without a trace: qemu-io writes go to the image itself (default: a shadow layer)")
    .option("--max-fps <n>", "redraws per second at most", "30")
    .option("--temp-limit <size>", TEMP_LIMIT_HELP)
    .option("--profile <name|file>", `device profile for the modelled latencies: ${BUILTIN_PROFILES.map((p) => p.name).join(", ")} (default ${DEFAULT_PROFILE}), or a JSON file from \`qcowdbg calibrate\``)
    .action(
      guarded(async (image: string, trace: string | undefined, flags: TuiFlags) => {
        applyTempLimit(flags.tempLimit);
        const fps = Number(flags.maxFps);
        if (!Number.isInteger(fps) || fps < 1 || fps > 240) throw new ExitError(`--max-fps must be 1..240, not '${flags.maxFps}'`, 1);
        if (!process.stdout.isTTY || !process.stdin.isTTY) throw new ExitError("tui needs a terminal; for scripts use `qcowdbg repl IMAGE [TRACE] -c ...`", 1);
        // React's development build costs several times more per frame; load ink only now, in production mode.
        process.env.NODE_ENV ??= "production";
        // ink draws only the last frame when CI or CONTINUOUS_INTEGRATION is set (it decides when it loads): a TUI
        // started in a terminal must draw every frame wherever it runs, CI shells included.
        delete process.env.CI;
        delete process.env.CONTINUOUS_INTEGRATION;
        const { runTui } = await import("../../inspector/tui/run-tui.js");
        const session = openFromFlags(image, trace, flags);
        try {
          await runTui(session, { maxFps: fps });
        } finally {
          session.close();
        }
      }),
    );
}
