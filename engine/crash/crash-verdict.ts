// The verdict on one crash state: build the crashed image in memory (the durable content plus the persisted
// subset of the volatile writes, on a shadow layer), run our own `check` on it, read back the guest clusters the
// crash could change, and name the writes whose loss (or reordering) made the state bad.
import * as fs from "node:fs";
import * as path from "node:path";
import { u32 } from "../format/bytes.js";
import { checkImage } from "../check/check.js";
import { EventRecorder } from "../events/recorder.js";
import { Qcow2Image } from "../image/qcow2-image.js";
import type { EngineConfig } from "../image/engine-config.js";
import type { Storage } from "../storage/storage.js";
import { isMetadataCause, type HostOp } from "./host-write-log.js";
import { sectorHash, type GuestHistory } from "./guest-history.js";
import type { CrashState } from "./crash-states.js";
import type { Suspects } from "./suspect-clusters.js";

export type Verdict = "clean" | "leaks" | "dirty" | "garbage" | "data-lost" | "corrupt";
/** Worst last: the order verdicts are ranked in. */
export const VERDICTS: readonly Verdict[] = ["clean", "leaks", "dirty", "garbage", "data-lost", "corrupt"];
export const rank = (v: Verdict): number => VERDICTS.indexOf(v);
/** Verdicts that make `crashtest` exit non-zero: the state lost what a completed flush promised. */
export const FAILING: readonly Verdict[] = ["garbage", "data-lost", "corrupt"];

export interface StateVerdict {
  verdict: Verdict;
  /** One line: what check found, or which guest range reads what. */
  detail: string;
  /** Volatile writes whose loss (or tearing) caused the verdict. */
  lost: HostOp[];
  /** Writes that persisted although they were issued after a lost one: the reordering. */
  ahead: HostOp[];
  /** What `check` alone says of the state (clean, leaks, dirty or corrupt), before the guest data is read. */
  structural: Verdict;
  /** The check's counters (when it ran to the end). */
  corruptions: number;
  leaks: number;
}

interface Structural {
  verdict: Verdict;
  detail: string;
  corruptions: number;
  leaks: number;
}

/** A read-only view that never closes what it views (the crashed layer outlives every image opened on it). */
class View implements Storage {
  readonly writable = false;
  constructor(readonly inner: Storage) {}
  get name(): string {
    return this.inner.name;
  }
  size(): number {
    return this.inner.size();
  }
  read(buf: Uint8Array, offset: number): number {
    return this.inner.read(buf, offset);
  }
  write(): void {
    throw new Error(`${this.inner.name}: crash state is read-only`);
  }
  truncate(): void {
    throw new Error(`${this.inner.name}: crash state is read-only`);
  }
  flush(): void {}
  close(): void {}
}

export interface JudgeContext {
  path: string;
  config: EngineConfig;
  durable: Storage;
  durableData: Storage | null;
  history: GuestHistory;
  /** The hash a guest sector had before the replay. */
  original(sector: number): number;
  clusterSize: number;
  virtualSize: number;
}

/** Judges the states of one point (one volatile set); structural verdicts are shared by states that persist the
 *  same metadata writes. */
export class PointJudge {
  private structural = new Map<string, Structural>();
  static checks = 0;
  private readonly meta: number[];
  private readonly structuralOps: Set<number>;
  /** guest cluster -> the volatile ops that may change what it reads; its read-back depends on those alone. */
  private readonly opsOfCluster = new Map<number, number[]>();
  private readonly readCache = new Map<string, ClusterRead>();

  constructor(
    readonly ctx: JudgeContext,
    readonly ops: readonly HostOp[],
    readonly suspects: Suspects,
  ) {
    this.meta = [];
    // `check` reads the metadata writes, and of the others only how far they grow the files.
    ops.forEach((op, i) => {
      if (op.kind === "write" && isMetadataCause(op.cause)) this.meta.push(i);
    });
    this.structuralOps = new Set(this.meta);
    for (const [i, clusters] of suspects.byOp)
      for (const c of clusters) {
        let l = this.opsOfCluster.get(c);
        if (!l) this.opsOfCluster.set(c, (l = []));
        l.push(i);
      }
  }

