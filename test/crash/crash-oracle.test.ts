// Issue 11's oracle: every write-oracle workload (samples/write-oracle) goes through `qcowdbg crashtest` on QEMU's
// default policy (writeback); no crash state may be corrupt, and every state saved by --save-states must get the
// same class from the real `qemu-img check` as from ours (dirty ones must come back clean from `check -r all`).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { extract } from "./oracle-workloads.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const GOLD = path.join(ROOT, "samples/write-oracle/goldens");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;
const index = JSON.parse(fs.readFileSync(path.join(GOLD, "index.json"), "utf8")) as { workloads: { name: string; files: string[]; base_check_exit?: number }[] };

interface Saved {
  step: number;
  verdict: string;
  check: string;
  file: string;
  lost: unknown[];
}

/** qemu-img check's class: its exit code says clean (0), corrupt (2), leaks only (3), or could not check (1). */
function qemuClass(file: string): string {
  const r = spawnSync("qemu-img", ["check", "-f", "qcow2", path.basename(file)], { cwd: path.dirname(file), encoding: "utf8" });
  return ({ 0: "clean", 1: "corrupt", 2: "corrupt", 3: "leaks" } as Record<number, string>)[r.status ?? -1] ?? `exit ${r.status}`;
}

function dirtyFlag(file: string): boolean {
  const r = spawnSync("qemu-img", ["info", "--output=json", "-U", path.basename(file)], { cwd: path.dirname(file), encoding: "utf8" });
  return (JSON.parse(r.stdout) as { "dirty-flag"?: boolean })["dirty-flag"] === true;
}

describe.skipIf(!hasQemu)("crash states against qemu-img check (QEMU's default policy, writeback)", () => {
  for (const w of index.workloads) {
    // Workloads that start from a damaged image (the corruption oracle) cannot promise crash states without damage.
    const script = fs.readFileSync(path.join(GOLD, w.name, "commands.qemu-io"), "utf8");
    // crashtest replays a script's guest requests; truncate and reopen are none (it says so and skips them).
    const skip = w.base_check_exit
      ? `starts from a damaged image (qemu-img check exits ${w.base_check_exit})`
      : /^(truncate|t|reopen) /m.test(script)
        ? "truncate/reopen are not guest requests: crashtest does not replay them"
        : "";
    it.skipIf(skip !== "")(`${w.name}${skip ? ` — skipped: ${skip}` : ""}`, () => {
      const { dir, img, script } = extract(w.name, w.files);
      try {
        const states = path.join(dir, "states");
        const r = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--output", "json", "--save-states", states, "--save-max", "6"], { encoding: "utf8", maxBuffer: 1 << 26 });
        expect(r.stderr).toBe("");
        const out = JSON.parse(r.stdout) as { counts: Record<string, number>; statesChecked: number };
        expect(out.statesChecked).toBeGreaterThan(0);
        // QEMU's ordering: a crash may leak clusters, never corrupt the image.
        expect(out.counts.corrupt).toBe(0);
        const saved = (JSON.parse(fs.readFileSync(path.join(states, "index.json"), "utf8")) as { schema: number; states: Saved[] });
        expect(saved.schema).toBe(1);
        expect(saved.states.length).toBeGreaterThan(0);
        for (const s of saved.states) {
          const file = path.join(states, s.file);
          if (s.check === "dirty") {
            expect(dirtyFlag(file), s.file).toBe(true);
            const copy = file + ".repaired";
            fs.copyFileSync(file, copy);
            const fixed = spawnSync("qemu-img", ["check", "-r", "all", path.basename(copy)], { cwd: path.dirname(copy), encoding: "utf8" });
            expect(fixed.status, `${s.file}: ${fixed.stdout}`).toBe(0);
            expect(dirtyFlag(copy), s.file).toBe(false);
          } else {
            expect(dirtyFlag(file), s.file).toBe(false);
            expect(qemuClass(file), `${s.file} (ours: ${s.verdict}, check ${s.check})`).toBe(s.check);
          }
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }
});
