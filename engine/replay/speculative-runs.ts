// The recommendations' verification runs started while the baseline still replays, on worker threads: once a
// prefix of the trace has run, the variants its statistics call for are guessed (recommend.ts firstPassVariants
// on a partial summary), and workers make their converted copies and replay them over the requests, posted in
// packed chunks as this thread parses them. Afterwards recommend() asks for the variants the whole baseline calls
// for: a variant guessed right takes its speculative summary (the same replay of the same requests under the same
// options, so the same figures), the others run as they would have without speculation. A wrong guess costs CPU
// on another core, never a different report. Synchronous, like what-if-threads.ts: Atomics.wait on a shared
// control array, then receiveMessageOnPort.
import * as fs from "node:fs";
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { GuestRequest } from "../workload/guest-request.js";
import type { FormatOptions, Variant } from "./compare.js";
import type { LockstepRun } from "./lockstep.js";
import { ReplayLoop } from "./replay-loop.js";
import { RequestColumns } from "./request-columns.js";
import type { ReplayRunOptions, ReplaySummary } from "./replay-stats.js";
import { WORKER, plainRun, tapeRequests } from "./what-if-threads.js";

/** Requests per chunk posted to the workers. */
const CHUNK = 8192;
/** Slots of a worker's control array: chunks posted, and set to 1 once its result is posted. */
export const SPEC_POSTED = 0;
export const SPEC_DONE = 1;

/** One guessed variant: its key (variantKey), the image to replay (converted first when `convert` is set), its options. */
export interface SpeculativeRun {
  key: string;
  imagePath: string;
  convert?: FormatOptions;
  opts: ReplayRunOptions;
}

/** What a speculating worker is given. */
export interface SpeculateInput {
  speculate: true;
  runs: SpeculativeRun[];
  /** Where converted copies go (the command's work folder). */
  dir: string;
  ctl: Int32Array;
  port: MessagePort;
}

/** What a copying worker is given: the copies of the main thread's runs (slot 0 of `ctl` is set once made). */
export interface CopyInput {
  copy: { imagePath: string; convert: FormatOptions }[];
  dir: string;
  ctl: Int32Array;
  port: MessagePort;
}

/** A copying worker's answer: per copy its path or why it could not be made, in CopyInput.copy's order. */
export type MainCopies = { mainCopies: ({ path: string } | { error: string })[] } | { failed: string };

/** A speculating worker's answer: per run a summary or why it failed, and the converted copies it made. */
export type SpeculateOutput = { results: ({ summary: ReplaySummary } | { error: string })[]; copies: [string, string][]; cpuSeconds: number } | { failed: string };

