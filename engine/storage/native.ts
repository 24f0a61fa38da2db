// The optional native addon (native/posix.cc, built into dist/native/posix.node): the POSIX calls Node lacks.
// Loaded once; null where it was not built (no compiler) or cannot be (Windows).
import { createRequire } from "node:module";

export interface PosixAddon {
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
  ofdLock(fd: number, start: number, len: number, exclusive: boolean): number;
  ofdUnlock(fd: number, start: number, len: number): number;
  ofdTest(fd: number, start: number, len: number, exclusive: boolean): number;
  /** posix_fadvise(DONTNEED); absent from an addon built before it was added. */
  dropCache?(fd: number, offset: number, len: number): number;
  /** posix_fadvise(NORMAL) when on, (RANDOM: no readahead) when off; absent from an addon built before it was added. */
  readahead?(fd: number, on: boolean): number;
  /** `bytes` (a multiple of 2 MiB) of zeroes on a 2 MiB boundary, advised MADV_HUGEPAGE; absent from an addon built before it was added. */
  hugeBuffer?(bytes: number): ArrayBuffer | undefined;
}

function load(): PosixAddon | null {
  if (process.platform === "win32") return null;
  const require = createRequire(import.meta.url);
  // From dist/engine/storage the addon is ../../native; from the sources (tests) it is ../../dist/native.
  for (const rel of ["../../native/posix.node", "../../dist/native/posix.node"]) {
    try {
      const m = require(rel) as Partial<PosixAddon>;
      if (typeof m.seekData === "function" && typeof m.ofdLock === "function") return m as PosixAddon;
    } catch {
      // not built here; try the next place
    }
  }
  return null;
}

export const posix: PosixAddon | null = load();
