// --temp-limit (and QCOWDBG_TEMP_LIMIT): how much the shadow layers of the interactive commands (tui, repl,
// dashboard) may write to temp files once their 256 MiB of memory is spent. The files live in $TMPDIR (else
// /tmp) and are unlinked as soon as they are opened, so they go away however the process ends.
import type { Command } from "commander";
import { parseSize } from "../engine/image/engine-config.js";
import { setShadowTempLimit, sweepStaleSidecars } from "../engine/storage/shadow-sidecar.js";
import { ExitError } from "./fail.js";

export const TEMP_LIMIT_HELP =
  "temp files the shadow layer may write once its 256 MiB of memory is used (in $TMPDIR or /tmp, unlinked at once; default 256M, or QCOWDBG_TEMP_LIMIT)";

export function addTempLimitOption(cmd: Command): Command {
  return cmd.option("--temp-limit <size>", TEMP_LIMIT_HELP);
}

/**
 * Applies --temp-limit, else QCOWDBG_TEMP_LIMIT, to the shadow layers made from now on; and removes spill files
 * that runs killed before this version (which kept them on disk) left in the temp directory.
 */
export function applyTempLimit(flag: string | undefined): void {
  sweepStaleSidecars();
  const spec = flag ?? process.env.QCOWDBG_TEMP_LIMIT;
  if (spec === undefined || spec === "") return;
  let bytes: number;
  try {
    bytes = parseSize(spec);
  } catch (e) {
    throw new ExitError(`${flag !== undefined ? "--temp-limit" : "QCOWDBG_TEMP_LIMIT"}: ${(e as Error).message}`, 1);
  }
  setShadowTempLimit(bytes);
}