  /** The verdict of a state; with `blame`, also the writes that caused it (costs extra checks: see addBlame). */
  judge(state: CrashState, blame = true): StateVerdict {
    const s = this.structuralOf(state);
    let verdict = s.verdict;
    let detail = s.detail;
    let bad: number[] = [];
    if (verdict !== "corrupt" && this.suspects.clusters.length) {
      const d = this.dataVerdict(state);
      if (d.verdict !== "clean" && rank(d.verdict) > rank(verdict)) {
        verdict = d.verdict;
        detail = d.detail;
      }
      bad = d.bad;
    }
    const out: StateVerdict = { verdict, detail, lost: [], ahead: [], structural: s.verdict, corruptions: s.corruptions, leaks: s.leaks };
    this.bad.set(out, bad);
    if (blame) this.addBlame(state, out);
    return out;
  }

  private bad = new WeakMap<StateVerdict, number[]>();

  /** Names the lost and persisted-ahead writes of a verdict judge() returned for `state`. */
  addBlame(state: CrashState, out: StateVerdict): void {
    if (out.verdict !== "clean" && !out.lost.length && !out.ahead.length) this.blame(state, out, this.bad.get(out) ?? []);
  }

  /** Applies the persisted writes to the durable layers, runs `f`, and puts the layers back (an undo log of
   *  the bytes overwritten: cheaper than a snapshot of a large shadow per state). */
  inState<T>(state: CrashState, f: () => T, onlyMeta = false): T {
    const { durable, durableData } = this.ctx;
    const undo: { to: Storage; offset: number; old: Uint8Array }[] = [];
    const size0 = durable.size(), size1 = durableData?.size() ?? 0;
    try {
      this.ops.forEach((op, i) => {
        if (op.kind !== "write") return;
        if (onlyMeta && !this.structuralOps.has(i)) return;
        const data = state.keep[i] ? op.data! : state.torn === i ? op.data!.subarray(0, 512) : null;
        if (!data) return;
        const to = op.target === 1 && durableData ? durableData : durable;
        const old = new Uint8Array(data.length);
        to.read(old, op.offset);
        undo.push({ to, offset: op.offset, old });
        to.write(data, op.offset);
      });
      if (onlyMeta) {
        // The files end where the furthest persisted write ends, whatever its content.
        const [end0, end1] = this.ends(state);
        if (end0 > durable.size()) durable.truncate(end0);
        if (durableData && end1 > durableData.size()) durableData.truncate(end1);
      }
      return f();
    } finally {
      for (let k = undo.length - 1; k >= 0; k--) undo[k]!.to.write(undo[k]!.old, undo[k]!.offset);
      if (durable.size() > size0) durable.truncate(size0);
      if (durableData && durableData.size() > size1) durableData.truncate(size1);
    }
  }

  /** Where the image file and the data file end in a state. */
  private ends(state: CrashState): [number, number] {
    const e: [number, number] = [this.ctx.durable.size(), this.ctx.durableData?.size() ?? 0];
    this.ops.forEach((op, i) => {
      if (op.kind !== "write" || !(state.keep[i] || state.torn === i)) return;
      const end = op.offset + (state.keep[i] ? op.length : Math.min(512, op.length));
      if (end > e[op.target]) e[op.target] = end;
    });
    return e;
  }

  private metaKey(state: CrashState): string {
    let k = this.ends(state).join(",") + ":";
    for (const i of this.meta) k += state.torn === i ? "t" : state.keep[i] ? "1" : "0";
    return k;
  }

  private structuralOf(state: CrashState): Structural {
    const key = this.metaKey(state);
    let s = this.structural.get(key);
    if (!s) {
      s = this.inState(state, () => this.check(), true);
      PointJudge.checks++;
      this.structural.set(key, s);
    }
    return s;
  }

