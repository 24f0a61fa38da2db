// Big buffers that a replay fills at random or writes once and fresh (the metadata caches' tables, the event log's
// chunks), on 2 MiB boundaries that the kernel may back with transparent huge pages (native/posix.cc hugeBuffer:
// madvise(MADV_HUGEPAGE)). With 4 KiB pages, page faults were a tenth of the engine's time on a 1,000,000-write
// replay, and each random L2 lookup in a 12.5 MiB cache a TLB miss. Pages still come zeroed on first touch. Without
// the addon, or on a kernel without huge pages, the buffers are plain ones (the same zeroes, smaller pages).
import { posix } from "./native.js";

/** The huge page size of x86-64 and of arm64 with 4 KiB base pages. */
export const HUGE_PAGE = 2 ** 21;

/**
 * `bytes` zeroes (a positive multiple of HUGE_PAGE) on a HUGE_PAGE boundary, or undefined when they cannot be had
 * that way (no addon, an addon built before hugeBuffer, a failed mapping): the caller then allocates as usual.
 */
export function hugeRegion(bytes: number): ArrayBuffer | undefined {
  if (!(Number.isSafeInteger(bytes) && bytes > 0 && bytes % HUGE_PAGE === 0)) return undefined;
  return posix?.hugeBuffer?.(bytes) ?? undefined;
}
