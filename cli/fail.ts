// One place that turns any error into the one-line message users see (stack only with --debug) and an exit code.
import { escapeControl } from "../engine/format/terminal-text.js";

export class ExitError extends Error {
  constructor(
    message: string,
    readonly code: number,
    /** Fixed lines of ours printed after the message, unescaped (QEMU's error hints, e.g. parse_option_size's). */
    readonly hint?: string,
  ) {
    super(message);
    this.name = "ExitError";
  }
}

let debug = process.argv.includes("--debug");

export function setDebug(on: boolean): void {
  debug = on;
}

/** Whether --debug was given (stack traces, and the figures some commands print for it). */
export function isDebug(): boolean {
  return debug;
}

export function describe(e: unknown): string {
  if (e instanceof Error) {
    const errno = e as NodeJS.ErrnoException;
    if (errno.code && errno.path && errno.syscall) {
      const why: Record<string, string> = {
        ENOENT: "No such file or directory",
        EACCES: "Permission denied",
        EISDIR: "Is a directory",
        EFBIG: "File too large",
        EAGAIN: "Resource temporarily unavailable",
        ENOSPC: "No space left on device",
        EROFS: "Read-only file system",
        EIO: "Input/output error",
      };
      return `${errno.path}: ${why[errno.code] ?? errno.code} (${errno.syscall})`;
    }
    if (e instanceof RangeError && /Array buffer allocation failed|Invalid typed array length/.test(e.message))
      return `out of memory: ${e.message}`;
    return e.message;
  }
  return String(e);
}

/** Prints the error and exits; used by every command action. */
export function fail(e: unknown, code = 1): never {
  if (e instanceof ExitError) code = e.code;
  // Messages quote names and bytes from files: escaped, so they cannot drive the terminal or forge a line.
  process.stderr.write(`qcowdbg: ${escapeControl(describe(e))}\n`);
  if (e instanceof ExitError && e.hint) process.stderr.write(e.hint + "\n");
  if (debug && e instanceof Error && e.stack) process.stderr.write(e.stack + "\n");
  process.exit(code);
}

/** Wraps an async or sync action so errors become one line and a non-zero exit. */
export function guarded<A extends unknown[]>(fn: (...args: A) => unknown): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      fail(e);
    }
  };
}
