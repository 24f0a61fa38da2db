// The recommendations' verification runs with the baseline on the worker thread (speculative-runs.ts keeps it
// on the parser's thread): on two cores the work is the parse, the baseline and the guessed runs. Here this
// thread parses, keeps the packed chunks and posts them; the worker replays the baseline and sends its statistics
// back after the prefix; each guessed run is then taken by the worker while it keeps up with the parser, and
// the rest, after the last request, by whichever thread runs out of work first (no cost is estimated, so an
// engine that gets faster at one format rebalances by itself), each caught up over the requests so far.
// Converted copies come from a worker of their own that only runs qemu-img. Every run is the same replay of the
// same requests as alone, so the figures are the same wherever it runs.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { GuestRequest } from "../workload/guest-request.js";
import type { LockstepRun } from "./lockstep.js";
import { ReplayLoop } from "./replay-loop.js";
import { RequestColumns, ReusedRequest } from "./request-columns.js";
import type { ReplaySummary } from "./replay-stats.js";
import { convertArgs, type FormatOptions } from "./compare.js";
import { formatKey, threadCpuSeconds, type SpeculateOptions, type SpeculativeRun } from "./speculative-runs.js";
import { WORKER, plainRun, tapeRequests } from "./what-if-threads.js";

/** Requests per chunk posted to the worker. */
const CHUNK = 8192;
/** Slots of the control array: messages posted to the worker; set once the partial summary, then the result, is posted back. */
export const ASIDE_POSTED = 0;
export const ASIDE_PARTIAL = 1;
export const ASIDE_DONE = 2;
/** Requests the worker's baseline has replayed (after each chunk): how far it lags the parser. */
export const ASIDE_STEPPED = 3;
/** Messages of runs the worker has opened and caught up (its lag means nothing while it catches up). */
export const ASIDE_ABSORBED = 4;

/** What the baseline's worker is given. */
export interface AsideInput {
  aside: true;
  run: LockstepRun;
  /** Requests after which the baseline's statistics so far are posted back. */
  prefix: number;
  ctl: Int32Array;
  port: MessagePort;
}

/** What the copier is given: qemu-img's arguments of the copies to make all at once (compare.ts convertArgs; slot EACH_ANSWERED of `ctl` counts the answers, EACH_DONE is set at the end). */
export interface EachCopyInput {
  copyEach: { args: string[]; out: string }[];
  ctl: Int32Array;
  port: MessagePort;
}
export const EACH_ANSWERED = 0;
export const EACH_DONE = 1;

/** From the copier: copy k's path or why it could not be made, as each is done; then the end, or why it failed. */
export type EachCopyMessage = { k: number; path: string } | { k: number; error: string } | { allDone: true } | { failed: string };

/** To the worker: requests, runs to start beside the baseline (`more`: others may follow), or the end. */
export type AsideMessage = { chunk: RequestColumns } | { runs: SpeculativeRun[]; more: boolean } | { end: true };

/** From the worker: the baseline's statistics after the prefix, then its result. */
export type AsideOutput =
  | { partial: ReplaySummary }
  | { baseline: ReplaySummary; results: ({ key: string; summary: ReplaySummary } | { key: string; error: string })[]; cpuSeconds: number; idleSeconds: number }
  | { failed: string };

/** A run's name in --debug's figures: its format options, or its engine options where it has none. */
function runLabel(key: string): string {
  try {
    const [config, format] = JSON.parse(key) as [object, object];
    return JSON.stringify(Object.keys(format).length > 0 ? format : config);
  } catch {
    return key;
  }
}

/** Whether the baseline can go to the worker: a worker script, and no per-request callbacks (they stay here). */
export function canReplayAside(run: LockstepRun): boolean {
  const o = run.opts;
  return WORKER !== undefined && !(o.onRequest || o.onOpen || o.perEventCosts || o.keepEvents);
}

