// The debugger's view of crash safety: `crash` (the crash states at the current step), the volatile writes for
// the TUI's pane, and the breakpoints "stop where a crash could corrupt / lose flushed data". The host write log
// is rebuilt on demand by replaying the trace with the log on (the timeline itself never pays for it).
import type { EngineConfig } from "../../engine/image/engine-config.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import type { TimelineApi } from "../../engine/replay/timeline-api.js";
import { CrashExplorer, type PointReport } from "../../engine/crash/crash-explorer.js";
import { describeOp, formatPoint, VERDICT_TEXT } from "../../engine/crash/crash-report.js";
import { VERDICTS, type Verdict } from "../../engine/crash/crash-verdict.js";
import type { HostOp } from "../../engine/crash/host-write-log.js";

export interface CrashAtStep {
  step: number;
  points: PointReport[];
  /** Writes issued since the last completed sync, as the disk holds them at this step. */
  volatile: HostOp[];
  /** Per verdict, the first state's detail and blame at this step. */
  sightings: Partial<Record<Verdict, { detail: string; lost: HostOp[]; ahead: HostOp[] }>>;
}

/** Replays requests [0, upto) with the log on, exploring only request `upto` (1-based step) and its end. */
export class CrashProbe {
  private explorer: CrashExplorer | null = null;
  /** Requests the explorer has applied. */
  private applied = 0;

  constructor(
    readonly imagePath: string,
    readonly config: Partial<EngineConfig>,
    readonly request: (i: number) => GuestRequest,
  ) {}

  private fresh(): CrashExplorer {
    this.explorer?.close();
    this.applied = 0;
    this.explorer = new CrashExplorer(this.imagePath, { config: this.config });
    this.explorer.exploring = false;
    return this.explorer;
  }

  /** An explorer that has applied exactly `n` requests (reused when the caller moves forward). */
  private advanceTo(n: number): CrashExplorer {
    let ex = this.explorer;
    if (!ex || this.applied > n) ex = this.fresh();
    ex.exploring = false;
    while (this.applied < n) ex.apply(this.request(this.applied++));
    return ex;
  }

  /** The crash states during step `step` (1-based; its syncs) and right after it. */
  at(step: number): CrashAtStep {
    const out: CrashAtStep = { step, points: [], volatile: [], sightings: {} };
    if (step < 1) return out;
    const ex = this.advanceTo(step - 1);
    const before = ex.points.length;
    ex.exploring = true;
    ex.opts.onState = (s) => {
      const v = s.verdict.verdict;
      if (v !== "clean" && !out.sightings[v]) out.sightings[v] = { detail: s.verdict.detail, lost: s.verdict.lost, ahead: s.verdict.ahead };
    };
    ex.apply(this.request(this.applied++));
    ex.explore("step");
    ex.exploring = false;
    ex.opts.onState = undefined;
    out.points = ex.points.slice(before);
    out.volatile = ex.log.volatile.slice();
    return out;
  }

  /** Breakpoint test: would a crash during request `index` (0-based, about to run) be as bad as `verdicts`? */
  wouldBe(index: number, verdicts: readonly Verdict[]): boolean {
    const r = this.at(index + 1);
    return r.points.some((p) => verdicts.some((v) => p.counts[v] > 0));
  }

  close(): void {
    this.explorer?.close();
    this.explorer = null;
  }
}

/** `crash` in the REPL and the TUI: the verdicts of every crash point at the current step. */
export function crashLines(probe: CrashProbe, timeline: TimelineApi): string[] {
  const step = timeline.position().request;
  if (step === 0) return ["At the start of the trace: nothing written, nothing to lose."];
  const r = probe.at(step);
  const lines: string[] = [];
  if (!r.points.length) lines.push(`step ${step}: no volatile writes; a crash now leaves the disk as the last sync did.`);
  for (const p of r.points) lines.push(formatPoint(p));
  for (const v of [...VERDICTS].reverse()) {
    const s = r.sightings[v];
    if (!s) continue;
    lines.push(`  ${v}: ${VERDICT_TEXT[v]}`);
    if (s.detail) lines.push(`    ${s.detail}`);
    for (const op of s.lost.slice(0, 3)) lines.push(`    lost:      ${describeOp(op)}`);
    for (const op of s.ahead.slice(0, 3)) lines.push(`    persisted: ${describeOp(op)}`);
  }
  lines.push(`volatile now: ${r.volatile.length} writes since the last sync`);
  return lines;
}

export function volatileLines(probe: CrashProbe, timeline: TimelineApi, max: number): string[] {
  const step = timeline.position().request;
  if (step === 0) return ["(nothing written yet)"];
  const ops = probe.at(step).volatile;
  if (!ops.length) return ["(none: everything written is synced)"];
  const lines = ops.slice(-max).map(describeOp);
  if (ops.length > max) lines.unshift(`... ${ops.length - max} earlier`);
  return lines;
}

/** "break crash corrupt" / "break crash data-lost": the verdicts that stop the run. */
export function crashBreakVerdicts(word: string | undefined): { verdicts: Verdict[]; describe: string } {
  if (word === undefined || word === "corrupt" || word === "corruption")
    return { verdicts: ["corrupt"], describe: "a crash could corrupt the image" };
  if (word === "data-lost" || word === "data" || word === "lose" || word === "lost")
    return { verdicts: ["data-lost", "garbage"], describe: "a crash could lose flushed data" };
  throw new Error(`break crash: '${word}' is not corrupt or data-lost`);
}
