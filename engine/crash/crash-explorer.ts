// Walks a trace with the host write log on and, at every sync (and, if asked, at every step), judges the crash
// states the volatile writes allow. The replay runs on a shadow of the image; the durable content (what the disk
// holds after the last completed sync) is a second shadow over the same read-only file: the user's file is only read.
import * as fs from "node:fs";
import * as path from "node:path";
import { EventRecorder } from "../events/recorder.js";
import { defaultConfig, type EngineConfig } from "../image/engine-config.js";
import { Qcow2Image } from "../image/qcow2-image.js";
import { FileStorage } from "../storage/file-storage.js";
import { ShadowStorage } from "../storage/shadow-storage.js";
import type { Storage } from "../storage/storage.js";
import type { GuestRequest } from "../workload/guest-request.js";
import { planStates, prng, DEFAULT_SAMPLE, type CrashState } from "./crash-states.js";
import { PointJudge, VERDICTS, rank, type StateVerdict, type Verdict } from "./crash-verdict.js";
import { GuestHistory, sectorHash, stampedData } from "./guest-history.js";
import { CauseTee, HostWriteLog, LoggedStorage, type HostOp, type WriteCause } from "./host-write-log.js";
import { suspectClusters } from "./suspect-clusters.js";

export interface CrashOptions {
  config?: Partial<EngineConfig>;
  /** States per point when the volatile set allows more than 2^12 (default 16). */
  sample?: number;
  seed?: number;
  /** Also explore at the end of every request, not only before each sync. */
  everyStep?: boolean;
  /** Add states where one multi-sector write persisted only its first sector. */
  torn?: boolean;
  /** Each judged state; `save` writes it as real files while the callback runs. */
  onState?: (s: JudgedState) => void;
}

export interface JudgedState {
  step: number;
  at: "sync" | "step" | "end";
  state: CrashState;
  verdict: StateVerdict;
  ops: readonly HostOp[];
  /** Writes this crash state as an image file (and its external data file). */
  save(imageFile: string, dataFile?: string): void;
}

export interface VerdictSighting {
  step: number;
  source: string;
  at: "sync" | "step" | "end";
  detail: string;
  lost: HostOp[];
  ahead: HostOp[];
  count: number;
}

export interface PointReport {
  step: number;
  at: "sync" | "step" | "end";
  volatile: HostOp[];
  possible: number;
  checked: number;
  exhaustive: boolean;
  counts: Record<Verdict, number>;
  worst: Verdict;
}

export interface CrashSummary {
  steps: number;
  points: number;
  exhaustivePoints: number;
  statesChecked: number;
  statesPossible: number;
  hostWrites: number;
  syncs: number;
  worst: Verdict;
  verdicts: Partial<Record<Verdict, VerdictSighting>>;
  /** Per verdict, how many states had it. */
  counts: Record<Verdict, number>;
}

export function emptyCounts(): Record<Verdict, number> {
  return Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
}

export class CrashExplorer {
  readonly image: Qcow2Image;
  readonly log = new HostWriteLog();
  readonly history = new GuestHistory();
  readonly config: EngineConfig;
  readonly points: PointReport[] = [];
  private readonly tee: CauseTee;
  private readonly durable: ShadowStorage;
  private durableData: ShadowStorage | null = null;
  private readonly live: ShadowStorage;
  private pristine: Qcow2Image | null = null;
  private readonly originals = new Map<number, Uint32Array>();
  private readonly random: () => number;
  private step = 0;
  private source = "";
  private summary: CrashSummary;

  constructor(
    readonly path: string,
    readonly opts: CrashOptions = {},
  ) {
    this.config = defaultConfig({ ...opts.config, metadataOnly: false });
    this.random = prng(opts.seed ?? 1);
    const recorder = new EventRecorder();
    recorder.enabled = false;
    this.tee = new CauseTee(recorder, this.log);
    this.live = new ShadowStorage(new FileStorage(path, false));
    this.durable = new ShadowStorage(new FileStorage(path, false));
    const logged = new LoggedStorage(this.live, this.log, 0);
    try {
      this.image = Qcow2Image.open(path, { config: this.config, events: this.tee, writable: true, storage: logged });
    } catch (e) {
      this.live.dispose();
      this.durable.dispose();
      throw e;
    }
    const img = this.image;
    if (img.hasDataFile) {
      const dataPath = img.dataFile.name;
      img.dataFile = new LoggedStorage(img.dataFile, this.log, 1);
      this.durableData = new ShadowStorage(new FileStorage(dataPath, false));
    }
    this.log.layout = { classify: (t, o) => this.classify(t, o) };
    this.log.beforeSync = () => this.point("sync");
    this.log.afterSync = (ops) => this.persist(ops);
    this.log.onTruncate = (t, size) => {
      const d = t === 1 ? this.durableData : this.durable;
      if (d && size > d.size()) d.truncate(size);
    };
    this.summary = { steps: 0, points: 0, exhaustivePoints: 0, statesChecked: 0, statesPossible: 0, hostWrites: 0, syncs: 0, worst: "clean", verdicts: {}, counts: emptyCounts() };
  }