/** The guessed runs' results, read by the command as from a Speculation (speculative-runs.ts). */
export class AsideSpeculation {
  readonly summaries = new Map<string, ReplaySummary>();
  readonly made = new Map<string, string>();
  collectedAfter?: number;
  waitedMs = 0;
  workerCpuSeconds = 0;
  /** Wall seconds the worker waited for chunks or runs. */
  workerIdleSeconds = 0;
  /** Where each run went, when, and how far the worker lagged then (--debug). */
  readonly dealt: string[] = [];

  constructor(
    readonly runs: number,
    readonly after: number,
  ) {}

  take(key: string): ReplaySummary | undefined {
    return this.summaries.get(key);
  }

  copies(): Map<string, string> {
    return this.made;
  }

  close(): void {}
}

/** The worker lags at most this many chunks: it takes the next run (it would soon wait for chunks). */
const GIVE_LAG = 2;

/**
 * Replays `requests` under `run` with the baseline on a worker, keeping every request in packed chunks (the tape
 * that verification runs not guessed replay from), and starts the runs `o.guess` asks for after `o.prefix`
 * requests, each taken by the worker while it keeps up or, after the trace, by the thread that runs out of work
 * first (see take() and the end; one worker: `o.threads` is not read;
 * with more cores the command spreads the runs with replayBaselineSpeculating instead). The same result as
 * replayBaselineSpeculating. When the worker fails as a whole, the baseline is replayed here from the chunks (and
 * nothing was guessed).
 */
