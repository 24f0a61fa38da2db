// Runs a qemu-io script on a file and returns qemu-io's own timing of each command: the "N ops; ... (X/sec and
// Y ops/sec)" line it prints after each read/write/discard, so the start-up (process, image open) is excluded.
// Used by `qcowdbg calibrate` (raw scratch files) and `replay --validate` (a scratch copy of the image).
import { spawnSync } from "node:child_process";

export interface QemuIoRun {
  /** Seconds per timed command, in script order (flush and other untimed commands print none). */
  seconds: number[];
  /** Wall time of the whole process (start-up included), seconds. */
  wallSeconds: number;
}

export interface QemuIoOptions {
  /** -f: raw or qcow2 (ignored with imageOpts). */
  format?: string;
  /** -t: none, writeback, writethrough, directsync, unsafe. */
  cache: string;
  /** --image-opts: the file is a driver option string (driver=qcow2,file.filename=...,l2-cache-size=...). */
  imageOpts?: boolean;
  /** -d: discard mode (unmap to let discard punch holes). */
  discard?: "unmap" | "ignore";
  /** Working directory (scripts that `open` other images name them relative to it: qemu-io splits on spaces). */
  cwd?: string;
}

/** True when `qemu-io` runs. */
export function qemuIoAvailable(): boolean {
  const r = spawnSync("qemu-io", ["--version"], { encoding: "utf8" });
  return r.status === 0;
}

const STATS = /ops; [^(]*\(.* and ([0-9.]+|inf|nan) ops\/sec\)/;

/** Parses qemu-io's output: one time per stats line; a failed command is an error naming it. */
export function parseQemuIoTimings(out: string): number[] {
  const seconds: number[] = [];
  for (const line of out.split("\n")) {
    if (/ failed: /.test(line)) throw new Error(`qemu-io: ${line.replace(/^(qemu-io> )+/, "").trim()}`);
    const m = STATS.exec(line);
    if (!m) continue;
    const rate = Number(m[1]);
    // ops/sec is printed with 4 decimals: 1 / rate is the command's time (infinite rate: below the clock).
    seconds.push(Number.isFinite(rate) && rate > 0 ? 1 / rate : 0);
  }
  return seconds;
}

export function runQemuIo(target: string, script: string[], opts: QemuIoOptions): QemuIoRun {
  const args = ["-t", opts.cache];
  if (opts.discard) args.push("-d", opts.discard);
  if (opts.imageOpts) args.push("--image-opts");
  else args.push("-f", opts.format ?? "raw");
  args.push(target);
  const t0 = performance.now();
  const r = spawnSync("qemu-io", args, { input: script.join("\n") + "\nquit\n", encoding: "utf8", maxBuffer: 1 << 30, cwd: opts.cwd });
  const wallSeconds = (performance.now() - t0) / 1000;
  if (r.error) throw new Error(`qemu-io: ${r.error.message}`);
  const err = (r.stderr ?? "").trim();
  if (r.status !== 0 || /^qemu-io: /m.test(err)) throw new Error(`qemu-io ${args.join(" ")} failed: ${(err || r.stdout).split("\n")[0]}`);
  return { seconds: parseQemuIoTimings(r.stdout), wallSeconds };
}