  /** Labels a write by where it lands: header, L1, refcount table, a cached L2 slice or refcount block. */
  private classify(target: 0 | 1, offset: number): WriteCause | undefined {
    if (target === 1) return undefined;
    const img = this.image;
    const h = img.header;
    if (offset < h.headerLength) return "header";
    if (offset >= h.l1TableOffset && offset < h.l1TableOffset + h.l1Size * 8) return "l1";
    if (offset >= h.refcountTableOffset && offset < h.refcountTableOffset + h.refcountTableClusters * img.clusterSize) return "reftable";
    if (img.l2Cache.lookup(Math.floor(offset / img.sliceSize) * img.sliceSize) >= 0) return "l2";
    if (img.refcountCache.lookup(Math.floor(offset / img.clusterSize) * img.clusterSize) >= 0) return "refcount";
    return undefined;
  }

  /** Drives one guest request; its writes carry stamped data (or the trace's pattern) the explorer can recognise. */
  apply(r: GuestRequest): string | undefined {
    const img = this.image;
    const id = ++this.step;
    this.source = r.source;
    this.tee.request = id;
    this.log.request = id;
    this.log.guestOffset = r.offset;
    this.log.guestLength = r.length;
    const inside = r.offset >= 0 && r.offset + r.length <= img.virtualSize;
    let error: string | undefined;
    try {
      if (r.preflush) {
        img.flush();
        this.history.flushes++;
      }
      this.tee.guestFlushed = false;
      this.tee.compressing = Boolean(r.compressed);
      // The same dispatch as ReplayEngine.apply (`duplicates` pairs them), kept here because each op also records
      // what the guest wrote or discarded into the crash history while the window is open.
      switch (r.op) {
        case "read":
          img.read(new Uint8Array(r.length), r.offset);
          break;
        case "write": {
          const data = r.pattern !== undefined ? new Uint8Array(r.length).fill(r.pattern) : stampedData(id, r.offset, r.length);
          if (inside) this.history.wrote(r.offset, data);
          if (r.compressed) img.writeCompressed(data, r.offset);
          else img.write(data, r.offset);
          break;
        }
        case "write-zeroes":
          if (inside) this.history.zeroed(r.offset, r.length);
          img.writeZeroes(r.offset, r.length, Boolean(r.mayUnmap));
          break;
        case "discard":
          if (inside) this.history.discarded(r.offset, r.length);
          img.discard(r.offset, r.length);
          break;
        case "flush":
          img.flush();
          break;
      }
      if (r.fua && r.op !== "flush") img.flush();
    } catch (e) {
      error = (e as Error).message;
    }
    // A guest flush that completed covers everything written before it (writethrough flushes after each write).
    if (this.tee.guestFlushed) this.history.flushes++;
    this.tee.compressing = false;
    if (this.opts.everyStep) this.point("step");
    return error;
  }

  /** The crash states at the end of the trace (the image is never closed: that would flush). */
  finish(): CrashSummary {
    this.point("end");
    const s = this.summary;
    s.steps = this.step;
    s.hostWrites = this.log.writes;
    s.syncs = this.log.syncs;
    return s;
  }

  private persist(ops: HostOp[]): void {
    for (const op of ops) {
      if (op.kind !== "write") continue;
      const to = op.target === 1 && this.durableData ? this.durableData : this.durable;
      to.write(op.data!, op.offset);
    }
  }

  private original(sector: number): number {
    const cs = this.image.clusterSize;
    const c = Math.floor((sector * 512) / cs);
    let h = this.originals.get(c);
    if (!h) {
      this.pristine ??= Qcow2Image.open(this.path, { writable: false, events: quietRecorder(), config: { l2CacheSize: 1 << 20, detectPreallocation: false } });
      const n = Math.min(cs, this.image.virtualSize - c * cs);
      const buf = new Uint8Array(cs);
      this.pristine.read(buf.subarray(0, n), c * cs);
      h = new Uint32Array(cs / 512);
      for (let i = 0; i < h.length; i++) h[i] = sectorHash(buf, i * 512);
      this.originals.set(c, h);
    }
    return h[(sector * 512 - c * cs) / 512]!;
  }