  private check(): Structural {
    const store = new View(this.ctx.durable);
    const head = new Uint8Array(88);
    store.read(head, 0);
    // The dirty bit (incompatible bit 0, set by lazy refcounts): any read-write open repairs the refcounts first.
    const dirty = u32(head, 4) >= 3 && (u32(head, 76) & 1) !== 0; // (a version 2 header has no feature fields)
    try {
      // A relative data file or backing name resolves next to the image, wherever we run from.
      const near = (p: string) => fs.existsSync(p) || (!path.isAbsolute(p) && fs.existsSync(path.join(path.dirname(this.ctx.path), p)));
      const r = checkImage(store, this.ctx.path, { exists: near });
      const res = r.result;
      if (dirty) return { verdict: "dirty", detail: `dirty bit set: ${res.corruptions} refcount errors, ${res.leaks} leaks until \`qemu-img check -r all\` (or a read-write open) rebuilds the refcounts`, corruptions: res.corruptions, leaks: res.leaks };
      if (r.failed) return { verdict: "corrupt", detail: `check failed: ${r.failed}`, corruptions: res.corruptions, leaks: res.leaks };
      const first = r.messages.find((m) => m.line.startsWith("ERROR"))?.line;
      if (res.corruptions) return { verdict: "corrupt", detail: `${res.corruptions} corruptions${first ? ` (${first.trim()})` : ""}`, corruptions: res.corruptions, leaks: res.leaks };
      if (res.leaks) return { verdict: "leaks", detail: `${res.leaks} leaked clusters`, corruptions: 0, leaks: res.leaks };
      return { verdict: "clean", detail: "", corruptions: 0, leaks: 0 };
    } catch (e) {
      return { verdict: "corrupt", detail: `does not open: ${(e as Error).message}`, corruptions: 0, leaks: 0 };
    }
  }

  /** The read-back of one guest cluster in a state: cached by the bits of the ops that may change it. */
  private clusterKey(c: number, state: CrashState): string {
    let k = `${c}:`;
    for (const i of this.opsOfCluster.get(c) ?? []) k += state.torn === i ? "t" : state.keep[i] ? "1" : "0";
    return k;
  }

  /** Judges every suspect cluster of a state against the guest's history; reads the crashed image only for the
   *  clusters whose relevant writes no earlier state of this point had in the same combination. */
  private dataVerdict(state: CrashState): { verdict: Verdict; detail: string; bad: number[] } {
    const keys = this.suspects.clusters.map((c) => this.clusterKey(c, state));
    const missing = this.suspects.clusters.filter((_, k) => !this.readCache.has(keys[k]!));
    if (missing.length) {
      const err = this.inState(state, () => this.readBack(missing, state));
      if (err) return err;
    }
    let lost = 0, garbage = 0;
    let firstLost = -1, firstGarbage = -1;
    const bad: number[] = [];
    this.suspects.clusters.forEach((c, k) => {
      const r = this.readCache.get(keys[k]!)!;
      if (r.error) {
        bad.push(c);
        return;
      }
      if (r.lost && (firstLost < 0 || r.firstLost < firstLost)) firstLost = r.firstLost;
      if (r.garbage && (firstGarbage < 0 || r.firstGarbage < firstGarbage)) firstGarbage = r.firstGarbage;
      lost += r.lost;
      garbage += r.garbage;
      if (r.lost || r.garbage) bad.push(c);
    });
    // A guest read that fails (e.g. an old compressed entry over a cluster since reused) is garbage to the guest:
    // an I/O error where its data was; `check` alone decides whether the image is corrupt.
    const failed = this.suspects.clusters.find((_, k) => this.readCache.get(keys[k]!)!.error);
    if (failed !== undefined) return { verdict: "garbage", detail: this.readCache.get(this.clusterKey(failed, state))!.error!, bad };
    const more = this.suspects.truncated ? ` (first ${this.suspects.clusters.length} clusters the crash could change)` : "";
    if (lost) return { verdict: "data-lost", detail: `${lost} sectors read older data than the last completed guest flush, first at guest 0x${(firstLost * 512).toString(16)}${more}`, bad };
    if (garbage) return { verdict: "garbage", detail: `${garbage} sectors read bytes the guest never wrote or had, first at guest 0x${(firstGarbage * 512).toString(16)}${more}`, bad };
    return { verdict: "clean", detail: "", bad };
  }

