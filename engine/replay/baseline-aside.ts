// The recommendations' verification runs with the baseline on the worker thread (speculative-runs.ts keeps it
// on the parser's thread): on two cores the work is the parse, the baseline and the guessed runs, and the parser
// plus the baseline plus one run left the parser's thread about a second busier than the worker. Here this thread
// parses, keeps the packed chunks and posts them; the worker replays the baseline and sends its statistics back
// after the prefix; the guessed runs are then dealt so both threads carry about as much (dealRuns), this thread's
// stepping beside the parser, the worker's beside the baseline, each caught up over the requests so far. Converted
// copies come from a worker of their own that only runs qemu-img. Every run is the same replay of the same
// requests as alone, so the figures are the same wherever it runs.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { GuestRequest } from "../workload/guest-request.js";
import type { LockstepRun } from "./lockstep.js";
import { ReplayLoop } from "./replay-loop.js";
import { RequestColumns, ReusedRequest } from "./request-columns.js";
import type { ReplaySummary } from "./replay-stats.js";
import type { FormatOptions } from "./compare.js";
import { formatKey, threadCpuSeconds, type SpeculateOptions, type SpeculativeRun } from "./speculative-runs.js";
import { WORKER, plainRun, tapeRequests } from "./what-if-threads.js";

/** Requests per chunk posted to the worker. */
const CHUNK = 8192;
/** Slots of the control array: messages posted to the worker; set once the partial summary, then the result, is posted back. */
export const ASIDE_POSTED = 0;
export const ASIDE_PARTIAL = 1;
export const ASIDE_DONE = 2;

/** What the baseline's worker is given. */
export interface AsideInput {
  aside: true;
  run: LockstepRun;
  /** Requests after which the baseline's statistics so far are posted back. */
  prefix: number;
  ctl: Int32Array;
  port: MessagePort;
}

