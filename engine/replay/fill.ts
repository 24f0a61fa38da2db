// `replay --fill`: a copy of the image beside it (same storage) in which qemu-io has written every range the
// trace reads, so a read-only trace replayed on a fresh image walks the metadata path a real, used disk would take
// (reads of unallocated clusters cost no I/O at all). The user's image is only read; the copy is removed after.
import * as fs from "node:fs";
import type { GuestRequest } from "../workload/guest-request.js";
import { runQemuIo } from "./qemu-io-run.js";
import { scratchCopy } from "./validate.js";

/** Largest single qemu-io write (it allocates a buffer of the request's size). */
const CHUNK = 16 * 1024 * 1024;

/** The read ranges of `requests` inside the virtual size, sorted and merged. */
export function readRanges(requests: Iterable<GuestRequest>, virtualSize: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (const r of requests) {
    if (r.op !== "read" || r.length <= 0 || r.offset >= virtualSize) continue;
    ranges.push([r.offset, Math.min(virtualSize, r.offset + r.length)]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [s, e] of ranges) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** The qemu-io writes that fill the ranges (one pattern byte; chunks of at most 16 MiB). */
export function fillScript(ranges: [number, number][]): string[] {
  const lines: string[] = [];
  for (const [s, e] of ranges) for (let o = s; o < e; o += CHUNK) lines.push(`write -q -P 0x5a ${o} ${Math.min(CHUNK, e - o)}`);
  return lines;
}

export interface FilledCopy {
  path: string;
  ranges: number;
  bytes: number;
  remove(): void;
}

/** Copies `image` beside itself and writes the trace's read ranges into the copy with qemu-io. */
export function filledCopy(image: string, format: string, requests: Iterable<GuestRequest>, virtualSize: number): FilledCopy {
  const ranges = readRanges(requests, virtualSize);
  const copy = scratchCopy(image, "fill");
  try {
    if (ranges.length) runQemuIo(copy, fillScript(ranges), { cache: "writeback", format });
  } catch (e) {
    fs.rmSync(copy, { force: true });
    throw e;
  }
  return { path: copy, ranges: ranges.length, bytes: ranges.reduce((a, [s, e]) => a + e - s, 0), remove: () => fs.rmSync(copy, { force: true }) };
}
