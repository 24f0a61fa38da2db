// `qcowdbg check [--output=human|json] IMG`: qemu-img check's report, byte for byte on stdout, QEMU's messages
// on stderr, and its exit codes: 0 clean, 1 check not completed, 2 corruptions, 3 leaked clusters only.
import type { Command } from "commander";
import { checkImage, type CheckMessageSink, type CheckReport } from "../../engine/check/check.js";
import { qemuJsonPretty } from "../../engine/check/qemu-json.js";
import { FileStorage } from "../../engine/storage/file-storage.js";
import { ExitError, guarded } from "../fail.js";

interface CheckCliOptions {
  output: string;
  format?: string;
  quiet?: boolean;
}

/** printf("%0.2f"): like toFixed(2), except that exact ties round to even as glibc does. */
export function printf2f(x: number): string {
  const eighths = x * 8;
  if (Number.isInteger(eighths) && Math.abs(eighths) % 2 === 1) {
    let n = Math.floor(x * 100);
    if (n % 2 !== 0) n++;
    const sign = n < 0 ? "-" : "";
    const a = Math.abs(n);
    return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, "0")}`;
  }
  return x.toFixed(2);
}

/** dump_human_image_check(). */
export function humanCheck(r: CheckReport["result"]): string {
  let out = "";
  if (!(r.corruptions || r.leaks || r.checkErrors)) {
    out += "No errors were found on the image.\n";
  } else {
    if (r.corruptions)
      out += `\n${r.corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n`;
    if (r.leaks) out += `\n${r.leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n`;
    if (r.checkErrors) out += `\n${r.checkErrors} internal errors have occurred during the check.\n`;
  }
  if (r.totalClusters !== 0 && r.allocatedClusters !== 0) {
    out +=
      `${r.allocatedClusters}/${r.totalClusters} = ${printf2f((r.allocatedClusters * 100) / r.totalClusters)}% allocated, ` +
      `${printf2f((r.fragmentedClusters * 100) / r.allocatedClusters)}% fragmented, ` +
      `${printf2f((r.compressedClusters * 100) / r.allocatedClusters)}% compressed clusters\n`;
  }
  if (r.imageEndOffset) out += `Image end offset: ${r.imageEndOffset}\n`;
  return out;
}

/** dump_json_image_check(): QAPI ImageCheck, optional members present only when non-zero. */
export function jsonCheck(rep: CheckReport): string {
  const r = rep.result;
  const opt = (v: number) => (v !== 0 ? v : undefined);
  return (
    qemuJsonPretty({
      filename: rep.filename,
      format: rep.format,
      "check-errors": r.checkErrors,
      "image-end-offset": opt(r.imageEndOffset),
      corruptions: opt(r.corruptions),
      leaks: opt(r.leaks),
      "corruptions-fixed": opt(r.corruptionsFixed),
      "leaks-fixed": opt(r.leaksFixed),
      "total-clusters": opt(r.totalClusters),
      "allocated-clusters": opt(r.allocatedClusters),
      "fragmented-clusters": opt(r.fragmentedClusters),
      "compressed-clusters": opt(r.compressedClusters),
    }) + "\n"
  );
}

/** QEMU's messages go to stderr as they come; batched so a badly broken image does not cost a write per line. */
function stderrSink(): { sink: CheckMessageSink; flush: () => void } {
  let pending = "";
  const flush = () => {
    if (pending) process.stderr.write(pending);
    pending = "";
  };
  const sink: CheckMessageSink = (line, kind) => {
    pending += kind === "report" ? `qcowdbg: ${line}\n` : kind === "partial" ? line : `${line}\n`;
    if (pending.length > 65536) flush();
  };
  return { sink, flush };
}

function runCheck(image: string, opts: CheckCliOptions): void {
  if (opts.output !== "human" && opts.output !== "json") throw new ExitError("--output must be used with human or json as argument.", 1);
  if (opts.format !== undefined && opts.format !== "qcow2") throw new ExitError(`only qcow2 images can be checked, not '${opts.format}'`, 1);
  const { sink, flush } = stderrSink();
  const storage = new FileStorage(image);
  let rep: CheckReport;
  try {
    rep = checkImage(storage, image, { onMessage: sink });
  } finally {
    flush();
    storage.close();
  }
  if (rep.failed !== undefined) throw new ExitError(`Check failed: ${rep.failed}`, 1);
  if (!opts.quiet) process.stdout.write(opts.output === "json" ? jsonCheck(rep) : humanCheck(rep.result));
  const r = rep.result;
  if (r.checkErrors) throw new ExitError("Check failed", 1);
  process.exitCode = r.corruptions ? 2 : r.leaks ? 3 : 0;
}

export function register(program: Command): void {
  program
    .command("check")
    .description("check the image's refcounts and metadata like qemu-img check (exit 0 clean, 1 incomplete, 2 corrupt, 3 leaks)")
    .argument("<image>", "qcow2 image file")
    .option("--output <format>", "human or json", "human")
    .option("-f, --format <fmt>", "image format (qcow2 only)")
    .option("-q, --quiet", "print nothing on stdout; only the exit code tells")
    .action(guarded((image: string, opts: CheckCliOptions) => runCheck(image, opts)));
}
