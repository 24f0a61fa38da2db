// The debugger session shared by the REPL and the TUI: one command language (gdb + qemu-io) over a timeline
// (a trace loaded: time travel, breakpoints) or over a bare image (an image browser whose I/O commands act on
// it). Plain TypeScript, no terminal: faces call execute()/start() and render the pane views it builds.
import type { EventRecorder } from "../../engine/events/recorder.js";
import { imageView, type ImageView } from "../../engine/image/image-view.js";
import type { Breakpoint, BreakpointSpec, StopReason, TimelineApi } from "../../engine/replay/timeline-api.js";
import { CrashProbe, crashBreakVerdicts, crashLines } from "./crash-probe.js";
import { COMMANDS, SessionError, helpText, resolveCommand, type CommandSpec } from "./command-table.js";
import { describeSpec, parseBreak, parseNumber, parseWatch } from "./breakpoint-spec.js";
import { examine, parseExamine, type ExamineFormat } from "./examine.js";
import { infoCommand } from "./info-commands.js";
import { splitLine } from "./split-line.js";
import { breakline } from "./qemu-io-commands.js";
import { IO_TABLE, findIoCommand } from "./qemu-io-context.js";
import type { ReplSession } from "./repl-session.js";
import { drain, repeated, slicedContinue, slicedRunTo, type Run, type RunProgress } from "./run-control.js";
import { SessionViews } from "./session-views.js";
import { eventLine } from "./event-words.js";
import { requestWords } from "./request-words.js";

import type { DeviceProfile } from "../../engine/replay/device-profiles.js";

export type SessionSource =
  | { kind: "trace"; timeline: TimelineApi; imagePath: string; tracePath: string; close?: () => void; profile?: DeviceProfile }
  | { kind: "image"; repl: ReplSession; imagePath: string };

export interface SessionOptions {
  /** Where command output goes (the REPL prints it; the TUI keeps the session's log). */
  out?: (line: string) => void;
  /** Lines of output kept for a face to show (default 500). */
  logLines?: number;
  /**
   * qemu-io scripts (`qcowdbg repl IMAGE`): a word qemu-io knows has qemu-io's meaning (`info`, `break`, `help`,
   * `d`, `c`, ...), blank lines do nothing, no prefixes; the debugger's commands take a leading ':' (":info l1").
   */
  qemuIo?: boolean;
}

/** What a command did, for a face deciding what to redraw. */
export interface Outcome {
  quit: boolean;
  /** The engine state may have changed (redraw the panes). */
  moved: boolean;
  /** A qemu-io command failed (qemu-io then exits 1). */
  failed?: boolean;
  stop?: StopReason;
}

/** A command that may take long: step through `run` (or drain it) and then call finish(). */
export interface PendingRun {
  run: Run;
  finish(reason: StopReason | null): Outcome;
}

export class Session {
  readonly timeline: TimelineApi | null;
  readonly repl: ReplSession | null;
  readonly imagePath: string;
  readonly tracePath?: string;
  readonly views: SessionViews;
  /** The last lines of output (the TUI's command pane). */
  readonly log: string[] = [];
  /** Lines printed since the session began (log keeps only the last ones). */
  printed = 0;
  /** Image mode: the last qemu-io command and the range of its events in the log. */
  lastIo: { line: string; first: number; end: number } | null = null;
  /** Image mode: the qemu-io commands run so far (the timeline pane lists them; the counters divide by them). */
  readonly ioLines: string[] = [];
  lastStop: StopReason = { kind: "start" };
  /**
   * The run stopped before a request (a breakpoint on offsets, a request, a latency): the panes show that request,
   * about to run, rather than the one before it.
   */
  focusNext = false;
  /** Stop text for the status line. */
  stopText = "";
  private readonly out: (line: string) => void;
  private readonly logLines: number;
  private lastLine = "";
  private lastSpec: CommandSpec | null = null;
  private xFormat: ExamineFormat = { count: 8, format: "x", unit: 8 };
  private xNext = -1;
  /** gdb-style numbers (1, 2, ...) -> timeline breakpoint ids. */
  private readonly numbers = new Map<number, number>();
  private nextNumber = 1;
  private readonly closeSource: () => void;
  private readonly qemuIo: boolean;

  /** The device profile the modelled latencies use (--profile; the default built-in when not given). */
  profile: DeviceProfile | undefined;

