// The qemu-io compatibility harness: a case's script (-c and stdin) runs through the real qemu-io 7.2 and through
// `qcowdbg repl --write`, each on its own copy of one image at the same path; stdout, stderr (QEMU's trace lines
// normalised), exit status or signal, the image bytes and, if asked, qemu-img check's verdict come back to compare.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { normaliseQemuTraceLine } from "../../engine/events/qemu-trace-format.js";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(ROOT, "dist/cli/main.js");
export const hasQemu = spawnSync("qemu-io", ["--version"]).status === 0 && spawnSync("qemu-img", ["--version"]).status === 0;

export interface Case {
  name: string;
  /** qemu-io's arguments; IMG stands for the image, DIR for the scratch folder. */
  args: string[];
  stdin?: string;
  /** qemu-img create arguments after the file name (default: 1M). */
  create?: string[];
  /** Shell commands run in DIR (with IMG set) before both runs, e.g. to write data with qemu-io. */
  setup?: string;
  /** qcowdbg's result must also pass `qemu-img check` (exit status 0). */
  check?: boolean;
}

/** Timing figures only: "00.01 sec (1.2 MiB/sec and 3.4 ops/sec)" and -C's time and rate columns. */
export function normalise(text: string): string {
  return text
    .replace(/(\d+ ops; )[0-9:.]+(?: sec)? \([^)]*\/sec and [0-9.inf]+ ops\/sec\)/g, "$1TIME")
    .replace(/^(\d+,\d+,)[0-9:.]+,[0-9.inf]+,[0-9.inf]+$/gm, "$1TIME");
}

function normaliseTrace(text: string): string {
  const ids = new Map<string, string>();
  return text
    .split("\n")
    // QEMU's auto-generated node names end in two random digits (id_generate).
    .map((l) => (l.startsWith("qcow2_") ? normaliseQemuTraceLine(l, ids) : l.replace(/#block(\d+)\d\d\b/g, "#block$1**")))
    .join("\n");
}

export interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
  signal: NodeJS.Signals | null;
  image: Buffer;
  /** qemu-img check's exit status on the result. */
  check: number | null;
}

export function runBoth(c: Case): { qemu: Run; ours: Run } {
  const base = tempDir("qcowdbg-compat-");
  const result = {} as { qemu: Run; ours: Run };
  for (const who of ["qemu", "ours"] as const) {
    // The same path for both tools (messages name it); each run gets its own folder copy.
    const dir = path.join(base, "w");
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    const img = path.join(dir, "img.qcow2");
    const sub = (s: string) => s.replaceAll("IMG", img).replaceAll("DIR", dir);
    if (c.setup) expect(spawnSync("sh", ["-c", sub(c.setup)], { cwd: dir }).status).toBe(0);
    if (!fs.existsSync(img)) expect(spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, ...(c.create ?? ["1M"])]).status).toBe(0);
    const args = c.args.map(sub);
    const opts = { cwd: dir, encoding: "utf8" as const, maxBuffer: 1 << 26, input: c.stdin === undefined ? "" : sub(c.stdin), env: { ...process.env, QCOWDBG_HISTORY: path.join(dir, ".hist") } };
    const r = who === "qemu" ? spawnSync("qemu-io", args, opts) : spawnSync(process.execPath, [CLI, "repl", "--write", ...args], opts);
    result[who] = {
      stdout: normalise(r.stdout.replaceAll(dir, "DIR")),
      stderr: normaliseTrace(r.stderr.replaceAll(dir, "DIR")),
      status: r.status,
      signal: r.signal,
      image: fs.existsSync(img) ? fs.readFileSync(img) : Buffer.alloc(0),
      check: c.check ? spawnSync("qemu-img", ["check", "-q", img], { cwd: dir }).status : null,
    };
  }
  fs.rmSync(base, { recursive: true, force: true });
  return result;
}

/** One test per case: everything qemu-io shows and leaves behind must be equal. */
export function compareWithQemuIo(title: string, cases: Case[]): void {
  afterAll(removeTempDirs);
  describe.skipIf(!hasQemu)(title, () => {
    for (const c of cases) {
      it(c.name, () => {
        const { qemu, ours } = runBoth(c);
        expect(ours.stdout).toBe(qemu.stdout);
        expect(ours.stderr).toBe(qemu.stderr);
        expect([ours.status, ours.signal]).toEqual([qemu.status, qemu.signal]);
        expect(ours.image.equals(qemu.image), "image bytes").toBe(true);
        if (c.check) expect(ours.check, "qemu-img check").toBe(0);
      });
    }
  });
}