export function replayBaselineAside(requests: Iterable<GuestRequest>, run: LockstepRun, o: SpeculateOptions): { baseline: ReplaySummary; chunks: RequestColumns[]; speculation?: AsideSpeculation } {
  const ctl = new Int32Array(new SharedArrayBuffer(20));
  const { port1, port2 } = new MessageChannel();
  const input: AsideInput = { aside: true, run: plainRun(run), prefix: o.prefix, ctl, port: port2 };
  const worker = new Worker(WORKER!, { workerData: input, transferList: [port2] });
  worker.unref();
  // This thread's runs and how many requests each has replayed (they catch up a chunk at a time after the trace).
  const local: { key: string; loop: ReplayLoop; at: number }[] = [];
  let copier: { worker: Worker; ctl: Int32Array; port: MessagePort; groups: { convert: FormatOptions; runs: SpeculativeRun[] }[]; answered: number } | undefined;
  let posted = 0;
  const post = (m: AsideMessage) => {
    port1.postMessage(m);
    Atomics.store(ctl, ASIDE_POSTED, ++posted);
    Atomics.notify(ctl, ASIDE_POSTED);
  };
  try {
    const chunks: RequestColumns[] = [];
    let chunk = new RequestColumns(CHUNK);
    let n = 0;
    let spec: AsideSpeculation | undefined;
    let guessed = false;
    // One request object rewritten for each (the loops keep none): the engine's property reads see one shape.
    const q = new ReusedRequest();
    // Replays the requests [from, to) of the tape on `loop`.
    const stepRange = (loop: ReplayLoop, from: number, to: number) => {
      for (let k = Math.floor(from / CHUNK); k * CHUNK < to && k < chunks.length; k++) {
        const c = chunks[k]!;
        const end = Math.min(c.length, to - k * CHUNK);
        for (let i = Math.max(0, from - k * CHUNK); i < end; i++) {
          c.load(i, q);
          loop.step(q);
        }
      }
    };
    // Replays one more chunk of the tape (every chunk but the last holds CHUNK requests) on local run l.
    const advance = (l: { loop: ReplayLoop; at: number }) => {
      const k = Math.floor(l.at / CHUNK);
      const to = k * CHUNK + chunks[k]!.length;
      stepRange(l.loop, l.at, to);
      l.at = to;
    };
    // The runs not taken yet, by groups (a group shares a copy: one thread makes or waits for it), in the order
    // they became ready. The worker is told whether more may come (it keeps the chunks for their catch-up).
    const queue: SpeculativeRun[][] = [];
    let gave = 0;
    const send = (runs: SpeculativeRun[]) => {
      if (runs.length > 0) gave++;
      post({ runs, more: copier !== undefined || queue.length > 0 });
    };
    // During the trace the worker takes the next group when it lags GIVE_LAG chunks or fewer behind the parser
    // (it would soon wait for chunks) and has opened and caught up the last runs it was given (its lag says nothing
    // while it catches up); this thread keeps parsing. The groups left at the end go to whichever thread runs out
    // of work first (see the end below), so no cost has to be known or guessed: an engine that got faster at one
    // format shifts the runs by itself, and the last runs even out the two threads' ends. A worker that failed as
    // a whole takes none: they stay queued for this thread.
    const take = () => {
      if (queue.length === 0 || Atomics.load(ctl, ASIDE_DONE) !== 0) return;
      const lag = n - Atomics.load(ctl, ASIDE_STEPPED);
      if (Atomics.load(ctl, ASIDE_ABSORBED) < gave || lag > GIVE_LAG * CHUNK) return;
      deal(true, lag);
    };
    // The next queued group to the worker (`there`) or this thread, noted for --debug with the worker's lag.
    const deal = (there: boolean, lag: number) => {
      const g = queue.shift()!;
      for (const r of g) spec!.dealt.push(`${runLabel(r.key)} ${there ? "there" : "here"} at ${n} (worker ${lag} behind)`);
      if (there) send(g);
      else open(g);
    };
    // Opens a group's runs here, to catch up from the first request. A run that cannot be opened is left out
    // (the command runs it again for its error).
    const open = (g: SpeculativeRun[]) => {
      for (const r of g) {
        try {
          local.push({ key: r.key, loop: new ReplayLoop(r.imagePath, r.opts), at: 0 });
        } catch {
          continue;
        }
      }
    };
    // Once the worker's statistics after the prefix are back: the guess. Runs on engine options alone are dealt
    // at once; runs on a copy when it is made.
    const guess = (wait: boolean) => {
      if (guessed) return;
      if (!wait && Atomics.load(ctl, ASIDE_PARTIAL) === 0) return;
      while (Atomics.load(ctl, ASIDE_PARTIAL) === 0 && Atomics.load(ctl, ASIDE_DONE) === 0) Atomics.wait(ctl, ASIDE_PARTIAL, 0, 200);
      guessed = true;
      const m = Atomics.load(ctl, ASIDE_PARTIAL) !== 0 ? (receiveMessageOnPort(port1)?.message as AsideOutput | undefined) : undefined;
      const runs = m && "partial" in m ? o.guess(m.partial) : [];
      if (runs.length === 0) {
        post({ runs: [], more: false });
        return;
      }
      spec = new AsideSpeculation(runs.length, o.prefix);
      const copied = runs.filter((r) => r.convert !== undefined);
      queue.push(...runs.filter((r) => !r.convert).map((r) => [r]));
      if (copied.length > 0) {
        // One copy per format (runs on the same one share it), all made at once by the copier.
        const groups = new Map<string, { imagePath: string; convert: FormatOptions; runs: SpeculativeRun[] }>();
        for (const r of copied) {
          const k = formatKey(r.convert!);
          const g = groups.get(k);
          if (g) g.runs.push(r);
          else groups.set(k, { imagePath: r.imagePath, convert: r.convert!, runs: [r] });
        }
        // qemu-img's arguments are made here (the image's options are read with the engine, already loaded): a
        // copy that cannot be made leaves its runs out (the command runs them again for the error).
        const list: { convert: FormatOptions; runs: SpeculativeRun[]; args: string[]; out: string }[] = [];
        for (const g of groups.values()) {
          try {
            list.push({ ...g, ...convertArgs(g.imagePath, g.convert, o.dir()) });
          } catch {
            continue;
          }
        }
        if (list.length === 0) {
          if (queue.length === 0) send([]);
          return;
        }
        const cctl = new Int32Array(new SharedArrayBuffer(8));
        const ch = new MessageChannel();
        const cin: EachCopyInput = { copyEach: list.map((g) => ({ args: g.args, out: g.out })), ctl: cctl, port: ch.port2 };
        const w = new Worker(WORKER!, { workerData: cin, transferList: [ch.port2] });
        w.unref();
        copier = { worker: w, ctl: cctl, port: ch.port1, groups: list, answered: 0 };
      }
    };
    // Each copy as it is made: its runs are measured and dealt, this thread's catching up here, the worker's sent.
    const collect = (wait: boolean) => {
      const c = copier;
      if (!c) return;
      const arrived: SpeculativeRun[][] = [];
      const take = () => {
        for (let got = receiveMessageOnPort(c.port); got; got = receiveMessageOnPort(c.port)) {
          const m = got.message as EachCopyMessage;
          if ("failed" in m) {
            // The copier itself failed: the copies not made are left out (the command runs those again).
            c.answered = c.groups.length;
            return;
          }
          if (!("k" in m)) continue;
          c.answered++;
          const g = c.groups[m.k]!;
          // A copy that could not be made: its runs are left out, and the command runs them again for the error.
          if (!("path" in m)) continue;
          spec!.made.set(formatKey(g.convert), m.path);
          arrived.push(g.runs.map((r) => ({ key: r.key, imagePath: m.path, opts: r.opts })));
        }
      };
      take();
      while (wait && c.answered < c.groups.length) {
        const seen = Atomics.load(c.ctl, EACH_ANSWERED);
        take();
        if (c.answered >= c.groups.length || Atomics.load(c.ctl, EACH_DONE) !== 0) {
          take();
          break;
        }
        Atomics.wait(c.ctl, EACH_ANSWERED, seen, 1000);
      }
      if (c.answered >= c.groups.length || (wait && Atomics.load(c.ctl, EACH_DONE) !== 0)) {
        // Its work is done: its heap goes now, not at the end of the replay (peak memory).
        c.port.close();
        void c.worker.terminate();
        copier = undefined;
        spec!.collectedAfter = n;
      }
      queue.push(...arrived);
      // No more copies and no runs left to take: the worker may drop the chunks it kept.
      if (copier === undefined && queue.length === 0) send([]);
    };
    for (const r of requests) {
      chunk.push(r);
      ++n;
      if (chunk.length === CHUNK) {
        chunks.push(chunk);
        post({ chunk });
        chunk = new RequestColumns(CHUNK);
        if (n >= o.prefix && !guessed) guess(false);
        collect(false);
        take();
      }
      if (n % 4096 === 0) run.opts.onProgress?.(n);
    }
    chunk.trim();
    chunks.push(chunk);
    post({ chunk });
    // The trace ended before the statistics came back: wait for them (a trace shorter than the prefix has none).
    if (n >= o.prefix) guess(true);
    // After the last request the runs left are dealt as either thread runs out of work, so that neither waits
    // on the other at the end while a run the other has not started is still queued: the worker takes the next
    // group once it has replayed every chunk and caught up every run it was given; this thread once its own runs
    // are done. Meanwhile this thread catches its runs up a chunk at a time and collects copies as they come.
    for (;;) {
      collect(false);
      const lag = n - Atomics.load(ctl, ASIDE_STEPPED);
      const workerIdle = lag === 0 && Atomics.load(ctl, ASIDE_ABSORBED) >= gave && Atomics.load(ctl, ASIDE_DONE) === 0;
      if (queue.length > 0 && workerIdle) {
        deal(true, 0);
        continue;
      }
      let behind: (typeof local)[number] | undefined;
      for (const l of local) if (l.at < n && (!behind || l.at < behind.at)) behind = l;
      if (behind) {
        advance(behind);
        continue;
      }
      if (queue.length > 0) {
        deal(false, lag);
        continue;
      }
      if (copier) {
        collect(true);
        continue;
      }
      break;
    }
    // No more runs: the worker may drop the chunks it kept for a catch-up.
    post({ runs: [], more: false });
    post({ end: true });
    for (const l of local) {
      spec!.summaries.set(l.key, l.loop.summary());
      l.loop.close();
    }
    local.length = 0;
    const t0 = performance.now();
    while (Atomics.load(ctl, ASIDE_DONE) === 0) Atomics.wait(ctl, ASIDE_DONE, 0, 1000);
    if (spec) spec.waitedMs = performance.now() - t0;
    let out: AsideOutput | undefined;
    for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) out = m.message as AsideOutput;
    if (!out || !("baseline" in out)) {
      // The worker could not replay: the baseline runs here, with the errors a user would see without it.
      const loop = new ReplayLoop(run.imagePath, run.opts);
      try {
        for (const q of tapeRequests(chunks)) loop.step(q);
        return { baseline: loop.summary(), chunks };
      } finally {
        loop.close();
      }
    }
    if (spec) {
      spec.workerCpuSeconds = out.cpuSeconds;
      spec.workerIdleSeconds = out.idleSeconds;
      for (const r of out.results) if ("summary" in r) spec.summaries.set(r.key, r.summary);
    }
    run.opts.onProgress?.(out.baseline.requests);
    return { baseline: out.baseline, chunks, speculation: spec };
  } finally {
    for (const l of local) l.loop.close();
    if (copier) {
      copier.port.close();
      void copier.worker.terminate();
    }
    port1.close();
    void worker.terminate();
  }
}

