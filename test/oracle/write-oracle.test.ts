// Issue 3's oracle: every workload of samples/write-oracle runs through `qcowdbg repl --write` on a copy of the
// same base image qemu-io used; the result must be byte-identical to QEMU's, pass `qemu-img check`, compare
// identical, and the QEMU-format trace must equal QEMU's line for line (counts per event where requests span chunks).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { createHash } from "node:crypto";
import { normaliseQemuTraceLine } from "../../engine/events/qemu-trace-format.js";
import { seekHoleAvailable } from "../../engine/storage/seek-hole.js";
import { GOLD, dataExtents, goldenWorkloads, missingAddon, restoreWorkload, type GoldenWorkload } from "./golden-files.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;

interface Mode {
  sha256: string;
  size: number;
  check_exit: number;
  trace_lines: number;
  /** sha256 of the side files (backing, external data file) after the run: a data file is written too. */
  files_sha256: Record<string, string>;
  /** Per-event counts QEMU produced over several runs (they can vary when requests split into concurrent chunks). */
  count_variants: Record<string, number>[];
  /** QEMU's qcow2_add_task lines (pool, chunk, qiov_offset) were the same in every run, even with split requests. */
  add_task_stable?: boolean;
  /** QEMU's whole trace was the same in every run (for split requests, whose chunks run concurrently). */
  trace_stable?: boolean;
  /** Sparse workloads: the data extents (SEEK_DATA/SEEK_HOLE) of the image and side files after QEMU's run. */
  extents?: Record<string, [number, number][]>;
}
type Workload = GoldenWorkload<Mode>;
const workloads: Workload[] = goldenWorkloads<Mode>();

/** A whole file, as make-goldens.py gave qemu-io (QEMU's result image, for qemu-img compare). */
function gunzipTo(src: string, dst: string): void {
  fs.writeFileSync(dst, zlib.gunzipSync(fs.readFileSync(src)));
}

function sha(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function sortedCounts(lines: string[]): Record<string, number> {
  const c = counts(lines);
  return Object.fromEntries(Object.keys(c).sort().map((k) => [k, c[k]!]));
}

function counts(lines: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const l of lines) {
    const k = l.split(" ")[0]!;
    c[k] = (c[k] ?? 0) + 1;
  }
  return c;
}

describe("write path against qemu-io 7.2", () => {
  for (const w of workloads) {
    for (const mode of Object.keys(w.modes)) {
      const skip = missingAddon(ROOT, w.needs);
      it.skipIf(skip !== "")(`${w.name} (-t ${mode})${skip ? ` — skipped: ${skip}` : ""}`, () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-oracle-"));
        try {
          const wd = path.join(GOLD, w.name);
          const img = restoreWorkload(w, dir);
          if (w.sparse && seekHoleAvailable()) expect(dataExtents(img).length, "the restored copy keeps its holes").toBeGreaterThan(1);
          const trace = path.join(dir, "trace.txt");
          const script = fs.readFileSync(path.join(wd, "commands.qemu-io"), "utf8");
          const r = spawnSync(process.execPath, [CLI, "repl", "--write", "-t", mode, ...(w.opts ?? []), "--qemu-trace", trace, img], { cwd: dir, input: script, encoding: "utf8", maxBuffer: 1 << 28 });
          // qemu-io's stderr besides its trace (a corruption report), or nothing.
          const errFile = path.join(wd, `${mode}.err`);
          expect(r.stderr).toBe(fs.existsSync(errFile) ? fs.readFileSync(errFile, "utf8") : "");
          // qemu-io exits 1 when a command failed (compressed-write has a write past the end: qemu-io 7.2 exits 1).
          const theirsText = fs.readFileSync(path.join(wd, `${mode}.out`), "utf8");
          expect(r.status).toBe(/ failed: |^Pattern verification failed/m.test(theirsText) ? 1 : 0);
          // qemu-io prints its prompt before each line it reads from stdin; the goldens ran the script with -c.
          const ours = r.stdout.replaceAll("qemu-io> ", "").split("\n").filter((l) => !l.includes("ops/sec"));
          const theirs = fs.readFileSync(path.join(wd, `${mode}.out`), "utf8").split("\n");
          expect(ours.join("\n").trim()).toBe(theirs.join("\n").trim());

          const gold = w.modes[mode]!;
          expect(fs.statSync(img).size).toBe(gold.size);
          expect(sha(img)).toBe(gold.sha256);
          for (const [f, digest] of Object.entries(gold.files_sha256 ?? {})) expect(sha(path.join(dir, f)), f).toBe(digest);
          // The host files' holes, where QEMU's decisions read them (the restored copies must keep theirs too).
          if (gold.extents && seekHoleAvailable()) {
            for (const [f, ext] of Object.entries(gold.extents)) expect(dataExtents(path.join(dir, f)), `${f} extents`).toEqual(ext);
          }

          const ids = new Map<string, string>();
          const ourTrace = fs.readFileSync(trace, "utf8").split("\n").filter(Boolean).map((l) => normaliseQemuTraceLine(l, ids));
          const qemuTrace = zlib.gunzipSync(fs.readFileSync(path.join(wd, `${mode}.trace.gz`))).toString("utf8").split("\n").filter(Boolean);
          // QEMU runs the chunks of a request concurrently: line order is only defined when no request splits.
          const multiChunk = counts(qemuTrace)["qcow2_writev_start_part"] !== counts(qemuTrace)["qcow2_writev_start_req"];
          // Split requests: line for line too when QEMU's own trace was the same in every run of make-goldens.py.
          if (!multiChunk || gold.trace_stable) expect(ourTrace).toEqual(qemuTrace);
          else {
            expect(gold.count_variants).toContainEqual(sortedCounts(ourTrace));
            // The requester adds every chunk's task (with its pool and qiov_offset) before the chunks contend.
            const tasks = (t: string[]) => t.filter((l) => l.startsWith("qcow2_add_task "));
            if (gold.add_task_stable) expect(tasks(ourTrace)).toEqual(tasks(qemuTrace));
          }

          if (hasQemu) {
            const check = spawnSync("qemu-img", ["check", img], { encoding: "utf8", cwd: dir });
            expect(check.status).toBe(gold.check_exit);
            const result = path.join(wd, `${mode}.result.qcow2.gz`);
            // (qemu-img compare cannot read an image QEMU marked corrupt: its bytes are compared above.)
            if (fs.existsSync(result) && !fs.existsSync(errFile)) {
              const q = path.join(dir, "qemu.qcow2");
              gunzipTo(result, q);
              const cmp = spawnSync("qemu-img", ["compare", "-f", "qcow2", "-F", "qcow2", q, img], { encoding: "utf8", cwd: dir });
              expect(cmp.stdout.trim()).toBe("Images are identical.");
            }
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  }
});
