// `qcowdbg replay IMG TRACE`: replays a trace over a shadow of the image (the file is never written), models
// the latency of every request on a device profile and prints the diagnosis: totals, time by cause, btt-style
// latencies, the slowest requests and why, and recommendations verified by replaying again; or, with
// --compare, the same trace under several configurations side by side.
import * as fs from "node:fs";
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { parseConfigOptions, type EngineConfig } from "../../engine/image/engine-config.js";
import { formatJsonEvent } from "../../engine/events/text-format.js";
import { ChromeTraceWriter, engineEventArgs, eventName } from "../../engine/events/chrome-trace-format.js";
import { PerfettoTraceWriter } from "../../engine/events/perfetto-trace-format.js";
import { FORMAT_NAMES, openWorkload, type Workload } from "../../engine/workload/index.js";
import { CAUSE_LABELS, CAUSE_NAMES } from "../../engine/replay/cost-model.js";
import { loadProfile, BUILTIN_PROFILES, DEFAULT_PROFILE } from "../../engine/replay/device-profiles.js";
import { replayTrace, type ReplayRunOptions, type ReplaySummary, type RequestContext } from "../../engine/replay/replay-stats.js";
import { replayLockstep, type LockstepRun } from "../../engine/replay/lockstep.js";
import { firstPassVariants, recommend, type Recommendation } from "../../engine/replay/recommend.js";
import { RequestColumns } from "../../engine/replay/request-columns.js";
import { replayOnThreads, whatIfThreads, type Tape } from "../../engine/replay/what-if-threads.js";
import { replayStreamed } from "../../engine/replay/replay-thread.js";
import { formatKey, replayBaselineSpeculating, Speculation, threadCpuSeconds, variantKey, type SpeculativeRun } from "../../engine/replay/speculative-runs.js";
import { AsideSpeculation, canReplayAside, replayBaselineAside } from "../../engine/replay/baseline-aside.js";
import { buildReport, formatReport, type TraceInfo } from "../../engine/replay/report.js";
import { compareRow, convertedCopy, formatCompareTable, makeWorkDir, needsConversion, parseVariant, qemuImgAvailable, removeWorkDir, type Variant } from "../../engine/replay/compare.js";
import { hex } from "../../engine/replay/human-units.js";
import { exploreTrace } from "../../engine/crash/crash-explorer.js";
import { formatSummary, safetyText, summaryJson } from "../../engine/crash/crash-report.js";
import { ExitError, guarded, isDebug } from "../fail.js";
import { guardOutputs } from "../output-guard.js";
import { countLines } from "../count-lines.js";
import { imageFacts, traceOptions } from "../trace-options.js";
import { dirtyImageNote } from "../../inspector/dirty-image-note.js";
import { OutputFile } from "../output-file.js";
import { parseWindow, type TraceWindow } from "../trace-window.js";
import { filledCopy } from "../../engine/replay/fill.js";
import { qemuIoAvailable } from "../../engine/replay/qemu-io-run.js";
import { checkValidateAvailable, formatValidation, parseCpuIdle, parseValidateRuns, validate, type Validation } from "./replay-validate.js";
import { profileLabel } from "./profile-label.js";
import { settingSources } from "../../engine/replay/setting-sources.js";

interface Flags {
  output: string;
  format?: string;
  profile: string;
  config?: string;
  compare?: string[];
  events?: string;
  chromeTrace?: string;
  keepData?: boolean;
  top: string;
  fit?: string;
  lenient?: boolean;
  device?: string;
  recommend: boolean;
  from?: string;
  to?: string;
  chromeDetail?: string;
  crashSafety?: boolean;
  validate?: boolean;
  validateRuns?: string;
  cpuIdle?: string;
  fill?: boolean;
}