/**
 * The worker's side: replays the baseline over the chunks as they come, posts its statistics after the prefix,
 * and steps the runs it is sent beside it, each caught up over the requests so far (kept until no more runs can
 * come). Returns the baseline's summary and the runs'.
 */
export function replayAsideWorker(input: AsideInput): AsideOutput {
  const { ctl, port } = input;
  const base = new ReplayLoop(input.run.imagePath, input.run.opts);
  const loops: { key: string; loop: ReplayLoop }[] = [];
  const results: ({ key: string; summary: ReplaySummary } | { key: string; error: string })[] = [];
  try {
    let kept: RequestColumns[] | null = [];
    let n = 0;
    let idleMs = 0;
    // One request object rewritten for each (the loops keep none).
    const q = new ReusedRequest();
    for (;;) {
      const seen = Atomics.load(ctl, ASIDE_POSTED);
      const got = receiveMessageOnPort(port);
      if (!got) {
        const w0 = performance.now();
        Atomics.wait(ctl, ASIDE_POSTED, seen, 1000);
        idleMs += performance.now() - w0;
        continue;
      }
      const m = got.message as AsideMessage;
      if ("end" in m) break;
      if ("runs" in m) {
        const opened: ReplayLoop[] = [];
        for (const r of m.runs) {
          try {
            const loop = new ReplayLoop(r.imagePath, r.opts);
            loops.push({ key: r.key, loop });
            opened.push(loop);
          } catch (e) {
            results.push({ key: r.key, error: e instanceof Error ? e.message : String(e) });
          }
        }
        if (opened.length > 0 && kept) for (const q of tapeRequests(kept)) for (const l of opened) l.step(q);
        if (!m.more) kept = null;
        if (m.runs.length > 0) Atomics.add(ctl, ASIDE_ABSORBED, 1);
        continue;
      }
      const c = RequestColumns.revive(m.chunk);
      kept?.push(c);
      const len = c.length;
      const prefix = input.prefix;
      for (let i = 0; i < len; i++) {
        c.load(i, q);
        base.step(q);
        for (const l of loops) l.loop.step(q);
        if (++n === prefix) {
          port.postMessage({ partial: base.partial() } satisfies AsideOutput);
          Atomics.store(ctl, ASIDE_PARTIAL, 1);
          Atomics.notify(ctl, ASIDE_PARTIAL);
        }
      }
      Atomics.store(ctl, ASIDE_STEPPED, n);
    }
    for (const l of loops) results.push({ key: l.key, summary: l.loop.summary() });
    return { baseline: base.summary(), results, cpuSeconds: threadCpuSeconds(), idleSeconds: idleMs / 1000 };
  } finally {
    base.close();
    for (const l of loops) l.loop.close();
  }
}
