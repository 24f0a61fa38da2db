// `qcowdbg workload TRACE`: prints a trace in any supported format as the normalised GuestRequest stream that
// replay consumes - JSON lines for tools, a table for people - with the same filters and offset mapping.
import * as fs from "node:fs";
import type { Command } from "commander";
import {
  FORMAT_NAMES, isGuestOp, openWorkload, sizeOrNull,
  type GuestOp, type GuestRequest, type WorkloadOptions,
} from "../../engine/workload/index.js";
import { ExitError, guarded } from "../fail.js";
import { checkFitMode, checkFormat } from "../trace-options.js";
import { escapeControl } from "../../engine/format/terminal-text.js";

interface Opts {
  output: string;
  format?: string;
  events?: string;
  device?: string;
  start?: string;
  end?: string;
  op?: string[];
  lenient?: boolean;
  undoRemap?: boolean;
  partitionOffset?: string;
  fitSize?: string;
  fitMode?: string;
  deviceSize?: string;
}


export function register(program: Command): void {
  program
    .command("workload")
    .description("print a trace (blkparse, blktrace, fio iolog, qemu-io, QEMU trace log, MSR/Alibaba/Tencent/Systor CSV) as the guest requests replay uses")
    .argument("<trace>", "the trace file (for per-CPU blktrace files: NAME or one NAME.blktrace.N)")
    .option("--output <format>", "text (a table) or jsonl (one JSON object per request)", "text")
    .option("--format <name>", `trace format, instead of detecting it: ${FORMAT_NAMES.join(", ")}`)
    .option("--events <Q|D|C>", "block traces: the event that stands for a request: Q queued (default), D issued, C completed")
    .option("--device <id>", 'keep one device: "259,0" (block traces), a volume/disk id (CSVs), a vdev/blk/bs pointer (QEMU logs)')
    .option("--start <seconds>", "drop requests before this time (seconds from the trace start)")
    .option("--end <seconds>", "drop requests at or after this time")
    .option("--op <ops>", "keep only these operations: read, write, flush, discard, write-zeroes (comma-separated or repeated)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--lenient", "skip malformed lines (and count them) instead of stopping at the first")
    .option("--undo-remap", "block traces: report requests at the device and sector they had before blktrace A remaps (e.g. partition-relative)")
    .option("--partition-offset <size>", "subtract this many bytes from every offset (requests before it are dropped); 512, 4k, 1M, 0x...")
    .option("--fit-size <size>", "the image's virtual size: requests past it are fitted (see --fit-mode)")
    .option("--fit-mode <mode>", "wrap (offset modulo the size, default), scale (all offsets scaled by size/device size) or drop")
    .option("--device-size <size>", "for --fit-mode scale: the traced device's size (default: the trace's largest end offset)")
    .action(guarded((trace: string, opts: Opts) => run(trace, opts)));
}

function run(trace: string, opts: Opts): void {
  if (opts.output !== "text" && opts.output !== "jsonl") throw new ExitError(`workload: --output must be text or jsonl, not '${opts.output}'`, 1);
  const wo = workloadOptions(opts);
  wo.onNotice = (m) => process.stderr.write(`qcowdbg: note: ${m}\n`);
  const w = openWorkload(trace, wo);
  const out = new StdoutLines();
  try {
    if (opts.output === "jsonl") {
      for (const r of w.requests()) out.line(JSON.stringify(jsonOf(r)));
    } else {
      out.line(TEXT_HEADER);
      let n = 0;
      // Device ids and sources come from the trace: escaped, one request per line whatever they hold.
      for (const r of w.requests()) out.line(escapeControl(textOf(++n, r)));
      const s = w.stats;
      out.line(`# ${s.requests} requests from ${escapeControl(trace)} (${w.format}): ${s.lines} ${w.format === "blktrace" ? "records" : "lines"} read, ${s.skipped} malformed skipped, ${s.filtered} filtered out`);
    }
    out.flush();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EPIPE") return; // the reader went away (| head): not an error
    throw e;
  } finally {
    w.close();
  }
  if (w.stats.skipped > 0 && opts.output === "jsonl") process.stderr.write(`qcowdbg: note: ${w.stats.skipped} malformed lines skipped\n`);
}

