// The workload API: open any supported trace and stream it as GuestRequests, filtered and mapped onto an image.
// Everything streams (constant memory, synchronous generators over fs.readSync), so multi-GB traces replay.
import * as fs from "node:fs";
import * as path from "node:path";
import type { BlockSelection } from "./block-event.js";
import { parseBlkparseText } from "./blkparse-text.js";
import { blktraceInputs, isBlktraceStem, parseBlktrace } from "./blktrace-binary.js";
import { parseAlibabaCsv } from "./alibaba-csv.js";
import { detectFormat } from "./detect-format.js";
import { parseFioIolog } from "./fio-iolog.js";
import type { FormatName } from "./format-name.js";
import type { GuestOp, GuestRequest } from "./guest-request.js";
import { readHead } from "./line-reader.js";
import { parseMsrCsv } from "./msr-csv.js";
import { parseQemuIoScript } from "./qemu-io-script.js";
import { parseQemuTraceLog } from "./qemu-trace-log.js";
import { applyFit, applyPartitionOffset, passes, type Fit } from "./request-mapping.js";
import { parseSystorCsv } from "./systor-csv.js";
import { parseJsonlRequests } from "./jsonl-requests.js";
import { parseTencentCsv } from "./tencent-csv.js";
import { ParseContext, TraceError, emptyStats, type WorkloadStats } from "./trace-error.js";

export type { FormatName } from "./format-name.js";
export { FORMAT_NAMES, isFormatName } from "./format-name.js";
export type { GuestOp, GuestRequest } from "./guest-request.js";
export { GUEST_OPS, isGuestOp } from "./guest-request.js";
export type { Fit, FitMode } from "./request-mapping.js";
export { TraceError, type WorkloadStats } from "./trace-error.js";
export { detectFormat } from "./detect-format.js";
export { sizeOrNull } from "../units/sizes.js";

export interface WorkloadOptions {
  /** Skip detection. */
  format?: FormatName;
  /** Block traces: which event stands for a request (default Q: every bio as the guest queued it). */
  events?: "Q" | "D" | "C";
  /** Keep only requests of this device ("259,0", a CSV volume id, a QEMU vdev/blk/bs pointer). */
  device?: string;
  /** Time window in seconds from the trace start: start inclusive, end exclusive. Times are not shifted. */
  start?: number;
  end?: number;
  ops?: GuestOp[];
  /** Skip malformed lines (counted in stats.skipped) instead of failing on the first. */
  lenient?: boolean;
  /** Block traces: report requests at their device/sector before `A` remaps (e.g. partition-relative). */
  undoRemap?: boolean;
  /** Bytes subtracted from every offset (the partition start); requests before it are dropped. */
  partitionOffset?: number;
  /** What to do with requests past the image's virtual size (see request-mapping.ts). */
  fit?: Fit;
  onNotice?: (msg: string) => void;
}

export interface Workload {
  format: FormatName;
  /** A fresh pass over the trace each call; stats are reset at the start of each pass. */
  requests(): Generator<GuestRequest>;
  stats: WorkloadStats;
  /** Ends any pass still open (closing its files). */
  close(): void;
}