export function register(program: Command): void {
  program
    .command("replay")
    .description("replay a trace over a shadow of IMG and diagnose it: modelled latency by cause, slowest requests, verified tuning advice")
    .argument("<image>", "qcow2 image (never written: writes go to a shadow layer)")
    .argument("<trace>", `trace file (${FORMAT_NAMES.join(", ")})`)
    .option("--output <format>", "text or json", "text")
    .option("--format <name>", "trace format, instead of detecting it")
    .option("--profile <name|file>", `device profile: ${BUILTIN_PROFILES.map((p) => p.name).join(", ")}, or a JSON file (samples/profiles/example.json)`, DEFAULT_PROFILE)
    .option("--config <opts>", "engine options, e.g. l2-cache-size=1M,l2-cache-entry-size=4K,cache=writethrough,lazy-refcounts=on")
    .option("--compare <configs...>", "replay under each configuration too and print them side by side (engine options, plus cluster_size=/extended_l2= via a converted copy)")
    .option("--events <file>", "write every engine event as JSON lines (gzip-compressed when FILE ends in .gz)")
    .option("--chrome-trace <file>", "write a trace for Perfetto: requests with modelled latency, events per cause. FILE.pftrace or FILE.perfetto-trace: Perfetto's protobuf format (compact: a 1M-request replay with every event loads); other names: Trace Event Format JSON (also chrome://tracing). gzip when FILE ends in .gz")
    .option("--chrome-detail <level>", "what --chrome-trace holds: all (requests, time by cause, every engine decision), causes (no decisions: ~1/5 the size), requests (default: all until the file passes 100 MiB as JSON or 256 MiB as protobuf, then requests only, said on stderr)")
    .option("--from <n|time>", "--events/--chrome-trace start at request N (1-based), or at trace time TIME (2.5s, 300ms, 40us)")
    .option("--to <n|time>", "--events/--chrome-trace end after request N, or before trace time TIME")
    .option("--keep-data", "keep data payloads (default: metadata only)")
    .option("--top <n>", "slowest requests to explain", "10")
    .option("--fit <mode>", "requests past the virtual size: wrap, scale or drop (default: they fail and are counted as errors)")
    .option("--lenient", "skip malformed trace lines instead of stopping")
    .option("--device <id>", "keep one device of a multi-device trace")
    .option("--no-recommend", "skip the recommendations (and their verification replays)")
    .option("--crash-safety", "also explore the crash states at every sync (as `crashtest` does) and report beside performance whether a crash can corrupt the image or lose flushed data")
    .option("--validate", "also run the trace for real through qemu-io (scratch copy beside the image, same cache options) and print modelled vs measured time, per --compare configuration too")
    .option("--fill", "first write every range the trace reads, in a copy beside the image (qemu-io), and replay on that: reads of a fresh image then take the metadata path of a used one")
    .option("--validate-runs <n>", "qemu-io runs per configuration for --validate (default 3, as calibrate --runs); each request counts its fastest", undefined)
    .option("--cpu-idle <mode>", "for --validate: hold (default) keeps idle CPUs out of halt states while qemu-io runs, as calibrate does (PM QoS, needs root); free times the host as it is")
    .action(guarded((image: string, trace: string, flags: Flags) => run(image, trace, flags)));
}

