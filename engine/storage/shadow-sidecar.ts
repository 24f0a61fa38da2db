// The temp file a shadow layer spills pages to once its memory budget is spent. Bounded (the cap is the
// process-wide temp limit, 256 MiB unless the command line sets another) and unlinked right after it is opened,
// so no exit path leaves it behind: not q, not SIGTERM, not a crash, not SIGKILL. Files named by older versions
// (`qcowdbg-shadow-PID-*.bin`, kept on disk) are removed at the first spill when their process is gone.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PAGE } from "./run-page.js";

/** Bytes of temp files one shadow layer may write (see setShadowTempLimit). */
let tempLimit = 256 * 1024 * 1024;
let swept = false;

/** Sets the temp-file cap of shadow layers created from now on (the CLI's --temp-limit). */
export function setShadowTempLimit(bytes: number): void {
  if (!(bytes >= 0) || !Number.isSafeInteger(bytes)) throw new RangeError(`temp limit must be a byte count, not ${bytes}`);
  tempLimit = bytes;
}

/** Removes spill files of processes that no longer run (left by versions that kept the file on disk). */
export function sweepStaleSidecars(dir = os.tmpdir()): number {
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /^qcowdbg-shadow-(\d+)-\d+\.bin$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
      removed++;
    } catch {
      // Someone else's file, or already gone: not ours to insist on.
    }
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class ShadowSidecar {
  private fd = -1;
  private next = 0;
  private freed: number[] = [];
  /** Where the file was opened (it is unlinked at once; named in errors). */
  dir = "";

  constructor(readonly limitBytes: number = tempLimit) {}

  /** Bytes the file takes (its highest page in use so far). */
  bytes(): number {
    return this.next * PAGE;
  }

  get open(): boolean {
    return this.fd >= 0;
  }

  /** Throws unless one more page fits under the cap. */
  reserve(): void {
    if (this.freed.length || (this.next + 1) * PAGE <= this.limitBytes) return;
    const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
    throw new Error(
      `shadow layer: more than ${mib(this.limitBytes)} of temp files in ${this.dir || os.tmpdir()} would be needed for the writes so far ` +
        "(raise it with --temp-limit or QCOWDBG_TEMP_LIMIT, or replay metadata-only)",
    );
  }

  /** A free page of the file; throws when the file would pass its cap. */
  alloc(): number {
    const k = this.freed.pop();
    if (k !== undefined) return k;
    this.reserve();
    if (this.fd < 0) this.openFile();
    return this.next++;
  }

  free(k: number): void {
    this.freed.push(k);
  }

  read(out: Uint8Array, k: number, po: number): void {
    let r = 0;
    while (r < out.length) {
      const n = fs.readSync(this.fd, out, r, out.length - r, k * PAGE + po + r);
      if (n === 0) {
        out.fill(0, r);
        return;
      }
      r += n;
    }
  }

  write(data: Uint8Array, k: number, po: number, n: number): void {
    let w = 0;
    while (w < n) w += fs.writeSync(this.fd, data, w, n - w, k * PAGE + po + w);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.next = 0;
    this.freed = [];
  }

  private openFile(): void {
    if (!swept) {
      swept = true;
      sweepStaleSidecars();
    }
    this.dir = os.tmpdir();
    const p = path.join(this.dir, `qcowdbg-shadow-${process.pid}-${Date.now()}.bin`);
    this.fd = fs.openSync(p, "wx+", 0o600);
    // Unlinked while open: the kernel frees it when the last descriptor closes, however the process ends.
    fs.rmSync(p, { force: true });
  }
}
