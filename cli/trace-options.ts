// The trace flags every command that reads a trace shares (--format, --device, --fit, --lenient): validation with
// the same messages, and the WorkloadOptions they mean. One place, so replay, dashboard, tui and workload agree.
import { Qcow2Image } from "../engine/image/qcow2-image.js";
import { FORMAT_NAMES, isFormatName, type FitMode, type FormatName, type WorkloadOptions } from "../engine/workload/index.js";
import { ExitError } from "./fail.js";

export const FIT_MODES: FitMode[] = ["wrap", "scale", "drop"];

export interface TraceFlags {
  format?: string;
  device?: string;
  fit?: string;
  lenient?: boolean;
}

/** `prefix` names the command in messages ("replay: ..."), empty for none. */
export function checkFormat(prefix: string, format: string): FormatName {
  if (!isFormatName(format)) throw new ExitError(`${prefix}unknown --format '${format}' (${FORMAT_NAMES.join(", ")})`, 1);
  return format;
}

export function checkFitMode(prefix: string, flag: string, mode: string): FitMode {
  if (!FIT_MODES.includes(mode as FitMode)) throw new ExitError(`${prefix}${flag} must be wrap, scale or drop, not '${mode}'`, 1);
  return mode as FitMode;
}

/** WorkloadOptions for the shared trace flags; --fit maps device offsets into `virtualSize`. */
export function traceOptions(prefix: string, flags: TraceFlags, virtualSize: number): WorkloadOptions {
  const wo: WorkloadOptions = { lenient: Boolean(flags.lenient) };
  if (flags.format !== undefined) wo.format = checkFormat(prefix, flags.format);
  if (flags.device !== undefined) wo.device = flags.device;
  if (flags.fit !== undefined) wo.fit = { virtualSize, mode: checkFitMode(prefix, "--fit", flags.fit) };
  return wo;
}

/** The image's virtual size and dirty bit, read from its header alone (no backing chain opened, nothing repaired). */
export function imageFacts(image: string): { virtualSize: number; dirty: boolean } {
  const img = Qcow2Image.open(image, { noBacking: true });
  try {
    return { virtualSize: img.virtualSize, dirty: img.rt.dirty };
  } finally {
    img.close();
  }
}

/** The image's virtual size (imageFacts). */
export function imageVirtualSize(image: string): number {
  return imageFacts(image).virtualSize;
}