  constructor(source: SessionSource, opts: SessionOptions = {}) {
    this.imagePath = source.imagePath;
    this.profile = source.kind === "trace" ? source.profile : undefined;
    this.out = opts.out ?? (() => {});
    this.logLines = opts.logLines ?? 500;
    this.qemuIo = Boolean(opts.qemuIo) && source.kind === "image";
    if (source.kind === "trace") {
      this.timeline = source.timeline;
      this.repl = null;
      this.tracePath = source.tracePath;
      this.closeSource = source.close ?? (() => {});
      this.stopText = `${source.timeline.requestCount} requests loaded; nothing applied yet`;
    } else {
      this.timeline = null;
      this.repl = source.repl;
      this.closeSource = () => source.repl.close();
      this.stopText = "image mode: I/O commands act on the image";
    }
    this.views = new SessionViews(this);
  }

  /** The image as it stands at the current position (null after qemu-io's `close`). */
  image(): ImageView | null {
    if (this.timeline) return this.timeline.view().image;
    const img = this.repl!.ctx.image;
    return img ? imageView(img) : null;
  }

  recorder(): EventRecorder | null {
    return this.image()?.recorder ?? (this.repl ? this.repl.recorder : null);
  }

  print(line: string): void {
    this.printed++;
    this.out(line);
    this.log.push(line);
    if (this.log.length > this.logLines) this.log.splice(0, this.log.length - this.logLines);
  }

  /** Runs one line to completion (scripts, -c, the TUI's short commands). */
  execute(line: string): Outcome {
    const p = this.start(line);
    if ("quit" in p) return p;
    return p.finish(drain(p.run));
  }

  /**
   * Parses and starts one line. Short commands complete here (an Outcome); long ones come back as a
   * PendingRun for the face to drive in slices.
   */
  start(line: string): Outcome | PendingRun {
    if (this.qemuIo) {
      if (/^\s*:/.test(line)) line = line.replace(/^\s*:/, "");
      else return this.qemuIoLine(line);
    }
    let text = line;
    let argv = splitLine(line);
    if (!argv.length) {
      if (!this.lastLine || (this.lastSpec && !this.lastSpec.repeats)) return { quit: false, moved: false };
      text = this.lastLine;
      argv = splitLine(text);
      if (this.lastSpec?.name === "x" && this.xNext >= 0) argv = [argv[0]!, String(this.xNext)];
    } else this.lastLine = line;
    const r = resolveCommand(argv[0]!);
    this.lastSpec = r.spec ?? null;
    // qemu-io's own words for what it does not know, so image-mode scripts see the output they always saw.
    if (!r.spec && this.repl) return this.io(text, "", false);
    if (!r.spec) {
      this.print(r.error);
      return { quit: false, moved: false };
    }
    try {
      return this.dispatch(r.spec, argv, text);
    } catch (e) {
      // The debugger's own commands report what went wrong (a timeline refusing a spec, a jump out of range);
      // qemu-io's fail as qemu-io did, so scripts keep their exit status.
      if (e instanceof SessionError || (r.spec.group !== "io" && e instanceof Error)) {
        this.print(e.message);
        return { quit: false, moved: false };
      }
      throw e;
    }
  }

  private dispatch(spec: CommandSpec, argv: string[], text: string): Outcome | PendingRun {
    const args = argv.slice(1);
    const done = (moved = false): Outcome => ({ quit: false, moved });
    switch (spec.group) {
      case "io":
        return this.io(text.replace(/^\s*\S+/, spec.name), spec.name);
      case "run":
        return this.runCommand(spec.name, args);
    }
    switch (spec.name) {
      case "events":
      case "stats":
        if (this.timeline) {
          for (const l of spec.name === "events" ? this.views.eventLines(args.includes("all")) : this.views.counterLines()) this.print(l);
          return done();
        }
        return this.io(text.replace(/^\s*\S+/, spec.name), spec.name);
      case "break":
      case "watch":
        this.addBreak(spec.name === "watch", args);
        this.views.invalidate();
        return done(true);
      case "delete":
        this.deleteBreaks(args);
        this.views.invalidate();
        return done(true);
      case "info":
        for (const l of infoCommand(this, args)) this.print(l);
        return done();
      case "x": {
        const img = this.needImage();
        this.xFormat = parseExamine(argv[0]!, this.xFormat);
        if (!args.length && this.xNext < 0) throw new SessionError("Argument required (starting offset).");
        const { lines, next } = examine(img.file, args.length ? args[0]! : this.xNext, this.xFormat);
        this.xNext = next;
        for (const l of lines) this.print(l);
        return done();
      }
      case "where":
        for (const l of this.whereLines()) this.print(l);
        return done();
      case "crash":
        for (const l of crashLines(this.crashProbe(), this.needTimeline("crash"))) this.print(l);
        return done();
      case "help":
        for (const l of helpText(args[0])) this.print(l);
        if (this.qemuIo && !args.length) {
          this.print("qcowdbg repl IMAGE speaks qemu-io: its words (read, write, info, break, help, d, c, ...) mean what they mean");
          this.print("to qemu-io (`help` lists them); these commands take a leading ':' there, e.g. ':info l1', ':help'.");
        }
        return done();
      case "quit":
        return { quit: true, moved: false };
    }
    throw new SessionError(`Command "${spec.name}" is not available here.`);
  }

