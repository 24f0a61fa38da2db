// fallocate(2) through the optional native addon (native/fallocate.cc, built into dist/native): QEMU's file-posix
// layer punches holes for discards and uses FALLOC_FL_ZERO_RANGE for zero writes, so the host file's allocation
// (and what SEEK_DATA later reports) depends on it. Without the addon, or where the file system refuses, the
// range is written with zeroes instead, as QEMU's own fallback does.
import { createRequire } from "node:module";

interface FallocateAddon {
  fallocate(fd: number, mode: number, offset: number, length: number): number;
}

const PUNCH_HOLE = 1;
const ZERO_RANGE = 2;

function load(): FallocateAddon | null {
  if (process.platform !== "linux") return null;
  const require = createRequire(import.meta.url);
  // From dist/engine/storage the addon is ../../native; from the sources (tests) it is ../../dist/native.
  for (const rel of ["../../native/fallocate.node", "../../dist/native/fallocate.node"]) {
    try {
      const m = require(rel) as Partial<FallocateAddon>;
      if (typeof m.fallocate === "function") return m as FallocateAddon;
    } catch {
      // not built here; try the next place
    }
  }
  return null;
}

// Loaded on the first zero write or discard: read-only commands (info, map, check) never dlopen it.
let addon: FallocateAddon | null | undefined;
const loaded = (): FallocateAddon | null => (addon === undefined ? (addon = load()) : addon);

/** FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE on `fd`; false when it could not be done (the caller falls back). */
export function punchHoleFd(fd: number, offset: number, length: number): boolean {
  const a = loaded();
  return a !== null && length > 0 && a.fallocate(fd, PUNCH_HOLE, offset, length) === 0;
}

/** FALLOC_FL_ZERO_RANGE on `fd` (the file grows to cover the range); false when it could not be done. */
export function zeroRangeFd(fd: number, offset: number, length: number): boolean {
  const a = loaded();
  return a !== null && length > 0 && a.fallocate(fd, ZERO_RANGE, offset, length) === 0;
}
