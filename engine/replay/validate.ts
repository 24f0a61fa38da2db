// `replay --validate`: runs the same trace for real through the installed qemu-io, on a scratch copy of the image
// in the image's own folder (the storage being modelled), with the same cache mode and cache options, and
// returns qemu-io's own time for the requests: the sum of its per-command timings, so process start-up and image
// open are excluded. Flushes print no timing in qemu-io; they are counted apart (their cost is in the next
// timed command under writethrough, and untimed otherwise).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { EngineConfig } from "../image/engine-config.js";
import type { GuestRequest } from "../workload/guest-request.js";
import { runQemuIo } from "./qemu-io-run.js";

export interface Measurement {
  /** qemu-io's own time for the timed requests, seconds. */
  seconds: number;
  timedRequests: number;
  /** Requests qemu-io runs but does not time (flush). */
  untimedFlushes: number;
  /** Requests left out: past the image's virtual size (the replay counts them as errors). */
  skipped: number;
  /** Whole qemu-io process, start-up included (for reference; the fastest run). */
  wallSeconds: number;
  /** qemu-io runs; each request counts its fastest. */
  runs: number;
}

/** One qemu-io command per request (null: not sent). */
export function qemuIoCommand(r: GuestRequest, virtualSize: number): string | null {
  if (r.op === "flush") return "flush";
  if (r.length <= 0 || r.offset < 0 || r.offset + r.length > virtualSize) return null;
  switch (r.op) {
    case "read":
      return `read ${r.offset} ${r.length}`;
    case "write":
      return `write${r.compressed ? " -c" : ""}${r.fua ? " -f" : ""}${r.pattern !== undefined ? ` -P ${r.pattern}` : ""} ${r.offset} ${r.length}`;
    case "write-zeroes":
      return `write -z${r.mayUnmap ? " -u" : ""}${r.fua ? " -f" : ""} ${r.offset} ${r.length}`;
    case "discard":
      return `discard ${r.offset} ${r.length}`;
  }
}

/** The engine options qemu-io understands as qcow2 driver options (--image-opts). */
export function qcow2DriverOptions(c: EngineConfig): string[] {
  const o: string[] = [];
  if (c.l2CacheSize !== undefined) o.push(`l2-cache-size=${c.l2CacheSize}`);
  if (c.l2CacheEntrySize !== undefined) o.push(`l2-cache-entry-size=${c.l2CacheEntrySize}`);
  if (c.refcountCacheSize !== undefined) o.push(`refcount-cache-size=${c.refcountCacheSize}`);
  if (c.cacheSize !== undefined) o.push(`cache-size=${c.cacheSize}`);
  if (c.lazyRefcounts !== undefined) o.push(`lazy-refcounts=${c.lazyRefcounts ? "on" : "off"}`);
  return o;
}

/** A sparse copy of `image` beside it (same storage), synced so that no dirty page skews the first requests. */
export function scratchCopy(image: string, tag: string, dir = path.dirname(path.resolve(image))): string {
  const out = path.join(dir, `.qcowdbg-validate-${process.pid}-${tag}.qcow2`);
  const r = spawnSync("cp", ["--sparse=always", image, out], { encoding: "utf8" });
  if (r.status !== 0) {
    fs.rmSync(out, { force: true });
    throw new Error(`validate: copying ${image} to ${out} failed: ${(r.stderr || String(r.error)).trim().split("\n")[0]}`);
  }
  const fd = fs.openSync(out, "r+");
  try {
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/**
 * One configuration's measurement, run by run: each run is qemu-io on a fresh scratch copy of `image` (removed
 * after). Each request counts its fastest time over the runs: on a shared host a request that lost the CPU or the
 * disk to another process in one run is timed by a run where it did not. Callers measuring several
 * configurations alternate their runs (A, B, A, B, ...) so that a busy spell weighs on all of them alike.
 */
export class QemuIoMeasurement {
  private readonly script: string[] = [];
  private readonly flushes: number;
  private readonly skipped: number;
  private best: number[] | null = null;
  private wall = Infinity;
  private runs = 0;

  constructor(
    private readonly image: string,
    requests: Iterable<GuestRequest>,
    private readonly config: EngineConfig,
    virtualSize: number,
    private readonly tag: string,
    private readonly dir?: string,
  ) {
    let flushes = 0;
    let skipped = 0;
    for (const r of requests) {
      const cmd = qemuIoCommand(r, virtualSize);
      if (cmd === null) skipped++;
      else {
        this.script.push(cmd);
        if (cmd === "flush") flushes++;
      }
    }
    this.flushes = flushes;
    this.skipped = skipped;
  }

  runOnce(): void {
    const timed = this.script.length - this.flushes;
    const copy = scratchCopy(this.image, this.tag, this.dir);
    try {
      const opts = ["driver=qcow2", `file.filename=${copy.replace(/,/g, ",,")}`, ...qcow2DriverOptions(this.config)].join(",");
      const r = runQemuIo(opts, this.script, { cache: this.config.cacheMode, imageOpts: true, discard: this.config.discardUnmap ? "unmap" : "ignore" });
      if (r.seconds.length !== timed) throw new Error(`validate: qemu-io timed ${r.seconds.length} of ${timed} requests`);
      this.best = this.best ? this.best.map((x, i) => Math.min(x, r.seconds[i]!)) : r.seconds;
      this.wall = Math.min(this.wall, r.wallSeconds);
      this.runs++;
    } finally {
      fs.rmSync(copy, { force: true });
    }
  }

  result(): Measurement {
    return { seconds: (this.best ?? []).reduce((a, b) => a + b, 0), timedRequests: this.script.length - this.flushes, untimedFlushes: this.flushes, skipped: this.skipped, wallSeconds: this.wall, runs: this.runs };
  }
}

