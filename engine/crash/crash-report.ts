// Words for crash exploration results: one line per host write, the summary table `crashtest` prints, and the
// JSON shape of both. Shared by the CLI, the REPL/TUI `crash` command and `replay`'s crash-safety line.
import { CAUSE_TEXT, type HostOp } from "./host-write-log.js";
import { FAILING, VERDICTS, rank, type Verdict } from "./crash-verdict.js";
import type { CrashSummary, PointReport } from "./crash-explorer.js";
import { exactBytes } from "../units/size-text.js";
import type { SafetyCost } from "./safety-costs.js";
import { formatUs } from "../replay/human-units.js";

export const VERDICT_TEXT: Record<Verdict, string> = {
  clean: "clean",
  leaks: "leaks only (harmless: qemu-img check -r leaks reclaims them)",
  dirty: "dirty (lazy refcounts: qemu-img check -r all rebuilds the refcounts and clears the bit)",
  garbage: "garbage visible (guest reads bytes it never wrote or had)",
  "data-lost": "guest data lost (a completed flush no longer reads back)",
  corrupt: "corrupt (refcount too low, L2 pointing at a free or foreign cluster, or COPIED wrong)",
};

export function describeOp(op: HostOp): string {
  const where = op.target === 1 ? "data file " : "";
  return `#${op.seq} ${CAUSE_TEXT[op.cause]} at ${where}0x${op.offset.toString(16)} (${exactBytes(op.length)}, step ${op.request})`;
}

export interface OpJson {
  seq: number;
  step: number;
  cause: string;
  file: "image" | "data-file";
  offset: number;
  bytes: number;
}

export function opJson(op: HostOp): OpJson {
  return { seq: op.seq, step: op.request, cause: op.cause, file: op.target === 1 ? "data-file" : "image", offset: op.offset, bytes: op.length };
}

export function failing(s: CrashSummary): boolean {
  return FAILING.some((v) => (s.counts[v] ?? 0) > 0);
}

/** A number of states that may be astronomically large. */
export function count(n: number): string {
  if (!Number.isFinite(n) || n >= 1e15) return n === Infinity ? "more than 2^1023" : `~${n.toExponential(2)}`;
  return n.toLocaleString("en-US");
}

export function formatSummary(s: CrashSummary, title: string): string[] {
  const out = [title];
  out.push(`  ${s.steps} steps, ${s.hostWrites} host writes, ${s.syncs} syncs; ${s.points} crash points (${s.exhaustivePoints} exhaustive, ${s.points - s.exhaustivePoints} sampled)`);
  out.push(`  states checked: ${count(s.statesChecked)} of ${count(s.statesPossible)} possible`);
  out.push(`  worst verdict: ${s.worst}`);
  out.push("");
  for (const v of [...VERDICTS].reverse()) {
    const seen = s.verdicts[v];
    if (!seen) continue;
    out.push(`  ${v.padEnd(9)} ${String(s.counts[v]).padStart(7)} states  first at step ${seen.step}${seen.source ? ` (${seen.source})` : ""}, ${seen.at === "sync" ? "before a sync" : seen.at === "end" ? "at the end of the trace" : "after the step"}`);
    if (v === "clean") continue;
    out.push(`            ${VERDICT_TEXT[v]}`);
    if (seen.detail) out.push(`            ${seen.detail}`);
    for (const op of seen.lost.slice(0, 4)) out.push(`            lost:      ${describeOp(op)}`);
    if (seen.lost.length > 4) out.push(`            lost:      ... ${seen.lost.length - 4} more`);
    for (const op of seen.ahead.slice(0, 4)) out.push(`            persisted: ${describeOp(op)}`);
    if (seen.ahead.length > 4) out.push(`            persisted: ... ${seen.ahead.length - 4} more`);
  }
  return out;
}

export function summaryJson(s: CrashSummary): object {
  return {
    steps: s.steps,
    hostWrites: s.hostWrites,
    syncs: s.syncs,
    points: s.points,
    exhaustivePoints: s.exhaustivePoints,
    statesChecked: s.statesChecked,
    statesPossible: Number.isFinite(s.statesPossible) ? s.statesPossible : null,
    worst: s.worst,
    failing: failing(s),
    counts: s.counts,
    verdicts: Object.fromEntries(
      Object.entries(s.verdicts).map(([v, seen]) => [v, { firstStep: seen.step, source: seen.source, at: seen.at, states: seen.count, detail: seen.detail, lost: seen.lost.map(opJson), persisted: seen.ahead.map(opJson) }]),
    ),
  };
}

/** One point's verdicts on a line (the REPL/TUI `crash` command). */
export function formatPoint(p: PointReport): string {
  const parts = VERDICTS.filter((v) => p.counts[v]).map((v) => `${p.counts[v]} ${v}`);
  return `step ${p.step} ${p.at === "sync" ? "before sync" : p.at === "end" ? "now" : "after step"}: ${p.volatile.length} volatile writes, ${p.checked} of ${count(p.possible)} states${p.exhaustive ? "" : " (sampled)"}: ${parts.join(", ")}`;
}

export function worstOf(vs: Verdict[]): Verdict {
  return vs.reduce<Verdict>((w, v) => (rank(v) > rank(w) ? v : w), "clean");
}

/** One cell: is this configuration crash-safe on this trace? (replay's "crash safety" beside performance). */
export function safetyText(s: CrashSummary): string {
  const seen = s.verdicts[s.worst];
  const where = seen && s.worst !== "clean" ? ` from step ${seen.step}` : "";
  return `${failing(s) ? "UNSAFE" : "safe"}: ${s.worst}${where} (${count(s.statesChecked)} states)`;
}

/** `crashtest --profile`: each safety setting's modelled time beside its verdict (the tested one first). */
export function formatSafetyCosts(rows: SafetyCost[], testedLabel: string, profile: string): string[] {
  const base = rows[0]!.modelledUs;
  const cells = rows.map((r) => [
    r.tested ? `${testedLabel} (tested)` : r.label,
    formatUs(r.modelledUs),
    r.tested ? "" : base > 0 ? `${r.modelledUs >= base ? "+" : ""}${(((r.modelledUs - base) / base) * 100).toFixed(1)}%` : "",
    safetyText(r.crash),
  ]);
  const head = ["configuration", "modelled time", "vs tested", "crash safety"];
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `  ${c[0]!.padEnd(w[0]!)}  ${c[1]!.padStart(w[1]!)}  ${c[2]!.padStart(w[2]!)}  ${c[3]}`;
  return [`What safety costs on this host (device profile ${profile}, the whole trace):`, line(head), ...cells.map(line)];
}

export function safetyCostsJson(rows: SafetyCost[], testedLabel: string): object[] {
  return rows.map((r) => ({ config: r.tested ? testedLabel : r.label, tested: r.tested, modelledSeconds: r.modelledUs / 1e6, worst: r.crash.worst, failing: failing(r.crash), counts: r.crash.counts, statesChecked: r.crash.statesChecked }));
}