/** What the copier is given: copies to make all at once (slot EACH_ANSWERED of `ctl` counts the answers, EACH_DONE is set at the end). */
export interface EachCopyInput {
  copyEach: { imagePath: string; convert: FormatOptions }[];
  dir: string;
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
  | { baseline: ReplaySummary; results: ({ key: string; summary: ReplaySummary } | { key: string; error: string })[]; cpuSeconds: number }
  | { failed: string };

/**
 * What a run costs next to the baseline's replay (1): a preallocated copy turns every first write into an
 * overwrite (about half), a copy with other format options allocates in larger clusters; engine options alone
 * replay as the baseline does. The parse and the packed chunks cost about a third. For dealing only: a wrong
 * estimate moves the end of the wait, never a figure.
 */
export const PARSE_WEIGHT = 0.35;
export function runWeight(r: Pick<SpeculativeRun, "convert">): number {
  const c = r.convert;
  if (!c) return 1;
  const formatChange = c.clusterSize !== undefined || c.extendedL2 !== undefined;
  if (c.preallocation) return formatChange ? 0.7 : 0.5;
  return 0.8;
}

/**
 * Which runs this thread takes (indexes), the worker taking the others: heaviest first, each to the thread that
 * carries less so far (longest processing time first), this thread starting with the parse and the worker with the baseline. Runs sharing a copy
 * stay together on one thread (no two threads make or wait for the same copy).
 */
export function dealRuns(runs: Pick<SpeculativeRun, "convert">[]): number[] {
  const groups = new Map<string, number[]>();
  runs.forEach((r, i) => {
    const k = r.convert ? formatKey(r.convert) : `engine:${i}`;
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  });
  const weighted = [...groups.values()].map((g) => ({ g, w: g.reduce((a, i) => a + runWeight(runs[i]!), 0) }));
  weighted.sort((a, b) => b.w - a.w || a.g[0]! - b.g[0]!);
  let here = PARSE_WEIGHT;
  let there = 1;
  const mine: number[] = [];
  for (const { g, w } of weighted) {
    if (here <= there) {
      here += w;
      mine.push(...g);
    } else there += w;
  }
  return mine.sort((a, b) => a - b);
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

/**
 * Replays `requests` under `run` with the baseline on a worker, keeping every request in packed chunks (the tape
 * that verification runs not guessed replay from), and starts the runs `o.guess` asks for after `o.prefix`
 * requests, dealt over both threads (one worker: `o.threads` is not read; with more cores the command spreads
 * the runs with replayBaselineSpeculating instead). The same result as replayBaselineSpeculating. When the worker
 * fails as a whole, the baseline is replayed here from the chunks (and nothing was guessed).
 */
export function replayBaselineAside(requests: Iterable<GuestRequest>, run: LockstepRun, o: SpeculateOptions): { baseline: ReplaySummary; chunks: RequestColumns[]; speculation?: AsideSpeculation } {
  const ctl = new Int32Array(new SharedArrayBuffer(12));
  const { port1, port2 } = new MessageChannel();
  const input: AsideInput = { aside: true, run: plainRun(run), prefix: o.prefix, ctl, port: port2 };
  const worker = new Worker(WORKER!, { workerData: input, transferList: [port2] });
  worker.unref();
  const local: { key: string; loop: ReplayLoop }[] = [];
  let copier:
    | { worker: Worker; ctl: Int32Array; port: MessagePort; groups: { convert: FormatOptions; runs: { run: SpeculativeRun; here: boolean }[] }[]; answered: number; theirs: number }
    | undefined;
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
    let stepping = false;
    // This thread's runs, opened at a chunk boundary: caught up over the chunks so far, then stepped beside the parser.
    const open = (runs: SpeculativeRun[]) => {
      const opened: ReplayLoop[] = [];
      for (const r of runs) {
        try {
          const loop = new ReplayLoop(r.imagePath, r.opts);
          local.push({ key: r.key, loop });
          opened.push(loop);
        } catch {
          continue;
        }
      }
      if (opened.length === 0) return;
      for (const q of tapeRequests(chunks)) for (const l of opened) l.step(q);
      stepping = true;
    };
    // Once the worker's statistics after the prefix are back: the guess, dealt over both threads.
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
      const mine = new Set(dealRuns(runs));
      const dealt = runs.map((r, i) => ({ run: r, here: mine.has(i) }));
      const copied = dealt.filter((d) => d.run.convert !== undefined);
      post({ runs: dealt.filter((d) => !d.here && !d.run.convert).map((d) => d.run), more: copied.some((d) => !d.here) });
      open(dealt.filter((d) => d.here && !d.run.convert).map((d) => d.run));
      if (copied.length > 0) {
        // One copy per format (runs on the same one share it), all made at once by the copier.
        const groups = new Map<string, { imagePath: string; convert: FormatOptions; runs: { run: SpeculativeRun; here: boolean }[] }>();
        for (const d of copied) {
          const k = formatKey(d.run.convert!);
          const g = groups.get(k);
          if (g) g.runs.push(d);
          else groups.set(k, { imagePath: d.run.imagePath, convert: d.run.convert!, runs: [d] });
        }
        const list = [...groups.values()];
        const cctl = new Int32Array(new SharedArrayBuffer(8));
        const ch = new MessageChannel();
        const cin: EachCopyInput = { copyEach: list.map((g) => ({ imagePath: g.imagePath, convert: g.convert })), dir: o.dir(), ctl: cctl, port: ch.port2 };
        const w = new Worker(WORKER!, { workerData: cin, transferList: [ch.port2] });
        w.unref();
        copier = { worker: w, ctl: cctl, port: ch.port1, groups: list, answered: 0, theirs: copied.filter((d) => !d.here).length };
      }
    };
    // Each copy as it is made: this thread's runs open on it and catch up; the worker's are sent.
    const collect = (wait: boolean) => {
      const c = copier;
      if (!c) return;
      const here: SpeculativeRun[] = [];
      const there: SpeculativeRun[] = [];
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
          for (const d of g.runs) (d.here ? here : there).push({ key: d.run.key, imagePath: m.path, opts: d.run.opts });
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
      c.theirs -= there.length;
      if (there.length > 0 || copier === undefined) post({ runs: there, more: copier !== undefined && c.theirs > 0 });
      open(here);
    };
    for (const r of requests) {
      if (stepping) for (const l of local) l.loop.step(r);
      chunk.push(r);
      ++n;
      if (chunk.length === CHUNK) {
        chunks.push(chunk);
        post({ chunk });
        chunk = new RequestColumns(CHUNK);
        if (n >= o.prefix) guess(false);
        collect(false);
      }
      if (n % 4096 === 0) run.opts.onProgress?.(n);
    }
    chunk.trim();
    chunks.push(chunk);
    post({ chunk });
    // The trace ended before the statistics came back: wait for them (a trace shorter than the prefix has none).
    if (n >= o.prefix) guess(true);
    collect(true);
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
      const theirs = out.results;
      spec.workerCpuSeconds = out.cpuSeconds;
      for (const r of theirs) if ("summary" in r) spec.summaries.set(r.key, r.summary);
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
    // One request object rewritten for each (the loops keep none).
    const q = new ReusedRequest();
    for (;;) {
      const seen = Atomics.load(ctl, ASIDE_POSTED);
      const got = receiveMessageOnPort(port);
      if (!got) {
        Atomics.wait(ctl, ASIDE_POSTED, seen, 1000);
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
          port.postMessage({ partial: base.partial() } satisfies AsideOutput);
          Atomics.store(ctl, ASIDE_PARTIAL, 1);
          Atomics.notify(ctl, ASIDE_PARTIAL);
        }
      }
    }
    for (const l of loops) results.push({ key: l.key, summary: l.loop.summary() });
    return { baseline: base.summary(), results, cpuSeconds: threadCpuSeconds() };
  } finally {
    base.close();
    for (const l of loops) l.loop.close();
  }
}
