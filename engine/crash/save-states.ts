// `--save-states DIR`: real qcow2 files for a bounded sample of the crash states checked (up to N per verdict,
// at most two per verdict from any one point, so the sample spans the trace) and DIR/index.json, worst first,
// so anyone can run `qemu-img check` on them. Each state gets a directory of its own: an external data file
// keeps the name the header gives it, and a relative backing file is a symlink to the original.
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../storage/atomic-output.js";
import { rank, type Verdict } from "./crash-verdict.js";
import type { CrashExplorer, JudgedState } from "./crash-explorer.js";
import { opJson, type OpJson } from "./crash-report.js";

export interface SavedState {
  step: number;
  verdict: Verdict;
  /** What check alone says (the class `qemu-img check` should agree with). */
  check: Verdict;
  file: string;
  lost: OpJson[];
  persisted: OpJson[];
  at: string;
  detail: string;
}

/** Refuses a DIR that holds the image (or its backing/data files), or that is not empty. */
export function prepareStateDir(dir: string, inputs: string[]): void {
  const abs = path.resolve(dir);
  for (const f of inputs) {
    const real = fs.existsSync(f) ? fs.realpathSync(f) : path.resolve(f);
    const realDir = fs.existsSync(abs) ? fs.realpathSync(abs) : abs;
    if (real === realDir || real.startsWith(realDir + path.sep))
      throw new Error(`--save-states ${dir}: the directory contains ${f}, an input; choose an empty directory elsewhere`);
  }
  if (fs.existsSync(abs)) {
    if (!fs.statSync(abs).isDirectory()) throw new Error(`--save-states ${dir}: not a directory`);
    if (fs.readdirSync(abs).length) throw new Error(`--save-states ${dir}: directory is not empty`);
  } else fs.mkdirSync(abs, { recursive: true });
}

export class StateSaver {
  readonly saved: SavedState[] = [];
  private perVerdict = new Map<Verdict, number>();
  private perPoint = new Map<string, number>();
  private n = 0;

  constructor(
    readonly dir: string,
    readonly explorer: () => CrashExplorer,
    readonly max: number,
  ) {}

  onState(s: JudgedState): void {
    const v = s.verdict.verdict;
    if ((this.perVerdict.get(v) ?? 0) >= this.max) return;
    const pointKey = `${s.step}/${s.at}/${s.ops.length}/${v}`;
    if ((this.perPoint.get(pointKey) ?? 0) >= 2) return;
    this.perVerdict.set(v, (this.perVerdict.get(v) ?? 0) + 1);
    this.perPoint.set(pointKey, (this.perPoint.get(pointKey) ?? 0) + 1);
    const ex = this.explorer();
    const sub = `${String(++this.n).padStart(3, "0")}-step${s.step}-${v}`;
    const stateDir = path.join(this.dir, sub);
    fs.mkdirSync(stateDir);
    const name = path.basename(ex.path);
    const dataName = ex.dataFileName();
    if (dataName && path.isAbsolute(dataName)) throw new Error(`${ex.path}: the external data file has an absolute name (${dataName}); its crash states cannot be saved beside the image`);
    s.save(path.join(stateDir, name), dataName ? path.join(stateDir, dataName) : undefined);
    const b = ex.backing();
    if (b && !path.isAbsolute(b.name)) {
      const link = path.join(stateDir, b.name);
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(path.resolve(b.resolved), link);
    }
    this.saved.push({ step: s.step, verdict: v, check: s.verdict.structural, file: path.join(sub, name), lost: s.verdict.lost.map(opJson), persisted: s.verdict.ahead.map(opJson), at: s.at, detail: s.verdict.detail });
  }

  /** Writes DIR/index.json, worst verdict first. */
  finish(): void {
    const states = [...this.saved].sort((a, b) => rank(b.verdict) - rank(a.verdict) || a.step - b.step);
    writeFileAtomic(path.join(this.dir, "index.json"), JSON.stringify({ schema: 1, states }, null, 2) + "\n");
  }
}