  /** A line of a qemu-io script: qemu-io's command when qemu-io knows the word, else a debugger command by its exact name. */
  private qemuIoLine(line: string): Outcome | PendingRun {
    const word = breakline(line)[0];
    if (word === undefined) return { quit: false, moved: false };
    if (!findIoCommand(word) && word !== "events" && word !== "stats") {
      const r = resolveCommand(word);
      const exact = r.spec && (r.spec.name === word.toLowerCase() || r.spec.aliases.includes(word.toLowerCase()) || r.spec.name === "x");
      if (exact) return this.start(":" + line);
    }
    return this.io(line, word);
  }

  private needImage(): ImageView {
    const img = this.image();
    if (!img) throw new SessionError("No image open (qemu-io `open FILE`).");
    return img;
  }

  needTimeline(what: string): TimelineApi {
    if (!this.timeline) throw new SessionError(`The program is not being run: ${what} needs a trace (qcowdbg repl IMAGE TRACE).`);
    return this.timeline;
  }

  private io(text: string, name: string, listed = true): Outcome {
    if (this.timeline) throw new SessionError(`"${name}" would change the image behind the timeline's back: I/O commands work without a trace (qcowdbg repl IMAGE).`);
    this.views.beginCommand();
    const rec = this.recorder();
    const first = rec?.length ?? 0;
    try {
      const r = this.repl!.run(text);
      return { quit: r.quit, moved: true, ...(r.ret < 0 ? { failed: true } : {}) };
    } finally {
      if (listed && name !== "events" && name !== "stats") {
        const after = this.recorder();
        this.lastIo = { line: text.trim(), first: after === rec ? first : 0, end: after?.length ?? 0 };
        this.ioLines.push(text.trim());
      }
      this.views.endCommand();
    }
  }

  private runCommand(name: string, args: string[]): PendingRun {
    const tl = this.needTimeline(`"${name}"`);
    const count = () => (args[0] === undefined ? 1 : parseNumber(args[0], "count"));
    let run: Run;
    switch (name) {
      case "step":
        run = repeated(() => tl.step(), count());
        break;
      case "next":
        run = repeated(() => tl.next(), count());
        break;
      case "reverse-step":
        run = repeated(() => tl.reverseStep(), count());
        break;
      case "reverse-next":
        run = repeated(() => tl.reverseNext(), count());
        break;
      case "continue":
        run = slicedContinue(tl, true);
        break;
      case "reverse-continue":
        run = slicedContinue(tl, false);
        break;
      default: {
        const n = parseNumber(args[0], "request number");
        if (n > tl.requestCount) throw new SessionError(`Request ${n} is past the end of the trace (${tl.requestCount} requests).`);
        run = slicedRunTo(tl, n);
      }
    }
    this.views.beginCommand();
    return { run, finish: (reason) => this.finishRun(reason) };
  }

  private finishRun(reason: StopReason | null): Outcome {
    const stop: StopReason = reason ?? { kind: "step", detail: "interrupted" };
    this.lastStop = stop;
    const spec = stop.kind === "breakpoint" ? this.timeline!.breakpoints().find((b) => b.id === stop.breakpoint)?.spec : undefined;
    this.focusNext = this.timeline!.position().event === 0 && (spec?.kind === "offset" || spec?.kind === "predicate" || spec?.kind === "latency");
    this.views.endCommand();
    this.stopText = this.describeStop(stop, reason === null);
    for (const l of this.whereLines()) this.print(l);
    return { quit: false, moved: true, stop };
  }

  /** Progress text of a run in flight. */
  progressText(p: RunProgress): string {
    return `running... ${p.done}/${p.total}`;
  }

  private addBreak(watch: boolean, args: string[]): void {
    const tl = this.needTimeline(watch ? "watch" : "break");
    const spec = watch ? parseWatch(args) : args[0] === "crash" ? this.crashBreak(args[1]) : parseBreak(args);
    const bp = watch ? tl.addWatch(spec as Parameters<TimelineApi["addWatch"]>[0]) : tl.addBreakpoint(spec as Parameters<TimelineApi["addBreakpoint"]>[0]);
    const n = this.nextNumber++;
    this.numbers.set(n, bp.id);
    this.print(`${watch ? "Watchpoint" : "Breakpoint"} ${n}: ${describeSpec(bp.spec, bp.watch)}`);
  }

