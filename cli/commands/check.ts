// `qcowdbg check [--output=human|json] IMG`: qemu-img check's report, byte for byte on stdout, QEMU's messages
// on stderr, and its exit codes: 0 clean, 1 check not completed, 2 corruptions, 3 leaked clusters only.
import * as fs from "node:fs";
import type { Command } from "commander";
import { checkImage, QemuOpenError, type CheckMessageSink, type CheckReport } from "../../engine/check/check.js";
import { qemuJsonPretty } from "../../engine/check/qemu-json.js";
import { FileStorage } from "../../engine/storage/file-storage.js";
import { ImageLockError, withForceShare } from "../../engine/storage/image-lock.js";
import { requireImageKey } from "../../engine/check/image-key.js";
import { RepairOverlay } from "../../engine/check/repair-overlay.js";
import { ExitError, guarded } from "../fail.js";
import { imageSpec, imageSpecOptions, type ImageSpecFlags } from "../image-spec.js";

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

export interface CheckCliOptions extends ImageSpecFlags {
  output: string;
  quiet?: boolean;
  withoutKey?: boolean;
  /** -r leaks|all: repair what qemu-img check -r repairs, in place. */
  repair?: string;
}

/** Where the command writes; the CLI passes the process streams, tests collect strings. */
export interface CheckWriters {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * Runs the check and prints what qemu-img check prints (program name "qcowdbg" where qemu-img says
 * "qemu-img"). Returns the exit code; errors other than QEMU's own refusals propagate.
 */
/** Magics of formats qemu-img would probe instead of raw (qcow2 and the other drivers it knows). */
const OTHER_MAGICS = ["QFI\xfb", "KDMV", "# Di", "conectix", "vhdxfile", "LUKS\xba\xbe", "QED\0", "<<< ", "cloop", "WithoutFreeSpace", "CD001"];

/** True when the file is a regular file or device whose first bytes match no format but raw. */
function probesAsRaw(image: string): boolean {
  let fd = -1;
  try {
    fd = fs.openSync(image, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile() && !st.isBlockDevice()) return false;
    const head = Buffer.alloc(16);
    const n = fs.readSync(fd, head, 0, 16, 0);
    const text = head.subarray(0, n).toString("latin1");
    return !OTHER_MAGICS.some((m) => text.startsWith(m));
  } catch {
    // Missing or unreadable: the open below reports it with the file's name.
    return false;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

export function executeCheck(arg: string | undefined, opts: CheckCliOptions, out: CheckWriters): number {
  if (opts.output !== "human" && opts.output !== "json") throw new ExitError("--output must be used with human or json as argument.", 1);
  if (opts.repair !== undefined && opts.repair !== "leaks" && opts.repair !== "all") {
    out.stderr(`qcowdbg: Unknown option value for -r (expecting 'leaks' or 'all'): ${opts.repair}\nTry 'qcowdbg --help' for more information\n`);
    return 1;
  }
  if (arg === undefined) {
    out.stderr("qcowdbg: Expecting one image file name\nTry 'qcowdbg --help' for more information\n");
    return 1;
  }
  const spec = imageSpec(arg, opts);
  const image = spec.filename;
  if (spec.format !== undefined && spec.format !== "qcow2" && spec.format !== "raw") throw new ExitError(`only qcow2 images can be checked, not '${spec.format}'`, 1);
  // qemu-img probes anything it does not recognise as raw, and raw has no check: exit 63.
  if (spec.format === "raw" || (spec.format === undefined && probesAsRaw(image))) {
    out.stderr("qcowdbg: This image format does not support checks\n");
    return 63;
  }
  // QEMU writes its messages to stderr as they come; batched so a broken image does not cost a write per line.
  let pending = "";
  const flush = () => {
    if (pending) out.stderr(pending);
    pending = "";
  };
  const sink: CheckMessageSink = (line, kind) => {
    pending += kind === "report" ? `qcowdbg: ${line}\n` : kind === "partial" ? line : `${line}\n`;
    if (pending.length > 65536) flush();
  };
  const fix = opts.repair as "leaks" | "all" | undefined;
  // qemu-img check -r opens the image read-write: the write lock is held from the first check to the double check,
  // and the checks' own opens share every permission with it (OFD locks would conflict within this process too).
  let holder: FileStorage | undefined;
  // check -r repairs into an overlay first: the file is written only when the whole repair was decided.
  let overlay: RepairOverlay | undefined;
  const check = (fixing: typeof fix): CheckReport => {
    const storage = holder ? withForceShare(() => new FileStorage(image)) : new FileStorage(image);
    overlay = fixing ? new RepairOverlay(storage) : undefined;
    try {
      return checkImage(overlay ?? storage, image, { onMessage: sink, withoutKey: opts.withoutKey || spec.password !== undefined, fix: fixing });
    } finally {
      storage.close();
    }
  };
  let rep: CheckReport;
  try {
    if (spec.password) requireImageKey(image, spec.password, spec.label);
    if (fix) holder = new FileStorage(image, true);
    rep = check(fix);
    // qemu-img check -r: repaired, it says so and checks the image again; the counts fixed carry over.
    const r0 = rep.result;
    // A check that failed after writing (QEMU's refused overlapping write marks the image corrupt) leaves what it
    // wrote, as QEMU does; a repair qcowdbg does not model leaves the file untouched.
    if (overlay?.changed && !rep.refused) overlay.commit(image);
    if (rep.failed === undefined && (r0.leaksFixed || r0.corruptionsFixed)) {
      flush();
      if (!opts.quiet && opts.output === "human")
        out.stdout(`The following inconsistencies were found and repaired:\n\n    ${r0.leaksFixed} leaked clusters\n    ${r0.corruptionsFixed} corruptions\n\nDouble checking the fixed image now...\n`);
      rep = check(undefined);
      rep.result.leaksFixed = r0.leaksFixed;
      rep.result.corruptionsFixed = r0.corruptionsFixed;
    }
    rep.filename = spec.label;
  } catch (e) {
    flush();
    if (e instanceof QemuOpenError) {
      out.stderr(`qcowdbg: ${e.message}\n`);
      return 1;
    }
    // A lock held by another process, in qemu-img's two lines.
    const held = e instanceof ImageLockError ? /: (Failed to get [^.]*)\. (Is another process using the image \[.*\]\?)/.exec(e.message) : null;
    if (held) {
      out.stderr(`qcowdbg: Could not open '${image}': ${held[1]}\n${held[2]}\n`);
      return 1;
    }
    const errno = e as NodeJS.ErrnoException;
    if (errno.code === "ENOENT" || errno.code === "EACCES" || errno.code === "EISDIR") {
      const why = errno.code === "ENOENT" ? "No such file or directory" : errno.code === "EACCES" ? "Permission denied" : "Is a directory";
      out.stderr(`qcowdbg: Could not open '${image}': Could not open '${image}': ${why}\n`);
      return 1;
    }
    throw e;
  } finally {
    holder?.close();
  }
  flush();
  if (rep.failed !== undefined) {
    out.stderr(`qcowdbg: Check failed: ${rep.failed}\n`);
    return 1;
  }
  if (!opts.quiet) out.stdout(opts.output === "json" ? jsonCheck(rep) : humanCheck(rep.result));
  const r = rep.result;
  if (r.checkErrors) {
    out.stderr("qcowdbg: Check failed\n");
    return 1;
  }
  return r.corruptions ? 2 : r.leaks ? 3 : 0;
}

export function register(program: Command): void {
  const cmd = program
    .command("check")
    .description("check the image's refcounts and metadata like qemu-img check (exit 0 clean, 1 incomplete, 2 corrupt, 3 leaks)")
    // Optional for commander so that a bad -r value is named first, as qemu-img's getopt does (executeCheck).
    .argument("[image]", "qcow2 image file, or with --image-opts an option string");
  imageSpecOptions(cmd)
    .option("--output <format>", "human or json", "human")
    .option("-r, --repair <what>", "leaks or all: repair the image in place as qemu-img check -r does (leaks frees leaked clusters; all also raises refcounts that are too low, rebuilds the refcount structure when a cluster in use has refcount 0, and fixes OFLAG_COPIED)")
    .option("-q, --quiet", "print nothing on stdout; only the exit code tells")
    .option("--without-key", "check an encrypted image without its key (qemu-img refuses without encrypt.key-secret)")
    .action(
      guarded((image: string | undefined, opts: CheckCliOptions) => {
        process.exitCode = executeCheck(image, opts, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
      }),
    );
}