function run(userImage: string, trace: string, flags: Flags): void {
  let image = userImage;
  if (flags.output !== "text" && flags.output !== "json") throw new ExitError(`replay: --output must be text or json, not '${flags.output}'`, 1);
  const top = Number(flags.top);
  if (!Number.isInteger(top) || top < 0 || top > 10000) throw new ExitError(`replay: --top must be a whole number 0..10000, not '${flags.top}'`, 1);
  const base = parseConfigOptions(flags.config ?? "");
  const profile = loadProfile(flags.profile);
  const variants = (flags.compare ?? []).map((c) => parseVariant(c, base));
  guardOutputs({ "--events": flags.events, "--chrome-trace": flags.chromeTrace }, image, [{ role: "the trace", path: trace }]);
  const facts = imageFacts(image);
  const virtualSize = facts.virtualSize;
  // Up front (a replay can take a while), and in the report's notes (its figures start from the repaired image).
  const dirty = facts.dirty ? dirtyImageNote(image) : null;
  if (dirty) process.stderr.write(`qcowdbg: note: ${dirty}\n`);
  if (flags.validate) checkValidateAvailable();
  const validateRuns = parseValidateRuns(flags.validateRuns);
  const cpuIdle = parseCpuIdle(flags.cpuIdle);
  const workload = openTrace(trace, flags, virtualSize);
  const progress = new Progress(trace, workload);
  const workDir = { path: "" };
  const cleanups: (() => void)[] = [() => progress.stop(), () => workload.close(), () => workDir.path && removeWorkDir(workDir.path)];
  try {
    if (flags.fill) {
      if (!qemuIoAvailable()) throw new ExitError("replay: --fill writes the read ranges with qemu-io, which is not installed", 1);
      const filled = filledCopy(userImage, "qcow2", workload.requests(), virtualSize);
      cleanups.push(() => filled.remove());
      image = filled.path;
      process.stderr.write(`qcowdbg: note: --fill: ${filled.ranges} read ranges (${filled.bytes} bytes) written into a copy of ${userImage}; replaying on it\n`);
    }
    const runOpts = (config: EngineConfig, label: string): ReplayRunOptions => ({
      config,
      profile,
      keepData: flags.keepData,
      topN: top,
      onProgress: progress.tracker(label),
    });
    // Converted copies by format options: variants in one pass that share them share the copy (it is only read).
    const copies = new Map<string, string>();
    const imageFor = (v: Variant): string => {
      if (!needsConversion(v.format)) return image;
      const key = formatKey(v.format);
      let img = copies.get(key);
      if (img === undefined) {
        if (!workDir.path) workDir.path = makeWorkDir();
        img = convertedCopy(image, v.format, workDir.path);
        copies.set(key, img);
      }
      return img;
    };
    const runVariant = (v: Variant): ReplaySummary => replayTrace(imageFor(v), workload.requests(), runOpts(v.config, v.label));
    // The recommendations replay the trace again: the baseline's pass keeps the parsed requests in packed columns
    // (about 10 bytes a request), so the verification pass reads them from memory instead of parsing the file again.
    const keep = flags.recommend && !variants.length;
    let tape: Tape | undefined;
    // Several variants in one pass over the trace (parsed once); progress follows the first. A verification
    // (`verify`) needs totals, not the slowest requests' explanations: its runs keep none.
    const verifyOpts = (v: Variant): ReplayRunOptions => ({ ...runOpts(v.config, v.label), onProgress: undefined, topN: 0 });
    // Verification runs started during the baseline (speculative-runs.ts), when it guessed them.
    let speculation: Speculation | AsideSpeculation | undefined;
    const runAll = (vs: Variant[], first?: LockstepRun, verify = false): (ReplaySummary | Error)[] => {
      // A variant whose converted copy cannot be made is an Error in its place; the others run in one pass.
      const prepared = vs.map((v): LockstepRun | Error => {
        try {
          return { imagePath: imageFor(v), opts: verify ? verifyOpts(v) : { ...runOpts(v.config, v.label), onProgress: undefined } };
        } catch (e) {
          return e instanceof Error ? e : new Error(String(e));
        }
      });
      const runs = [...(first ? [first] : []), ...prepared.filter((p): p is LockstepRun => !(p instanceof Error))];
      if (!first && runs[0]) {
        progress.stop();
        progress.label(vs.length > 1 ? `verify ${vs.length} what-ifs in one pass` : `verify ${vs[0]!.label}`);
        runs[0].opts.onProgress = progress.tracker("verify");
      }
      // Verification runs read the kept requests, and go to worker threads where there are cores for them.
      const res = verify && tape ? replayOnThreads(tape, runs) : replayLockstep(workload.requests(), runs);
      const out: (ReplaySummary | Error)[] = first ? [res.shift()!] : [];
      for (const p of prepared) out.push(p instanceof Error ? p : res.shift()!);
      return out;
    };
    // The verification runs: those the speculation guessed take its results, the others run here as before.
    const verifyAll = (vs: Variant[]): (ReplaySummary | Error)[] => {
      const spec = speculation;
      if (!spec) return runAll(vs, undefined, true);
      for (const [k, p] of spec.copies()) if (!copies.has(k)) copies.set(k, p);
      const done = vs.map((v) => spec.take(variantKey(v)));
      const rest = vs.filter((_, i) => !done[i]);
      if (isDebug()) process.stderr.write(`qcowdbg: debug: verification: ${vs.length - rest.length} of ${vs.length} runs from the ${spec.runs} started after ${spec.after} requests${spec.collectedAfter !== undefined ? `, this thread's from copies made by a worker after ${spec.collectedAfter}` : ""} (waited ${(spec.waitedMs / 1000).toFixed(2)} s for them; CPU: this thread ${threadCpuSeconds().toFixed(2)} s, the workers ${spec.workerCpuSeconds.toFixed(2)} s)${spec instanceof AsideSpeculation ? `; the baseline's worker idle ${spec.workerIdleSeconds.toFixed(2)} s; ${spec.dealt.join(", ")}` : ""}\n`);
      const ran = rest.length ? runAll(rest, undefined, true) : [];
      return done.map((d) => d ?? ran.shift()!);
    };

    if (variants.some((v) => needsConversion(v.format)) && !qemuImgAvailable()) throw new ExitError("replay: cluster_size/extended_l2 need a converted copy, and qemu-img is not installed", 1);
    // The baseline, with the event outputs; with --compare, every configuration in the same pass.
    const sinks = openSinks(flags, image, trace, cleanups);
    const baseRun: LockstepRun = { imagePath: image, opts: { ...runOpts(base, "replay"), perEventCosts: Boolean(flags.chromeTrace), onRequest: sinks } };
    const compared = variants.length ? runAll(variants, baseRun) : undefined;
    // Alone, the baseline parses here and replays on a second core where there is one (replay-thread.ts); with
    // recommendations and cores for workers, it replays here and the verification runs that a prefix of it
    // calls for start on the workers while it goes on (speculative-runs.ts).
    const canConvert = flags.recommend && !variants.length ? qemuImgAvailable() : false;
    const specThreads = keep ? whatIfThreads(SPECULATE_RUNS + 1) - 1 : 0;
    let first: ReplaySummary | Error;
    if (compared) first = compared[0]!;
    else if (specThreads > 0) {
      const guess = (partial: ReplaySummary): SpeculativeRun[] =>
        firstPassVariants(partial, base, canConvert).map((v) => ({ key: variantKey(v), imagePath: image, ...(needsConversion(v.format) ? { convert: v.format } : {}), opts: verifyOpts(v) }));
      const dir = () => (workDir.path ||= makeWorkDir());
      const so = { prefix: speculateAfter(), threads: specThreads, dir, guess };
      // With one worker (two cores), the baseline on the worker and the guessed runs dealt over both threads
      // (baseline-aside.ts), unless it has per-request outputs, which stay here, or the trace is too short to
      // guess from (a worker's start, ~40 ms, then costs more than it spares; 16 bytes a request is below any
      // format's smallest). With more, the runs spread over workers of their own, the baseline beside the parser.
      const aside = specThreads === 1 && canReplayAside(baseRun) && process.env.QCOWDBG_ASIDE !== "0" && fileSize(trace) >= so.prefix * 16;
      const r = aside ? replayBaselineAside(workload.requests(), baseRun, so) : replayBaselineSpeculating(workload.requests(), baseRun, so);
      speculation = r.speculation;
      if (speculation) cleanups.unshift(() => speculation?.close());
      first = r.baseline;
      tape = r.chunks;
    } else {
      const t = keep ? new RequestColumns() : undefined;
      first = replayStreamed(() => workload.requests(), baseRun, t);
      tape = t;
    }
    if (first instanceof Error) throw first;
    const baseline = first;
    progress.stop();
    const info: TraceInfo = { path: trace, format: workload.format, lines: workload.stats.lines, skipped: workload.stats.skipped, filtered: workload.stats.filtered, fit: flags.fit };
    // The report names the user's image: the filled copy is a temporary file, gone when the command ends.
    if (flags.fill) {
      baseline.image.path = userImage;
      info.filled = true;
    }
    if (sinks) sinks.close(baseline);
    if (baseline.requests > 0 && baseline.outOfRange === baseline.requests) throw new ExitError(allOutOfRange(baseline.requests, virtualSize, trace), 1);

    if (variants.length) {
      const rows = [compareRow(flags.config ?? "baseline", baseline), ...variants.map((v, i) => compareRow(v.label, summaryOf(compared![i + 1]!)))];
      if (flags.crashSafety) {
        rows[0]!.crashSafety = safetyText(exploreTrace(image, workload.requests(), { config: base }));
        variants.forEach((v, i) => (rows[i + 1]!.crashSafety = safetyText(exploreTrace(rows[i + 1]!.image, workload.requests(), { config: v.config }))));
      }
      progress.stop();
      const validation = flags.validate
        ? validate(image, rows.map((r, i) => ({ label: r.label, image: r.image, config: i === 0 ? base : variants[i - 1]!.config, modelledUs: r.totalUs })), () => workload.requests(), virtualSize, profile, validateRuns, (l) => process.stderr.isTTY && process.stderr.write(`qcowdbg: validating ${l} with qemu-io\n`), cpuIdle)
        : undefined;
      if (flags.output === "json") print(JSON.stringify({ schema: "qcowdbg-replay-compare/1", image, trace: info, profile: profile.name, configurations: rows, ...(validation ? { validation } : {}) }, null, 2));
      else print([`qcowdbg replay: ${flags.fill ? `${userImage} (filled copy)` : image} <- ${trace} (${info.format}, ${baseline.requests} requests), device profile ${profileLabel(profile)}`, "", ...formatCompareTable(rows), ...(validation ? ["", ...formatValidation(validation, rows[0]!.label)] : [])].join("\n"));
      return;
    }

    let recs: Recommendation[] = [];
    const notes: string[] = dirty ? [dirty] : [];
    if (flags.recommend) {
      recs = recommend({ baseline, config: base, canConvert, run: runVariant, runAll: verifyAll });
      if (!canConvert) notes.push("cluster size / extended L2 what-ifs were not tried: qemu-img is not installed");
      progress.stop();
    }
    const report = buildReport(info, { name: profile.name, description: profileLabel(profile, true) }, baseline, recs, notes, settingSources(base, baseline), flags.recommend ? undefined : NOT_COMPUTED);
    const crash = flags.crashSafety ? exploreTrace(image, workload.requests(), { config: base }) : null;
    let validation: Validation | undefined;
    if (flags.validate) validation = validate(image, [{ label: flags.config ?? "baseline", image, config: base, modelledUs: baseline.totalUs }], () => workload.requests(), virtualSize, profile, validateRuns, undefined, cpuIdle);
    const json = { ...report, ...(crash ? { crashSafety: summaryJson(crash) } : {}), ...(validation ? { validation } : {}) };
    if (flags.output === "json") print(JSON.stringify(json, null, 2));
    else print([...formatReport(report, { top }), ...(crash ? ["", `Crash safety: ${safetyText(crash)}`, ...formatSummary(crash, "").slice(1)] : []), ...(validation ? ["", ...formatValidation(validation, flags.config ?? "baseline")] : [])].join("\n"));
  } finally {
    for (const c of cleanups) c();
  }
}