  /** The crash probe (a replay with the host write log on), made on first use. */
  private probe: CrashProbe | null = null;
  crashProbe(): CrashProbe {
    const tl = this.needTimeline("crash");
    if (!this.probe) {
      const img = tl.view().image;
      this.probe = new CrashProbe(this.imagePath, { ...img.config }, (i) => tl.request(i));
    }
    return this.probe;
  }

  private crashBreak(word: string | undefined): BreakpointSpec {
    let v: ReturnType<typeof crashBreakVerdicts>;
    try {
      v = crashBreakVerdicts(word);
    } catch (e) {
      throw new SessionError((e as Error).message);
    }
    const probe = this.crashProbe();
    return { kind: "predicate", describe: v.describe, test: (_r, index) => probe.wouldBe(index, v.verdicts) };
  }

  private deleteBreaks(args: string[]): void {
    const tl = this.needTimeline("delete");
    const which = args.length ? args.map((a) => parseNumber(a, "breakpoint number")) : [...this.numbers.keys()];
    for (const n of which) {
      const id = this.numbers.get(n);
      if (id === undefined) throw new SessionError(`No breakpoint number ${n}.`);
      tl.deleteBreakpoint(id);
      this.numbers.delete(n);
    }
  }

  /** User breakpoints with their gdb numbers. */
  breakpoints(): { number: number; bp: Breakpoint }[] {
    if (!this.timeline) return [];
    const byId = new Map(this.timeline.breakpoints().map((b) => [b.id, b]));
    const out: { number: number; bp: Breakpoint }[] = [];
    for (const [n, id] of this.numbers) {
      const bp = byId.get(id);
      if (bp) out.push({ number: n, bp });
    }
    return out;
  }

  numberOf(timelineId: number | undefined): number | undefined {
    for (const [n, id] of this.numbers) if (id === timelineId) return n;
    return undefined;
  }

  private describeStop(r: StopReason, interrupted: boolean): string {
    if (interrupted) return "Interrupted.";
    const tl = this.timeline!;
    const ev = this.views.focus().latest;
    // The timeline's detail starts with the position, which the status line shows already.
    const detail = (r.detail ?? "").replace(/^(request \d+, event \d+|before request \d+): /, "");
    switch (r.kind) {
      case "breakpoint":
      case "watchpoint": {
        const n = this.numberOf(r.breakpoint);
        const bp = this.breakpoints().find((b) => b.number === n);
        const what = r.kind === "breakpoint" && bp?.bp.spec.kind === "event" && ev ? eventLine(ev) : detail;
        return `${r.kind === "watchpoint" ? "Watchpoint" : "Breakpoint"} ${n ?? "?"}: ${what}`;
      }
      case "end":
        return `The trace ended: ${tl.requestCount} requests replayed.`;
      case "start":
        return "At the start of the trace: nothing applied.";
      case "target":
        return `Reached request ${tl.position().request}.`;
      default: {
        const f = this.views.focus();
        if (f.inProgress && ev) return `Stepped: ${eventLine(ev)}`;
        return f.index >= 0 ? `Request ${f.index + 1} ${f.index < f.applied ? "done" : "next"}.` : "Stepped.";
      }
    }
  }

  /** Where the replay stands, as gdb prints a frame. */
  whereLines(): string[] {
    if (!this.timeline) return ["Image mode: no trace loaded."];
    const f = this.views.focus();
    const lines = [this.stopText];
    if (f.index >= 0) {
      const state = f.inProgress ? `in progress, ${f.events.length} event${f.events.length === 1 ? "" : "s"} shown` : f.index < f.applied ? "done" : "next";
      lines.push(`request ${f.index + 1}/${this.timeline.requestCount} ${requestWords(this.timeline.request(f.index))} [${state}]`);
    }
    return lines;
  }

  /** Completion candidates for a partial line (the REPL's Tab). */
  complete(line: string): string[] {
    // qemu-io's words at the qemu-io> prompt (qemuio_complete_command); the debugger's behind ':'.
    if (this.qemuIo && !line.startsWith(":")) {
      if (/\s/.test(line)) return [];
      return [...IO_TABLE.map((c) => c.name), "events", "stats"].filter((n) => n.startsWith(line));
    }
    if (this.qemuIo) return this.debuggerComplete(line.slice(1)).map((c) => (/\s/.test(line) ? c : ":" + c));
    return this.debuggerComplete(line);
  }

  private debuggerComplete(line: string): string[] {
    const words = line.split(/\s+/);
    if (words.length <= 1) return COMMANDS.flatMap((c) => [c.name, ...c.aliases]).filter((n) => n.startsWith(words[0] ?? ""));
    return this.views.completeArgument(words);
  }

  /** Closes the image (image mode: as qemu-io does at exit, flushing) and lets go of the timeline. */
  close(): void {
    this.probe?.close();
    this.closeSource();
  }
}
