// `qcowdbg repl` as a user drives it: the image is untouched without --write, --save-as writes a real qcow2
// equal to what --write produces, corrupt images are refused before anything is written, metadata-only works.
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

afterAll(removeTempDirs);

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;
const sha = (f: string) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");

function tmp(): string {
  return tempDir("qcowdbg-repl-");
}
function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", input });
}
function copyTour(dir: string): string {
  const img = path.join(dir, "tour.qcow2");
  fs.copyFileSync(path.join(ROOT, "samples/images/tour.qcow2"), img);
  return img;
}
const SCRIPT = ["write -P 0x11 0 4k", "write -P 0x22 1M 70k", "write -z 2M 64k", "discard 0 64k", "read -P 0x22 1M 4k", "flush"].join("\n") + "\n";

describe("qcowdbg repl", () => {
  it("leaves the image untouched without --write, but reads back what it wrote", () => {
    const d = tmp();
    const img = copyTour(d);
    const before = sha(img);
    const r = run(["repl", img, "-c", "write -P 0x5a 3M 4k", "-c", "read -P 0x5a 3M 4k"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("read 4096/4096 bytes at offset 3145728");
    expect(r.stdout).not.toContain("Pattern verification failed");
    expect(sha(img)).toBe(before);
  });

  it("prints qemu-io's pattern mismatch line", () => {
    const d = tmp();
    const img = copyTour(d);
    const r = run(["repl", img, "-c", "write -P 0x5a 3M 4k", "-c", "read -P 0x5b 3M 4k"]);
    expect(r.stdout).toContain("Pattern verification failed at offset 3145728, 4096 bytes");
  });

  it("--save-as writes the same image --write produces, and it passes qemu-img check", () => {
    const d = tmp();
    const a = copyTour(d);
    const b = path.join(d, "b.qcow2");
    fs.copyFileSync(a, b);
    const out = path.join(d, "saved.qcow2");
    const before = sha(a);
    expect(run(["repl", "--save-as", out, a], SCRIPT).status).toBe(0);
    expect(sha(a)).toBe(before);
    expect(run(["repl", "--write", b], SCRIPT).status).toBe(0);
    expect(sha(out)).toBe(sha(b));
    if (hasQemu) expect(spawnSync("qemu-img", ["check", out]).status).toBe(0);
  });

  it("refuses to write to an image marked corrupt, before writing anything", () => {
    const d = tmp();
    const img = copyTour(d);
    const buf = fs.readFileSync(img);
    buf[79] = buf[79]! | 2; // incompatible_features bit 1: corrupt
    fs.writeFileSync(img, buf);
    const before = sha(img);
    const r = run(["repl", "--write", img, "-c", "write 0 4k"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^qcowdbg: .*corrupt/);
    expect(sha(img)).toBe(before);
  });

  it.skipIf(!hasQemu)("refuses to write persistent dirty bitmaps stale (--write and --save-as), but replays on the shadow", () => {
    const d = tmp();
    const img = path.join(d, "bm.qcow2");
    expect(spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "64M"]).status).toBe(0);
    expect(spawnSync("qemu-img", ["bitmap", "--add", img, "b0"]).status).toBe(0);
    const before = sha(img);
    for (const args of [["--write"], ["--save-as", path.join(d, "out.qcow2")]]) {
      const r = run(["repl", ...args, img, "-c", "write 0 4k"]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^qcowdbg: .*persistent dirty bitmaps/);
    }
    expect(run(["repl", img, "-c", "write 0 4k"]).status).toBe(0);
    expect(sha(img)).toBe(before);
  });

  it("keeps the user's file untouched when a request fails half way", () => {
    const d = tmp();
    const img = copyTour(d);
    const before = sha(img);
    // The second write runs past the virtual size: qemu-io's error line, and nothing reaches the file.
    const r = run(["repl", img, "-c", "write -P 1 0 4k", "-c", "write -P 2 63M 2M", "-c", "read -P 1 0 4k"]);
    // A failed command makes qemu-io exit 1, after running the rest of the script.
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("write failed: Input/output error");
    expect(r.stdout).toContain("read 4096/4096 bytes at offset 0");
    expect(sha(img)).toBe(before);
  });

  it("replays metadata only: allocations happen, data reads back as zeros", () => {
    const d = tmp();
    const img = copyTour(d);
    const r = run(["repl", "--metadata-only", img, "-c", "write -P 7 5M 64k", "-c", "read -P 0 5M 4k", "-c", "stats"]);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain("Pattern verification failed");
    expect(r.stdout).toMatch(/qcow2_cluster_alloc_phys\s+1/);
  });

  it("writes QEMU's trace format with --qemu-trace", () => {
    const d = tmp();
    const img = copyTour(d);
    const t = path.join(d, "t.txt");
    expect(run(["repl", "-t", "writeback", "--qemu-trace", t, img, "-c", "write 0 4k"]).status).toBe(0);
    const lines = fs.readFileSync(t, "utf8").trim().split("\n");
    expect(lines[0]).toBe("qcow2_writev_start_req co co1 offset 0x0 bytes 4096");
    expect(lines.every((l) => l.startsWith("qcow2_"))).toBe(true);
  });
});