export function openWorkload(file: string, opts: WorkloadOptions = {}): Workload {
  const format = opts.format ?? detect(file);
  const notice = opts.onNotice ?? (() => {});
  if (opts.fit && !(opts.fit.virtualSize > 0)) throw new TraceError(file, 0, "fit: the virtual size must be positive");
  const sel: BlockSelection = { events: opts.events ?? "Q", undoRemap: opts.undoRemap ?? false };
  const ops = opts.ops && opts.ops.length > 0 ? new Set(opts.ops) : null;
  const partitionOffset = opts.partitionOffset ?? 0;
  const label = path.basename(file);
  const open = new Set<Generator<GuestRequest>>();

  const raw = (stats: WorkloadStats, say: (m: string) => void): Generator<GuestRequest> => {
    const ctx = new ParseContext(file, label, opts.lenient ?? false, stats, say);
    switch (format) {
      case "blkparse": return parseBlkparseText(ctx, sel);
      case "blktrace": return parseBlktrace(ctx, sel, blktraceInputs(file));
      case "fio-iolog": return parseFioIolog(ctx);
      case "qemu-io": return parseQemuIoScript(ctx);
      case "qemu-trace": return parseQemuTraceLog(ctx, { device: opts.device });
      case "msr": return parseMsrCsv(ctx);
      case "alibaba": return parseAlibabaCsv(ctx);
      case "tencent": return parseTencentCsv(ctx);
      case "systor": return parseSystorCsv(ctx);
      case "jsonl": return parseJsonlRequests(ctx);
    }
  };

  /** One pass: parse, filter, move by the partition offset, fit. `fit` null: the first pass of "scale". */
  function* pass(stats: WorkloadStats, say: (m: string) => void, fit: Fit | null, deviceSize: number): Generator<GuestRequest> {
    const src = raw(stats, say);
    // Nothing to filter, move or fit (the usual replay): each request only counted, with no test of its own.
    if (opts.device === undefined && ops === null && opts.start === undefined && opts.end === undefined && partitionOffset === 0 && fit === null) {
      for (const req of src) {
        stats.requests++;
        yield req;
      }
      return;
    }
    let beforePartition = 0, pastEnd = 0, matched = 0;
    const seen = new Set<string>();
    for (const req of src) {
      if (opts.device !== undefined) {
        if (req.device === opts.device) matched++;
        else if (seen.size < 8 && req.device !== undefined) seen.add(req.device);
      }
      if (!passes(req, opts, ops)) {
        stats.filtered++;
        continue;
      }
      if (!applyPartitionOffset(req, partitionOffset)) {
        if (beforePartition++ === 0) say(`${file}: requests before the partition offset ${partitionOffset} are dropped (first: ${req.source})`);
        stats.filtered++;
        continue;
      }
      if (fit && !applyFit(req, fit, deviceSize)) {
        if (pastEnd++ === 0) say(`${file}: requests past the virtual size ${fit.virtualSize} are dropped (first: ${req.source})`);
        stats.filtered++;
        continue;
      }
      stats.requests++;
      yield req;
    }
    if (opts.device !== undefined && matched === 0 && seen.size > 0) {
      const hint = format === "blkparse" || format === "blktrace" ? " (partitions appear only with undoRemap, --undo-remap)" : "";
      say(`${file}: no request for device ${opts.device}; devices seen: ${[...seen].join(", ")}${hint}`);
    }
  }

  function* requests(self: () => Generator<GuestRequest>): Generator<GuestRequest> {
    try {
      const stats = workload.stats;
      Object.assign(stats, emptyStats());
      const fit = opts.fit ?? null;
      let deviceSize = fit?.deviceSize ?? 0;
      if (fit?.mode === "scale" && !deviceSize) {
        for (const req of pass(emptyStats(), () => {}, null, 0)) deviceSize = Math.max(deviceSize, req.offset + req.length);
        notice(`${file}: scale: device size taken from the trace's largest end offset, ${deviceSize} bytes`);
      }
      yield* pass(stats, notice, fit, deviceSize);
    } finally {
      open.delete(self());
    }
  }

  const workload: Workload = {
    format,
    stats: emptyStats(),
    requests() {
      const gen: Generator<GuestRequest> = requests(() => gen);
      open.add(gen);
      return gen;
    },
    close() {
      for (const g of [...open]) g.return(undefined);
      open.clear();
    },
  };
  return workload;
}

function detect(file: string): FormatName {
  if (file !== "-" && isBlktraceStem(file)) return "blktrace";
  if (file !== "-" && fs.statSync(file).isDirectory()) throw new TraceError(file, 0, "is a directory, not a trace");
  const head = readHead(file);
  const f = detectFormat(file, head);
  if (f) return f;
  const firstLine = head.toString("utf8", 0, Math.min(head.length, 200)).split("\n")[0] ?? "";
  // Binary junk stays readable in a one-line message: anything outside printable ASCII becomes \xNN.
  const shown = firstLine.slice(0, 60).replace(/[^\x20-\x7e]/g, (c) => `\\x${(c.charCodeAt(0) & 0xff).toString(16).padStart(2, "0")}`);
  throw new TraceError(file, 1, `cannot tell the trace format from "${shown}"; give --format (blkparse, blktrace, fio-iolog, qemu-io, qemu-trace, msr, alibaba, tencent, systor)`);
}
