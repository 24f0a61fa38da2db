// Outputs land atomically: bytes go to a temporary file next to the target, are fsync'd, renamed over the target
// and the directory is fsync'd, so a crash or kill leaves either the old file or the complete new one under the
// final name, never a truncated one. Targets that are not regular files (a FIFO, /dev/stdout) are written directly.
import * as fs from "node:fs";
import * as path from "node:path";

/** Temporary files not yet committed, so a face can remove them when the process exits early. */
const pending = new Set<string>();

export function pendingOutputs(): string[] {
  return [...pending];
}

export class AtomicOutput {
  /** The file to write now: the temporary file, or the target itself when it cannot be replaced atomically. */
  readonly path: string;
  readonly atomic: boolean;
  private fdCache = -1;
  private realTarget = "";

  constructor(readonly target: string) {
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(target);
    } catch {
      st = null;
    }
    if (st && st.isDirectory()) throw new Error(`${target}: Is a directory`);
    this.atomic = !st || st.isFile();
    if (!this.atomic) {
      this.path = target;
      return;
    }
    const dir = path.dirname(path.resolve(target));
    // Writing through a symlink replaces the file it points to, as opening it would.
    const real = st ? fs.realpathSync(target) : path.resolve(target);
    const base = path.basename(real);
    this.path = path.join(path.dirname(real) || dir, `.${base}.qcowdbg-${process.pid}-${Date.now().toString(36)}.tmp`);
    const mode = st ? st.mode & 0o7777 : 0o644;
    const fd = fs.openSync(this.path, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, mode);
    pending.add(this.path);
    // The umask applied at creation; an existing target's exact mode is kept.
    if (st) fs.fchmodSync(fd, mode);
    this.fdCache = fd;
    this.realTarget = real;
  }

  /** A descriptor open for writing (the temporary file, or the target opened with truncation). */
  fd(): number {
    if (this.fdCache < 0) this.fdCache = fs.openSync(this.path, "w");
    return this.fdCache;
  }

  /** Releases the descriptor without committing (the caller reopens `path` itself, e.g. as a FileStorage). */
  release(): void {
    if (this.fdCache >= 0) fs.closeSync(this.fdCache);
    this.fdCache = -1;
  }

  /** fsync, rename into place, fsync the directory. */
  commit(): void {
    if (!this.atomic) {
      this.release();
      return;
    }
    const fd = this.fdCache >= 0 ? this.fdCache : fs.openSync(this.path, "r+");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
      this.fdCache = -1;
    }
    fs.renameSync(this.path, this.realTarget);
    pending.delete(this.path);
    syncDir(path.dirname(this.realTarget));
  }

  /** Drops the temporary file; the target is left as it was. */
  abort(): void {
    this.release();
    if (!this.atomic) return;
    fs.rmSync(this.path, { force: true });
    pending.delete(this.path);
  }
}

function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** Writes `data` to `target` atomically. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  const out = new AtomicOutput(target);
  try {
    fs.writeFileSync(out.fd(), data);
    out.commit();
  } catch (e) {
    out.abort();
    throw e;
  }
}
