// The recommendations' verification runs with the baseline on the worker thread (speculative-runs.ts keeps it
// on the parser's thread): on two cores the work is the parse, the baseline and the guessed runs, and the parser
// plus the baseline plus one run left the parser's thread about a second busier than the worker. Here this thread
// parses, keeps the packed chunks and posts them; the worker replays the baseline and sends its statistics back
// after the prefix; the guessed runs are then dealt so both threads carry about as much, from costs measured in
// this replay (run-deal.ts), this thread's stepping beside the parser, the worker's beside the baseline, each
// caught up over the requests so far. Converted
// copies come from a worker of their own that only runs qemu-img. Every run is the same replay of the same
// requests as alone, so the figures are the same wherever it runs.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { GuestRequest } from "../workload/guest-request.js";
import type { LockstepRun } from "./lockstep.js";
import { ReplayLoop } from "./replay-loop.js";
import { RequestColumns, ReusedRequest } from "./request-columns.js";
import type { ReplaySummary } from "./replay-stats.js";
import { convertArgs, type FormatOptions } from "./compare.js";
import { formatKey, threadCpuSeconds, type SpeculateOptions, type SpeculativeRun } from "./speculative-runs.js";
import { WORKER, plainRun, tapeRequests } from "./what-if-threads.js";
import { dealGroups, threadCpuNs, type ThreadLoads } from "./run-deal.js";

/** Requests per chunk posted to the worker. */
const CHUNK = 8192;
/** Slots of the control array: messages posted to the worker; set once the partial summary, then the result, is posted back. */
export const ASIDE_POSTED = 0;
export const ASIDE_PARTIAL = 1;
export const ASIDE_DONE = 2;
/** Requests the worker's baseline has replayed (after each chunk): how far it lags the parser. */
export const ASIDE_STEPPED = 3;

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

/** From the worker: the baseline's statistics after the prefix with its CPU ns per request (past the first chunk), then its result. */
export type AsideOutput =
  | { partial: ReplaySummary; nsPerRequest: number }
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
  /** Each run's measured cost (µs per request) and where it went; the parse's and baseline's costs (--debug). */
  readonly dealt: string[] = [];
  costs = "";

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

/** Requests of a run's cost sample, replayed here before it is dealt: as many warm the code up first. */
const SAMPLE = CHUNK;
/** Chunks the worker has still to replay below which this thread parses on rather than replaying its own runs. */
const AHEAD = 4;

/**
 * Replays `requests` under `run` with the baseline on a worker, keeping every request in packed chunks (the tape
 * that verification runs not guessed replay from), and starts the runs `o.guess` asks for after `o.prefix`
 * requests, dealt over both threads by their measured costs (run-deal.ts; one worker: `o.threads` is not read;
 * with more cores the command spreads the runs with replayBaselineSpeculating instead). The same result as
 * replayBaselineSpeculating. When the worker fails as a whole, the baseline is replayed here from the chunks (and
 * nothing was guessed).
 */
