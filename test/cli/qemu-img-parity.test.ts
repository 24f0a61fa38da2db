// The same command lines through the real qemu-img and through qcowdbg (built CLI): stdout, stderr (program name
// swapped) and exit status must be equal. Usage errors, extra arguments, a reader going away, --image-opts, -f,
// --object secret for LUKS, and check -r on a copy of a leaking image.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const IMAGES = path.join(ROOT, "samples/images");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-parity-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Outcome {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** Runs one shell command line with PROG standing for the program, in `cwd`. */
function sh(line: string, prog: string, cwd: string): Outcome {
  const r = spawnSync("bash", ["-c", line.replaceAll("PROG", prog)], { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** qemu-img's outcome, in qcowdbg's words (program name), and ours. */
function both(line: string, cwd = IMAGES): { theirs: Outcome; ours: Outcome } {
  const theirs = sh(line, "qemu-img", cwd);
  const ours = sh(line, `"${process.execPath}" "${CLI}"`, cwd);
  return { theirs: { ...theirs, stderr: theirs.stderr.replaceAll("qemu-img", "qcowdbg") }, ours };
}

describe("usage errors and extra arguments, as qemu-img says them", () => {
  it.each([
    "PROG map",
    "PROG info",
    "PROG check",
    "PROG map tour.qcow2 extra",
    "PROG info tour.qcow2 extra",
    "PROG check tour.qcow2 extra",
    "PROG map --bogus tour.qcow2",
    "PROG check -Z tour.qcow2",
    "PROG info --frobnicate tour.qcow2",
  ])("%s", (line) => {
    const { theirs, ours } = both(line);
    expect(theirs.status).toBe(1);
    expect(ours).toEqual(theirs);
  });
});

describe("a reader that goes away", () => {
  it("map | head -1 ends quietly with status 0", () => {
    // Enough extents that the output outgrows the pipe's buffer before head exits.
    const img = path.join(tmp, "frag.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", img, "64M"]);
    const cmds = Array.from({ length: 3000 }, (_, i) => `write ${i * 8}k 512`).join("\n");
    spawnSync("qemu-io", ["-f", "qcow2", img], { input: cmds + "\n" });
    for (const out of ["json", "human"]) {
      const { theirs, ours } = both(`PROG map --output=${out} frag.qcow2 | head -1; exit \${PIPESTATUS[0]}`, tmp);
      expect(theirs.status).toBe(0);
      expect(ours).toEqual(theirs);
    }
  });
});