/** CPU seconds this thread has used (Linux: /proc/thread-self/stat), or NaN elsewhere: for --debug's figures. */
export function threadCpuSeconds(): number {
  try {
    const stat = fs.readFileSync("/proc/thread-self/stat", "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime (fields 14 and 15 of the whole line), in clock ticks of 1/100 s.
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** A variant's identity: two variants with the same key replay the same way. */
export function variantKey(v: Pick<Variant, "config" | "format">): string {
  return JSON.stringify([v.config, v.format]);
}

/** Which converted copy a variant needs: variants with the same format options share one. */
export function formatKey(f: FormatOptions): string {
  return JSON.stringify([f.clusterSize, f.extendedL2, f.preallocation]);
}

interface Started {
  worker: Worker;
  runs: SpeculativeRun[];
  ctl: Int32Array;
  port: MessagePort;
  posted: number;
  out?: SpeculateOutput;
}

/**
 * The runs this thread replays beside the baseline: with the baseline and the parsing here, an even split of the
 * work leaves this thread (k - 1) / 2 of k runs when they cost about what the baseline does. It takes the cheapest
 * looking first: a copy that only adds preallocation (every write then overwrites a cluster that is already there:
 * about half a fresh image's replay), else engine options alone. Only runs whose copy no other run shares, so that
 * no two threads make the same copy.
 */
export function localShare(runs: SpeculativeRun[]): number[] {
  const want = Math.floor((runs.length - 1) / 2);
  const shared = (r: SpeculativeRun) => r.convert !== undefined && runs.filter((o) => o.convert && formatKey(o.convert) === formatKey(r.convert!)).length > 1;
  const rank = (r: SpeculativeRun) => (!r.convert ? 1 : r.convert.preallocation && r.convert.clusterSize === undefined && r.convert.extendedL2 === undefined ? 0 : 2);
  return runs
    .map((r, i) => ({ i, rank: rank(r), shared: shared(r) }))
    .filter((x) => !x.shared)
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .slice(0, want)
    .map((x) => x.i);
}

/** Speculative runs under way on workers (and in this thread: see localShare). */
export class Speculation {
  private readonly started: Started[];
  private readonly summaries = new Map<string, ReplaySummary>();
  private readonly made = new Map<string, string>();
  readonly local: { key: string; loop: ReplayLoop }[] = [];
  /** This thread's runs whose copies a worker makes (opened by collect(), then caught up by the caller). */
  private awaited: SpeculativeRun[] = [];
  private copier?: { worker: Worker; ctl: Int32Array; port: MessagePort };
  private settled = false;

  /** How many runs were guessed. */
  readonly runs: number;

  /** Starts `runs` on up to `threads` workers, guessed after `after` requests; `mine` (indexes) stay here. */
  constructor(runs: SpeculativeRun[], threads: number, dir: string, readonly after: number, mine: number[] = []) {
    this.runs = runs.length;
    const theirs = runs.filter((_, i) => !mine.includes(i));
    const shares: SpeculativeRun[][] = Array.from({ length: Math.max(1, Math.min(threads, theirs.length)) }, () => []);
    theirs.forEach((r, i) => shares[i % shares.length]!.push(r));
    this.started = [];
    try {
      for (const share of shares) {
        if (share.length === 0) continue;
        const ctl = new Int32Array(new SharedArrayBuffer(8));
        const { port1, port2 } = new MessageChannel();
        const input: SpeculateInput = { speculate: true, runs: share.map((r) => ({ ...r, opts: plainRun({ imagePath: r.imagePath, opts: r.opts }).opts })), dir, ctl, port: port2 };
        const worker = new Worker(WORKER!, { workerData: input, transferList: [port2] });
        worker.unref();
        this.started.push({ worker, runs: share, ctl, port: port1, posted: 0 });
      }
      // This thread's runs that need a copy get it from a worker of their own that only runs qemu-img (~0.4 s for
      // a 100 GiB preallocated copy, mostly waiting on the disk), so that neither replaying thread waits it out.
      const toCopy = mine.filter((i) => runs[i]!.convert !== undefined);
      if (toCopy.length > 0) {
        const ctl = new Int32Array(new SharedArrayBuffer(4));
        const { port1, port2 } = new MessageChannel();
        const input: CopyInput = { copy: toCopy.map((i) => ({ imagePath: runs[i]!.imagePath, convert: runs[i]!.convert! })), dir, ctl, port: port2 };
        const worker = new Worker(WORKER!, { workerData: input, transferList: [port2] });
        worker.unref();
        this.copier = { worker, ctl, port: port1 };
        this.awaited = toCopy.map((i) => runs[i]!);
      }
      // This thread's runs on the image itself start now. One that cannot be opened is left out: the command
      // runs it again for its error.
      for (const i of mine) {
        const r = runs[i]!;
        if (r.convert) continue;
        try {
          this.local.push({ key: r.key, loop: new ReplayLoop(r.imagePath, r.opts) });
        } catch {
          continue;
        }
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Steps this thread's runs by one request. */
  step(r: GuestRequest): void {
    for (const l of this.local) l.loop.step(r);
  }

  /** Whether any run is in this thread. */
  get hasLocal(): boolean {
    return this.local.length > 0;
  }

  /** Whether runs of this thread still wait for their copies. */
  get awaiting(): boolean {
    return this.awaited.length > 0;
  }

  /**
   * Opens this thread's runs whose copies the copying worker has made (waiting for them when `wait`) and returns
   * their loops, which the caller catches up over the requests so far before the next step. A copy that could not
   * be made, or a worker that failed, leaves its run out: the command runs it again, for its error if it has one.
   */
  collect(wait: boolean): ReplayLoop[] {
    const copier = this.copier;
    if (this.awaited.length === 0 || !copier) return [];
    if (!wait && Atomics.load(copier.ctl, 0) === 0) return [];
    while (Atomics.load(copier.ctl, 0) === 0) Atomics.wait(copier.ctl, 0, 0, 1000);
    const m = receiveMessageOnPort(copier.port)?.message as MainCopies | undefined;
    // Its work is done: its heap goes now, not at the end of the replay (peak memory).
    copier.port.close();
    void copier.worker.terminate();
    this.copier = undefined;
    const runs = this.awaited;
    this.awaited = [];
    const opened: ReplayLoop[] = [];
    runs.forEach((run, k) => {
      const c = m && "mainCopies" in m ? m.mainCopies[k] : undefined;
      if (!c || !("path" in c)) return;
      this.made.set(formatKey(run.convert!), c.path);
      try {
        const loop = new ReplayLoop(c.path, run.opts);
        this.local.push({ key: run.key, loop });
        opened.push(loop);
      } catch {
        return;
      }
    });
    return opened;
  }

  /** Ends this thread's runs (after the last request). */
  finishLocal(): void {
    for (const l of this.local) {
      this.summaries.set(l.key, l.loop.summary());
      l.loop.close();
    }
    this.local.length = 0;
  }

  /** Sends the next chunk of requests (or the end) to every worker still running. */
  post(m: { chunk: RequestColumns } | { end: true }): void {
    for (const s of this.started) {
      if (Atomics.load(s.ctl, SPEC_DONE) !== 0) continue;
      s.port.postMessage(m);
      s.posted++;
      Atomics.store(s.ctl, SPEC_POSTED, s.posted);
      Atomics.notify(s.ctl, SPEC_POSTED);
    }
  }

  /** The summary of the speculative run of `key`, once every worker has answered; undefined when not guessed or it failed. */
  take(key: string): ReplaySummary | undefined {
    this.settle();
    return this.summaries.get(key);
  }

  /** Converted copies the workers made, by formatKey. */
  copies(): Map<string, string> {
    this.settle();
    return this.made;
  }

  close(): void {
    for (const l of this.local) l.loop.close();
    this.local.length = 0;
    for (const s of this.started) {
      s.port.close();
      void s.worker.terminate();
    }
    if (this.copier) {
      this.copier.port.close();
      void this.copier.worker.terminate();
    }
  }

  /** Requests the baseline had run when this thread's runs on a worker's copies could start (--debug). */
  collectedAfter?: number;
  /** Milliseconds this thread waited for the workers' results, and the CPU seconds the workers used. */
  waitedMs = 0;
  workerCpuSeconds = 0;

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    const t0 = performance.now();
    for (const s of this.started) {
      while (Atomics.load(s.ctl, SPEC_DONE) === 0) Atomics.wait(s.ctl, SPEC_DONE, 0, 1000);
      const out = receiveMessageOnPort(s.port)?.message as SpeculateOutput | undefined;
      if (!out || "failed" in out) continue;
      out.results.forEach((r, i) => "summary" in r && this.summaries.set(s.runs[i]!.key, r.summary));
      for (const [k, p] of out.copies) this.made.set(k, p);
      this.workerCpuSeconds += out.cpuSeconds;
    }
    this.waitedMs = performance.now() - t0;
  }
}

export interface SpeculateOptions {
  /** Requests replayed before the guess (the trace's prefix whose statistics choose the variants). */
  prefix: number;
  /** Worker threads for the speculative runs. */
  threads: number;
  /** The work folder for converted copies (made on demand). */
  dir: () => string;
  /** The variants to start for the statistics so far (none: no speculation). */
  guess(partial: ReplaySummary): SpeculativeRun[];
}

/**
 * Replays `requests` under `run` in this thread, as replayTrace does, keeping every request in packed chunks (the
 * tape that verification runs not guessed replay from), and after `prefix` requests starts the guessed variants
 * on workers fed the same chunks. Returns the baseline's summary, the chunks and the speculation (to be closed by
 * the caller), if one started.
 */
export function replayBaselineSpeculating(requests: Iterable<GuestRequest>, run: LockstepRun, o: SpeculateOptions): { baseline: ReplaySummary; chunks: RequestColumns[]; speculation?: Speculation } {
  const loop = new ReplayLoop(run.imagePath, run.opts);
  let spec: Speculation | undefined;
  try {
    // Chunks of the prefix are sent once the guess is made; past it, each as it fills.
    const chunks: RequestColumns[] = [];
    let chunk = new RequestColumns(CHUNK);
    let n = 0;
    let local = false;
    // This thread's runs opened after the guess catch up over the requests so far, then step beside the baseline.
    const catchUp = (loops: ReplayLoop[], collected = false) => {
      if (collected) spec!.collectedAfter = n;
      if (loops.length === 0) return;
      for (const q of tapeRequests([...chunks, chunk])) for (const l of loops) l.step(q);
      local = true;
    };
    for (const r of requests) {
      loop.step(r);
      if (local) spec!.step(r);
      chunk.push(r);
      if (chunk.length === CHUNK) {
        chunks.push(chunk);
        spec?.post({ chunk });
        chunk = new RequestColumns(CHUNK);
        if (spec?.awaiting) {
          const opened = spec.collect(false);
          if (!spec.awaiting) catchUp(opened, true);
        }
      }
      if (++n === o.prefix) {
        const runs = o.guess(loop.partial());
        if (runs.length > 0) {
          spec = new Speculation(runs, o.threads, o.dir(), n, localShare(runs));
          for (const c of chunks) spec.post({ chunk: c });
          if (spec.hasLocal) catchUp(spec.local.map((l) => l.loop));
        }
      }
    }
    chunk.trim();
    chunks.push(chunk);
    if (spec) {
      spec.post({ chunk });
      spec.post({ end: true });
      // Copies still being made: wait for them, and replay those runs over the whole trace here.
      chunk = new RequestColumns(16);
      if (spec.awaiting) catchUp(spec.collect(true), true);
      spec.finishLocal();
    }
    const baseline = loop.summary();
    return { baseline, chunks, speculation: spec };
  } catch (e) {
    spec?.close();
    throw e;
  } finally {
    loop.close();
  }
}
