// Issue 15 class 9: discards and zero writes reach the host file as QEMU's do (punched holes, zero ranges), so the
// image and data files end up with the same allocation: the same SEEK_DATA/SEEK_HOLE extents, which is what
// QEMU's block status later reads. (st_blocks is not compared: it also counts the file system's own extent-tree
// blocks, which depend on the order blocks were allocated in, not on what was written.)
// A live oracle: qemu-io 7.2 runs each write-oracle workload on a copy beside ours, on the same file system.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { seekHoleAvailable } from "../../engine/storage/seek-hole.js";
import { GOLD, dataExtents, goldenWorkloads, missingAddon, restoreWorkload } from "./golden-files.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-io", ["--version"]).status === 0;
const fallocateBuilt = fs.existsSync(path.join(ROOT, "dist/native/fallocate.node"));

const workloads = goldenWorkloads<{ trace_lines: number }>();

const skip = !hasQemu ? "qemu-io is not installed" : !seekHoleAvailable() ? "the seek-hole addon is not built" : !fallocateBuilt ? "the fallocate addon is not built" : "";

describe("host-file allocation against qemu-io 7.2 (live)", () => {
  for (const w of workloads) {
    // The three longest workloads (thousands of requests, no discards) are left to the byte-level oracle.
    const [mode, m] = Object.entries(w.modes)[0]!;
    if (m.trace_lines > 10000) continue;
    const why = skip || missingAddon(ROOT, w.needs);
    it.skipIf(why !== "")(`${w.name} (-t ${mode})${why ? ` — skipped: ${why}` : ""}`, () => {
      const base = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-alloc-"));
      try {
        const q = path.join(base, "qemu"), o = path.join(base, "ours");
        fs.mkdirSync(q);
        fs.mkdirSync(o);
        restoreWorkload(w, q, "base.qcow2");
        restoreWorkload(w, o, "base.qcow2");
        const script = fs.readFileSync(path.join(GOLD, w.name, "commands.qemu-io"), "utf8");
        const args = ["-f", "qcow2", "-t", mode, ...(w.opts ?? []), ...script.split("\n").filter(Boolean).flatMap((c) => ["-c", c]), "base.qcow2"];
        spawnSync("qemu-io", args, { cwd: q, encoding: "utf8" });
        const r = spawnSync(process.execPath, [CLI, "repl", "--write", "-t", mode, ...(w.opts ?? []), "base.qcow2"], { cwd: o, input: script, encoding: "utf8", maxBuffer: 1 << 28 });
        // qemu-io's stderr besides its trace (a corruption report), or nothing.
        const errFile = path.join(GOLD, w.name, `${mode}.err`);
        expect(r.stderr).toBe(fs.existsSync(errFile) ? fs.readFileSync(errFile, "utf8") : "");
        for (const f of ["base.qcow2", ...w.files]) {
          expect(fs.readFileSync(path.join(o, f)).equals(fs.readFileSync(path.join(q, f))), `${f} bytes`).toBe(true);
          expect(dataExtents(path.join(o, f)), `${f} allocation`).toEqual(dataExtents(path.join(q, f)));
        }
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    });
  }
});