  /** Opens the crashed image and reads `clusters` into the cache; returns a verdict only if it does not open. */
  private readBack(clusters: number[], state: CrashState): { verdict: Verdict; detail: string; bad: number[] } | null {
    const { ctx } = this;
    let img: Qcow2Image;
    try {
      img = Qcow2Image.open(ctx.path, { storage: new View(ctx.durable), writable: false, events: quiet(), config: { ...ctx.config, l2CacheSize: 1 << 20, detectPreallocation: false } });
      if (img.hasDataFile && ctx.durableData) {
        img.dataFile.close();
        img.dataFile = new View(ctx.durableData);
      }
    } catch (e) {
      return { verdict: "corrupt", detail: `does not open: ${(e as Error).message}`, bad: [] };
    }
    const cs = ctx.clusterSize;
    const buf = this.buf ?? (this.buf = new Uint8Array(cs));
    try {
      for (const c of clusters) {
        const r: ClusterRead = { lost: 0, garbage: 0, firstLost: -1, firstGarbage: -1 };
        this.readCache.set(this.clusterKey(c, state), r);
        const n = Math.min(cs, ctx.virtualSize - c * cs);
        const view = buf.subarray(0, n);
        try {
          img.read(view, c * cs);
        } catch (e) {
          r.error = `guest read at 0x${(c * cs).toString(16)} fails: ${(e as Error).message}`;
          continue;
        }
        for (let at = 0; at + 512 <= n; at += 512) {
          const sector = (c * cs + at) / 512;
          const v = ctx.history.judge(sector, sectorHash(view, at), () => ctx.original(sector));
          if (v === "lost") {
            if (r.firstLost < 0) r.firstLost = sector;
            r.lost++;
          } else if (v === "garbage") {
            if (r.firstGarbage < 0) r.firstGarbage = sector;
            r.garbage++;
          }
        }
      }
    } finally {
      img.close();
    }
    return null;
  }

  private buf: Uint8Array | null = null;

  /** Lost writes: dropped (or torn) metadata writes whose persistence alone would improve the structural verdict,
   *  and dropped writes that concern the guest clusters reading wrong. Ahead: persisted writes issued later. */
  private blame(state: CrashState, out: StateVerdict, bad: number[]): void {
    const dropped = (i: number) => this.ops[i]!.kind === "write" && (!state.keep[i] || state.torn === i);
    const lost = new Set<number>();
    const structural = rank(this.structuralOf(state).verdict);
    if (structural > 0 && out.verdict !== "garbage" && out.verdict !== "data-lost") {
      const candidates = this.meta.filter(dropped);
      for (const i of candidates) {
        const keep = state.keep.slice();
        keep[i] = 1;
        if (rank(this.structuralOf({ keep, torn: state.torn === i ? -1 : state.torn }).verdict) < structural) lost.add(i);
      }
      // Corruption needing several writes at once: all the dropped ones share the blame.
      if (!lost.size && out.verdict === "corrupt") for (const i of candidates) lost.add(i);
    }
    if (bad.length) {
      const badSet = new Set(bad);
      for (const [i, clusters] of this.suspects.byOp) if (dropped(i) && clusters.some((c) => badSet.has(c))) lost.add(i);
    }
    const first = Math.min(...lost);
    out.lost = [...lost].sort((a, b) => a - b).map((i) => this.ops[i]!);
    const persisted = (op: HostOp, i: number) => op.kind === "write" && state.keep[i] === 1 && state.torn !== i && (isMetadataCause(op.cause) || this.suspects.byOp.has(i));
    // With nothing lost, the state is a crash between writes QEMU ordered: name the ones that made it.
    out.ahead = this.ops.filter((op, i) => (lost.size ? i > first : true) && persisted(op, i));
  }
}

interface ClusterRead {
  lost: number;
  garbage: number;
  firstLost: number;
  firstGarbage: number;
  error?: string;
}

function quiet(): EventRecorder {
  const r = new EventRecorder();
  r.enabled = false;
  return r;
}