/**
 * Requests of the baseline whose statistics choose the verification runs started early (speculative-runs.ts):
 * QCOWDBG_SPECULATE_AFTER when set (the tests' small traces), else 65,536 (about 0.2 s into a replay).
 */
function speculateAfter(): number {
  const n = Math.floor(Number(process.env.QCOWDBG_SPECULATE_AFTER));
  return n >= 1 ? n : 65536;
}
/** What the report says instead of recommendations under --no-recommend. */
const NOT_COMPUTED = "--no-recommend was given (run without it to have the advice computed and verified by replays)";
/** Verification runs usually guessed (two candidates and both together): the threads asked for them. */
const SPECULATE_RUNS = 3;

function summaryOf(r: ReplaySummary | Error): ReplaySummary {
  if (r instanceof Error) throw r;
  return r;
}

/** Every request missed the image: say why nothing was measured and how to fit the trace. */
function allOutOfRange(n: number, virtualSize: number, trace: string): string {
  return (
    `replay: all ${n} requests of ${trace} fall past the image's virtual size (${virtualSize} bytes): nothing was replayed. ` +
    "Map them onto the image with --fit wrap|scale|drop, or replay on an image as large as the trace's device (qemu-img create -f qcow2 IMG SIZE); " +
    "for a read-only trace on a fresh image add --fill, so its reads meet allocated clusters"
  );
}