  /** Off: the log and the durable image are kept, but no crash state is judged (fast-forward). */
  exploring = true;

  /** Judges the crash states of the current volatile set now (the REPL's `crash` after a step). */
  explore(at: "step" | "end"): void {
    this.point(at);
  }

  /** Judges the crash states of the current volatile set. */
  private point(at: "sync" | "step" | "end"): void {
    if (!this.exploring) return;
    const ops = this.log.volatile.slice();
    if (!ops.some((o) => o.kind === "write")) return;
    const img = this.image;
    const suspects = suspectClusters(img, ops, this.durable, this.live);
    const judge = new PointJudge(
      { path: this.path, config: this.config, durable: this.durable, durableData: this.durableData, history: this.history, original: (s) => this.original(s), clusterSize: img.clusterSize, virtualSize: img.virtualSize },
      ops,
      suspects,
    );
    const multi = ops.map((o) => o.kind === "write" && o.length > 512);
    const plan = planStates(ops.length, multi, this.opts.sample ?? DEFAULT_SAMPLE, this.random, Boolean(this.opts.torn));
    const report: PointReport = { step: this.step, at, volatile: ops, possible: plan.possible, checked: plan.states.length, exhaustive: plan.exhaustive, counts: emptyCounts(), worst: "clean" };
    const s = this.summary;
    for (const state of plan.states) {
      // Blame costs extra checks: only for a verdict's first sighting, or when someone looks at every state.
      const v = judge.judge(state, false);
      if (!s.verdicts[v.verdict] || this.opts.onState) judge.addBlame(state, v);
      report.counts[v.verdict]++;
      s.counts[v.verdict]++;
      if (rank(v.verdict) > rank(report.worst)) report.worst = v.verdict;
      const seen = s.verdicts[v.verdict];
      if (seen) seen.count++;
      else s.verdicts[v.verdict] = { step: this.step, source: this.source, at, detail: v.detail, lost: v.lost, ahead: v.ahead, count: 1 };
      this.opts.onState?.({ step: this.step, at, state, verdict: v, ops, save: (file, dataFile) => judge.inState(state, () => this.save(file, dataFile)) });
    }
    if (rank(report.worst) > rank(s.worst)) s.worst = report.worst;
    s.points++;
    if (plan.exhaustive) s.exhaustivePoints++;
    s.statesChecked += plan.states.length;
    s.statesPossible += plan.possible;
    this.points.push(report);
  }

  private save(file: string, dataFile?: string): void {
    copyStorage(this.durable, file);
    if (dataFile && this.durableData) copyStorage(this.durableData, dataFile);
  }

  /** The external data file's name as the image header gives it (relative names resolve next to the image). */
  dataFileName(): string | null {
    return this.image.hasDataFile ? (this.image.ext.dataFile ?? null) : null;
  }

  /** The backing file as the header names it, and where it resolves. */
  backing(): { name: string; resolved: string } | null {
    const b = this.image.backingName;
    if (b === null) return null;
    return { name: b, resolved: path.isAbsolute(b) ? b : path.join(path.dirname(this.path), b) };
  }

  close(): void {
    this.pristine?.close();
    this.live.dispose();
    this.durable.dispose();
    this.durableData?.dispose();
    if (this.image.hasDataFile) this.image.dataFile.close();
    this.image.backing?.close();
  }
}

/** A whole trace explored: the summary `crashtest` prints and `replay --crash-safety` condenses. */
export function exploreTrace(imagePath: string, requests: Iterable<GuestRequest>, opts: CrashOptions = {}): CrashSummary {
  const ex = new CrashExplorer(imagePath, opts);
  try {
    for (const r of requests) ex.apply(r);
    return ex.finish();
  } finally {
    ex.close();
  }
}

function quietRecorder(): EventRecorder {
  const r = new EventRecorder();
  r.enabled = false;
  return r;
}

function copyStorage(from: Storage, file: string): void {
  const out = new FileStorage(createEmpty(file), true);
  try {
    const page = new Uint8Array(1 << 16);
    for (let off = 0; off < from.size(); off += page.length) {
      const n = Math.min(page.length, from.size() - off);
      from.read(page.subarray(0, n), off);
      if (!isZero(page.subarray(0, n)) || off + n === from.size()) out.write(page.subarray(0, n), off);
    }
    out.truncate(from.size());
  } finally {
    out.close();
  }
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]) return false;
  return true;
}

function createEmpty(file: string): string {
  // "wx": a state file never replaces an existing file (least of all the user's image).
  fs.writeFileSync(file, "", { flag: "wx" });
  return file;
}

