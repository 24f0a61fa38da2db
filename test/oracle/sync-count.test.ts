// Issue 15 class 8: the syncs we count (real fdatasync calls of `qcowdbg repl`, and the sync figure of the replay
// report, which the TUI counters and the dashboard read from the same FlushToDisk events) equal the fdatasync
// calls qemu-io 7.2 made for the same workload, as strace counted them in samples/write-oracle/make-goldens.py.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GOLD, goldenWorkloads, missingAddon, restoreWorkload, type GoldenWorkload } from "./golden-files.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasStrace = spawnSync("strace", ["-V"]).status === 0;

interface Mode {
  fdatasyncs?: number | null;
  /** Distinct counts over several runs, for workloads whose requests split into concurrent chunks. */
  fdatasyncs_runs?: number[];
  count_variants: Record<string, number>[];
}
type Workload = GoldenWorkload<Mode>;
const workloads: Workload[] = goldenWorkloads<Mode>();

function setup(w: Workload): { dir: string; img: string; script: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-syncs-"));
  const img = restoreWorkload(w, dir);
  return { dir, img, script: path.join(GOLD, w.name, "commands.qemu-io") };
}


describe("sync counts equal qemu-io's fdatasync calls", () => {
  for (const w of workloads) {
    for (const [mode, gold] of Object.entries(w.modes)) {
      const qemu = gold.fdatasyncs;
      const skip = !hasStrace ? "strace is not installed" : qemu == null ? "the golden has no fdatasync count (made without strace)" : missingAddon(ROOT, w.needs);
      it.skipIf(skip !== "")(`${w.name} (-t ${mode})${skip ? ` — skipped: ${skip}` : ""}`, () => {
        // Requests that split into concurrent chunks can make QEMU's count vary (bdrv_co_flush merges flushes that
        // overlap in time); make-goldens.py refuses such workloads, and a golden that varied fails here.
        expect(gold.fdatasyncs_runs ?? [qemu], "qemu-io's count in repeated runs").toEqual([qemu]);
        const { dir, img, script } = setup(w);
        try {
          const log = path.join(dir, "strace.log");
          const r = spawnSync("strace", ["-f", "-e", "trace=fdatasync", "-o", log, process.execPath, CLI, "repl", "--write", "-t", mode, ...(w.opts ?? []), img], {
            cwd: dir,
            input: fs.readFileSync(script, "utf8"),
            encoding: "utf8",
            maxBuffer: 1 << 28,
          });
          // qemu-io's stderr besides its trace (a corruption report), or nothing.
          const errFile = path.join(GOLD, w.name, `${mode}.err`);
          expect(r.stderr).toBe(fs.existsSync(errFile) ? fs.readFileSync(errFile, "utf8") : "");
          const real = fs.readFileSync(log, "utf8").split("\n").filter((l) => /\bfdatasync\(/.test(l)).length;
          expect(real, "fdatasync calls of qcowdbg repl").toBe(qemu);

          // The replay report (over a shadow, metadata only) counts the same syncs from its events; a replay has
          // no equivalent of a workload's own qemu-io options (-C), so those stop at the real count above.
          if (w.opts?.length) return;
          // `qcowdbg replay` takes a qemu-io script's guest requests only: truncate and reopen are no requests (it
          // says so and skips them), so its sync count is that of another run.
          if (/^(truncate|t|reopen) /m.test(fs.readFileSync(script, "utf8"))) return;
          const fresh = setup(w);
          try {
            const rep = spawnSync(process.execPath, [CLI, "replay", "--config", `cache=${mode}`, "--output", "json", fresh.img, fresh.script], { cwd: fresh.dir, encoding: "utf8", maxBuffer: 1 << 28 });
            expect(rep.status, rep.stderr).toBe(0);
            const summary = (JSON.parse(rep.stdout) as { summary: { flushes: { syncs: number } } }).summary;
            expect(summary.flushes.syncs, "syncs in the replay report").toBe(qemu);
          } finally {
            fs.rmSync(fresh.dir, { recursive: true, force: true });
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  }
});