function print(s: string): void {
  process.stdout.write(s + "\n");
}


function openTrace(trace: string, flags: Flags, virtualSize: number): Workload {
  const wo = traceOptions("replay: ", flags, virtualSize);
  // Each note once: --fill and the recommendations' passes read the trace again, and would repeat them.
  const said = new Set<string>();
  wo.onNotice = (m) => {
    if (said.has(m)) return;
    said.add(m);
    process.stderr.write(`qcowdbg: note: ${m}\n`);
  };
  return openWorkload(trace, wo);
}

const PID = 1;
const TID_REQUESTS = 1;
const TID_CAUSE = 10;
const TID_DECISIONS = 30;

type Sinks = ((ctx: RequestContext) => void) & { close(s: ReplaySummary): void };
type TraceWriter = Pick<ChromeTraceWriter, "processName" | "threadName" | "complete" | "instant" | "end">;
/**
 * --chrome-trace with the default detail holds every event up to this size, then requests only: Perfetto's UI
 * holds a trace in about 2 GB of browser memory, 2-4 times a protobuf trace's size, and its JSON importer failed on
 * 900 MB; chrome://tracing stops at 256 MB. A 1M-request replay then stays near 300 MB in either format.
 */
const JSON_BUDGET = 100 * 2 ** 20;
const PROTOBUF_BUDGET = 256 * 2 ** 20;