export function replayBaselineAside(requests: Iterable<GuestRequest>, run: LockstepRun, o: SpeculateOptions): { baseline: ReplaySummary; chunks: RequestColumns[]; speculation?: AsideSpeculation } {
  const ctl = new Int32Array(new SharedArrayBuffer(16));
  const { port1, port2 } = new MessageChannel();
  const input: AsideInput = { aside: true, run: plainRun(run), prefix: o.prefix, ctl, port: port2 };
  const worker = new Worker(WORKER!, { workerData: input, transferList: [port2] });
  worker.unref();
  // This thread's runs and how many requests each has replayed (they catch up a chunk at a time, see work()).
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
    // CPU ns per request: the parse here (over the prefix, past its first chunk), the baseline there (the
    // worker's figure over the same requests), and the runs dealt to each side so far (their samples).
    const cpuStart = threadCpuNs();
    let cpuFirstChunk = NaN;
    let parseNs = NaN;
    let baseNs = NaN;
    let hereRunsNs = 0;
    let thereRunsNs = 0;
    const costOf = new Map<object, number>();
    // The throwaway baseline's cost over the sample (NaN: not measured yet; 0: it could not be).
    let baseSampleNs = NaN;
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
    // This thread's share between two chunks of parsing: while the worker has AHEAD chunks or more still to
    // replay (or the trace has ended), a chunk more of the local run furthest behind, looking for copies made
    // between two. The parser thus keeps the worker fed, and a run opened late (its copy took a while) catches up
    // over the tape in the time the worker leaves, instead of holding the parser back for all of it.
    const work = (ended: boolean) => {
      for (;;) {
        let behind: (typeof local)[number] | undefined;
        for (const l of local) if (l.at < n && (!behind || l.at < behind.at)) behind = l;
        if (!behind) return;
        if (!ended && n - Atomics.load(ctl, ASIDE_STEPPED) < AHEAD * CHUNK && Atomics.load(ctl, ASIDE_DONE) === 0) return;
        advance(behind);
        collect(false);
      }
    };
    // Opens the groups' runs (a group shares a copy) here and replays a sample of each to measure it, then deals
    // them: those staying here catch up over the requests so far and go on beside the parser; the others are
    // closed and returned, for the worker. A run that cannot be opened is left out (the command runs it again for
    // its error).
    const deal = (groups: SpeculativeRun[][]): SpeculativeRun[] => {
      const opened = groups
        .map((g) => g.flatMap((r) => {
          try {
            return [{ run: r, loop: new ReplayLoop(r.imagePath, r.opts) }];
          } catch {
            return [];
          }
        }))
        .filter((g) => g.length > 0);
      if (opened.length === 0) return [];
      // The sample: requests [0, warm) warm the code up, [warm, len) are timed, for every run and (the first
      // time) for a throwaway replay of the baseline, so that each run is measured against the baseline over the
      // same requests on the same thread (the first requests of a trace cost more than the average: they
      // allocate the L2 tables) and scaled by the baseline's own figure from the worker, over the whole prefix.
      const len = Math.min(n, 2 * SAMPLE);
      const warm = len >> 1;
      let baseLoop: ReplayLoop | undefined;
      if (Number.isNaN(baseSampleNs)) {
        try {
          baseLoop = new ReplayLoop(run.imagePath, plainRun(run).opts);
        } catch {
          baseSampleNs = 0;
        }
      }
      const timed = (loop: ReplayLoop) => {
        const t = threadCpuNs();
        stepRange(loop, warm, len);
        return (threadCpuNs() - t) / Math.max(1, len - warm);
      };
      try {
        if (baseLoop) stepRange(baseLoop, 0, warm);
        for (const g of opened) for (const x of g) stepRange(x.loop, 0, warm);
        if (baseLoop) baseSampleNs = timed(baseLoop);
      } finally {
        baseLoop?.close();
      }
      const sampled = opened.map((g) => g.reduce((sum, x) => sum + timed(x.loop), 0));
      // Unmeasured figures (a worker that sent none, a prefix of one chunk) are taken from the sample.
      const base = Number.isFinite(baseNs) ? baseNs : baseSampleNs > 0 ? baseSampleNs : sampled[0]! / opened[0]!.length;
      const costs = sampled.map((c) => (baseSampleNs > 0 ? (c / baseSampleNs) * base : c));
      const parse = Number.isFinite(parseNs) ? parseNs : base / 3;
      const expected = o.expected?.() ?? NaN;
      const rest = Number.isFinite(expected) && expected > n ? expected - n : n;
      const lag = Math.max(0, n - Atomics.load(ctl, ASIDE_STEPPED));
      let hereLag = 0;
      for (const l of local) hereLag += (costOf.get(l) ?? 0) * (n - l.at);
      const loads: ThreadLoads = { here: (parse + hereRunsNs) * rest + hereLag, there: (base + thereRunsNs) * (rest + lag) };
      const here = dealGroups(costs.map((c) => ({ perRequest: c, requestsHere: n - len + rest, requestsThere: n + rest })), loads);
      const sent: SpeculativeRun[] = [];
      opened.forEach((g, k) => {
        if (here[k]) hereRunsNs += costs[k]!;
        else thereRunsNs += costs[k]!;
        for (const x of g) {
          spec!.dealt.push(`${runLabel(x.run.key)} ${(costs[k]! / g.length / 1000).toFixed(2)} ${here[k] ? "here" : "there"}`);
          if (here[k]) {
            const l = { key: x.run.key, loop: x.loop, at: len };
            local.push(l);
            costOf.set(l, costs[k]! / g.length);
          } else {
            x.loop.close();
            sent.push(x.run);
          }
        }
      });
      spec!.costs = `parse ${(parse / 1000).toFixed(2)}, baseline ${(base / 1000).toFixed(2)}`;
      return sent;
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
      if (m && "partial" in m) baseNs = m.nsPerRequest;
      spec = new AsideSpeculation(runs.length, o.prefix);
      const copied = runs.filter((r) => r.convert !== undefined);
      post({ runs: deal(runs.filter((r) => !r.convert).map((r) => [r])), more: copied.length > 0 });
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
          post({ runs: [], more: false });
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
      const there = arrived.length > 0 ? deal(arrived) : [];
      if (there.length > 0 || copier === undefined) post({ runs: there, more: copier !== undefined });
    };
    for (const r of requests) {
      chunk.push(r);
      ++n;
      if (chunk.length === CHUNK) {
        chunks.push(chunk);
        post({ chunk });
        chunk = new RequestColumns(CHUNK);
        if (n === CHUNK) cpuFirstChunk = threadCpuNs();
        if (n >= o.prefix && !guessed) {
          if (Number.isNaN(parseNs)) parseNs = n > CHUNK ? (threadCpuNs() - cpuFirstChunk) / (n - CHUNK) : (threadCpuNs() - cpuStart) / n;
          guess(false);
        }
        collect(false);
        work(false);
      }
      if (n % 4096 === 0) run.opts.onProgress?.(n);
    }
    chunk.trim();
    chunks.push(chunk);
    post({ chunk });
    // The trace ended before the statistics came back: wait for them (a trace shorter than the prefix has none).
    if (n >= o.prefix) guess(true);
    // This thread's runs catch up while copies are still being made, then those runs too.
    work(true);
    collect(true);
    work(true);
    if (!guessed) post({ runs: [], more: false });
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
    // The baseline's cost per request over the prefix past the first chunk (JIT warm-up), for the dealing.
    let cpuFirst = NaN;
    let nFirst = 0;
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
          const ns = n > nFirst && nFirst > 0 ? (threadCpuNs() - cpuFirst) / (n - nFirst) : NaN;
          port.postMessage({ partial: base.partial(), nsPerRequest: ns } satisfies AsideOutput);
          Atomics.store(ctl, ASIDE_PARTIAL, 1);
          Atomics.notify(ctl, ASIDE_PARTIAL);
        }
      }
      if (nFirst === 0) {
        nFirst = n;
        cpuFirst = threadCpuNs();
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