function workloadOptions(opts: Opts): WorkloadOptions {
  const wo: WorkloadOptions = { lenient: opts.lenient ?? false, undoRemap: opts.undoRemap ?? false };
  if (opts.format !== undefined) wo.format = checkFormat("workload: ", opts.format);
  if (opts.events !== undefined) {
    const e = opts.events.toUpperCase();
    if (e !== "Q" && e !== "D" && e !== "C") throw new ExitError(`workload: --events must be Q, D or C, not '${opts.events}'`, 1);
    wo.events = e;
  }
  if (opts.device !== undefined) wo.device = opts.device;
  if (opts.start !== undefined) wo.start = seconds("--start", opts.start);
  if (opts.end !== undefined) wo.end = seconds("--end", opts.end);
  if (opts.op !== undefined) {
    const ops: GuestOp[] = [];
    for (const o of opts.op.flatMap((s) => s.split(",")).filter((s) => s !== "")) {
      if (!isGuestOp(o)) throw new ExitError(`workload: unknown --op '${o}' (read, write, flush, discard, write-zeroes)`, 1);
      ops.push(o);
    }
    wo.ops = ops;
  }
  if (opts.partitionOffset !== undefined) wo.partitionOffset = size("--partition-offset", opts.partitionOffset);
  if (opts.fitSize === undefined) {
    if (opts.fitMode !== undefined || opts.deviceSize !== undefined) throw new ExitError("workload: --fit-mode and --device-size need --fit-size", 1);
  } else {
    const mode = checkFitMode("workload: ", "--fit-mode", opts.fitMode ?? "wrap");
    const virtualSize = size("--fit-size", opts.fitSize);
    if (virtualSize === 0) throw new ExitError("workload: --fit-size must be more than 0", 1);
    wo.fit = { virtualSize, mode };
    if (opts.deviceSize !== undefined) wo.fit.deviceSize = size("--device-size", opts.deviceSize);
  }
  return wo;
}

function seconds(flag: string, s: string): number {
  const v = Number(s);
  if (s.trim() === "" || !Number.isFinite(v) || v < 0) throw new ExitError(`workload: ${flag} must be a number of seconds, not '${s}'`, 1);
  return v;
}

function size(flag: string, s: string): number {
  const v = sizeOrNull(s);
  if (v === null) throw new ExitError(`workload: ${flag} must be a size (512, 4k, 1M, 0x1000), not '${s}'`, 1);
  return v;
}

/** Fixed key order, optional keys only when set: the JSONL others diff and grep. */
function jsonOf(r: GuestRequest): Record<string, unknown> {
  const o: Record<string, unknown> = { time: r.time, op: r.op, offset: r.offset, length: r.length, fua: r.fua, preflush: r.preflush, source: r.source };
  if (r.device !== undefined) o.device = r.device;
  if (r.pattern !== undefined) o.pattern = r.pattern;
  if (r.compressed) o.compressed = true;
  if (r.mayUnmap) o.mayUnmap = true;
  return o;
}

const TEXT_HEADER = `${"#".padStart(8)} ${"time (s)".padStart(14)}  ${"op".padEnd(12)} ${"offset".padStart(16)} ${"length".padStart(10)}  ${"flags".padEnd(16)} ${"device".padEnd(10)} source`;

function textOf(n: number, r: GuestRequest): string {
  const flags: string[] = [];
  if (r.preflush) flags.push("preflush");
  if (r.fua) flags.push("fua");
  if (r.compressed) flags.push("compressed");
  if (r.mayUnmap) flags.push("unmap");
  if (r.pattern !== undefined) flags.push(`P=0x${r.pattern.toString(16).padStart(2, "0")}`);
  return `${String(n).padStart(8)} ${r.time.toFixed(9).padStart(14)}  ${r.op.padEnd(12)} ${String(r.offset).padStart(16)} ${String(r.length).padStart(10)}  ${(flags.join(",") || "-").padEnd(16)} ${(r.device ?? "-").padEnd(10)} ${r.source}`;
}

/** Batches lines into large synchronous writes: a multi-GB trace prints without piling up in memory. */
class StdoutLines {
  private parts: string[] = [];
  private size = 0;

  line(s: string): void {
    this.parts.push(s);
    this.size += s.length + 1;
    if (this.size >= 1 << 16) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const buf = Buffer.from(this.parts.join("\n") + "\n");
    this.parts = [];
    this.size = 0;
    for (let off = 0; off < buf.length; ) {
      try {
        off += fs.writeSync(1, buf, off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      }
    }
  }
}


