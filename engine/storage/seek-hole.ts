// lseek(SEEK_DATA/SEEK_HOLE) through the optional native addon (native/posix.cc, built into dist/native).
// findAllocation() answers like QEMU's file-posix find_allocation(); without the addon it answers "unknown",
// and callers treat the range as data, which is what QEMU does when lseek cannot tell.
import { posix } from "./native.js";

const ENXIO = 6;

const addon = posix;

/** Whether holes can be told from data on this build. */
export function seekHoleAvailable(): boolean {
  return addon !== null;
}

/**
 * Where `start` lies: in data up to `end` (the next hole), in a hole up to `end` (the next data), in a trailing
 * hole (no data at or after start: ENXIO), or unknown (no addon, or lseek failed).
 */
export type Allocation = { kind: "data"; end: number } | { kind: "hole"; end: number } | { kind: "trailing" } | { kind: "unknown" };

export function findAllocation(fd: number, start: number): Allocation {
  if (!addon) return { kind: "unknown" };
  const data = addon.seekData(fd, start);
  if (data < 0) return data === -ENXIO ? { kind: "trailing" } : { kind: "unknown" };
  if (data < start) return { kind: "unknown" };
  if (data > start) return { kind: "hole", end: data };
  const hole = addon.seekHole(fd, start);
  if (hole < 0) return hole === -ENXIO ? { kind: "trailing" } : { kind: "unknown" };
  // hole == start: a hole was dug between the two calls (QEMU: -EBUSY, treated as "no information").
  if (hole <= start) return { kind: "unknown" };
  return { kind: "data", end: hole };
}