/** --events and --chrome-trace: both stream per request, while the request's events are still recorded. */
function openSinks(flags: Flags, image: string, trace: string, cleanups: (() => void)[]): Sinks | undefined {
  if (!flags.events && !flags.chromeTrace) return undefined;
  const jsonl = flags.events ? new OutputFile(flags.events) : null;
  const chromeFile = flags.chromeTrace ? new OutputFile(flags.chromeTrace) : null;
  if (jsonl) cleanups.push(() => jsonl.abort());
  if (chromeFile) cleanups.push(() => chromeFile.abort());
  // With the default detail, past its format's budget the rest holds requests only, so that a long replay stays
  // loadable in Perfetto's UI (see docs/json-output.md).
  const protobuf = flags.chromeTrace ? /\.(pftrace|perfetto-trace)(\.gz)?$/.test(flags.chromeTrace) : false;
  const budget = Number(process.env.QCOWDBG_TRACE_BUDGET ?? (protobuf ? PROTOBUF_BUDGET : JSON_BUDGET));
  let jsonBytes = 0;
  const perfetto = chromeFile && protobuf ? new PerfettoTraceWriter((b) => chromeFile.write(b)) : null;
  const chrome: TraceWriter | null =
    perfetto ??
    (chromeFile
      ? new ChromeTraceWriter((s) => {
          jsonBytes += s.length;
          chromeFile.write(s);
        })
      : null);
  if (chrome) {
    chrome.processName(PID, `qcowdbg replay ${image} <- ${trace}`);
    chrome.threadName(PID, TID_REQUESTS, "guest requests (modelled latency)", 0);
    CAUSE_NAMES.forEach((c, k) => chrome.threadName(PID, TID_CAUSE + k, `${c}: ${CAUSE_LABELS[k]}`, 1 + k));
    chrome.threadName(PID, TID_DECISIONS, "engine decisions (no I/O)", 99);
  }
  const window: TraceWindow = parseWindow(flags.from, flags.to);
  let detail = flags.chromeDetail ?? "all";
  if (detail !== "all" && detail !== "causes" && detail !== "requests") throw new ExitError(`replay: --chrome-detail must be all, causes or requests, not '${detail}'`, 1);
  const capped = flags.chromeDetail === undefined;
  const sink = ((ctx: RequestContext) => {
    if (!window.includes(ctx.index + 1, ctx.req.time)) return;
    const { outcome: o, engine } = ctx;
    const rec = engine.recorder;
    if (jsonl) {
      for (let i = o.firstEvent; i < o.endEvent; i++) {
        const e = rec.get(i);
        e.seq = ctx.firstSeq + (i - o.firstEvent);
        jsonl.write(formatJsonEvent(e) + "\n");
      }
    }
    if (chrome) {
      if (capped && detail !== "requests" && (perfetto ? perfetto.size : jsonBytes) > budget) {
        detail = "requests";
        const hint = protobuf ? "" : "name the file .pftrace for Perfetto's compact protobuf format, or ";
        process.stderr.write(
          `qcowdbg: note: --chrome-trace: the trace passed ${(budget / 2 ** 20).toFixed(0)} MiB at request ${ctx.index + 1}; from there on it holds requests only, so that Perfetto's UI can load it (${hint}pass --chrome-detail all to keep every event)\n`,
        );
      }
      const r = ctx.req;
      const args: Record<string, string | number> = { request: ctx.index + 1, source: r.source, op: r.op, offset: r.offset, length: r.length };
      CAUSE_NAMES.forEach((c, k) => {
        if (ctx.causes[k]) args[`us_${c}`] = ctx.causes[k]!;
      });
      if (o.error) args.error = o.error;
      const name = r.op === "flush" ? "flush" : `${r.op} ${hex(r.offset)}+${r.length}`;
      chrome.complete(PID, TID_REQUESTS, name, "request", ctx.startUs, ctx.latencyUs, args);
      const cost = ctx.model.eventCost!;
      const cause = ctx.model.eventCause!;
      let t = ctx.startUs;
      for (let i = o.firstEvent; i < o.endEvent && detail !== "requests"; i++) {
        const us = cost[i - o.firstEvent]!;
        const k0 = cause[i - o.firstEvent]!;
        if (detail === "causes" && !(us > 0 && k0 >= 0)) continue;
        const e = rec.get(i);
        e.seq = ctx.firstSeq + (i - o.firstEvent);
        const k = cause[i - o.firstEvent]!;
        if (us > 0 && k >= 0) {
          chrome.complete(PID, TID_CAUSE + k, eventName(e), CAUSE_NAMES[k]!, t, us, engineEventArgs(e));
          t += us;
        } else chrome.instant(PID, TID_DECISIONS, eventName(e), "engine", t, engineEventArgs(e));
      }
    }
  }) as Sinks;
  sink.close = (s: ReplaySummary) => {
    chrome?.end({ schema: protobuf ? "qcowdbg-perfetto-trace/1" : "qcowdbg-chrome-trace/1", image, trace, profile: s.profile, requests: s.requests, modelledUs: s.totalUs });
    chromeFile?.close();
    jsonl?.close();
  };
  return sink;
}

/** A progress bar on stderr while replays run, only when stderr is a terminal. */
class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly enabled = Boolean(process.stderr.isTTY);
  private total = 0;
  private current = "";

  constructor(
    private readonly trace: string,
    private readonly workload: Workload,
  ) {
    if (!this.enabled) return;
    // Text traces: lines; blktrace: records of at least 48 bytes. Parsers count both in stats.lines.
    this.total = workload.format === "blktrace" ? Math.ceil(fileSize(trace) / 48) : (countLines(trace) ?? 0);
  }

  label(s: string): void {
    this.current = s;
  }

  tracker(label: string): (done: number) => void {
    return (done: number) => {
      if (!this.enabled) return;
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { format: "{label} [{bar}] {percentage}% | {requests} requests | ETA {eta_formatted}", stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50 },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(Math.max(1, this.total), 0, { label: this.current || label, requests: 0 });
      }
      this.bar.update(Math.min(this.total, this.workload.stats.lines), { requests: done, label: this.current || label });
    };
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
    this.current = "";
  }
}

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}


