// The what-ifs that remove QEMU's ordering: with the refcount-before-L2 flush gone, or the COW-before-L2 flush gone
// (with lazy refcounts, where nothing else orders COW data before the L2 update), or with cache=unsafe, crashtest
// must find states that are corrupt or lose data, exit 2, and name the writes whose loss caused them; the
// corrupt states it saves must be corrupt for the real qemu-img check too.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { extract } from "./oracle-workloads.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;

interface Out {
  counts: Record<string, number>;
  failing: boolean;
  verdicts: Record<string, { lost: { cause: string }[]; persisted: { cause: string }[]; firstStep: number }>;
}

function crashtest(workload: string, files: string[], config: string, extra: string[] = []): { out: Out; status: number | null; dir: string } {
  const { dir, img, script } = extract(workload, files);
  const r = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--output", "json", ...(config ? ["--config", config] : []), ...extra], { encoding: "utf8", maxBuffer: 1 << 26 });
  expect(r.stderr).toBe("");
  return { out: JSON.parse(r.stdout) as Out, status: r.status, dir };
}

describe("crash what-ifs", () => {
  it("refcount-before-l2=off: an L2 write-back persists before the refcount block it needs (corrupt)", () => {
    const { out, status, dir } = crashtest("sequential", [], "refcount-before-l2=off");
    try {
      expect(out.counts.corrupt).toBeGreaterThan(0);
      expect(status).toBe(2);
      expect(out.verdicts.corrupt!.lost.map((o) => o.cause)).toContain("refcount");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const base = crashtest("sequential", [], "");
    fs.rmSync(base.dir, { recursive: true, force: true });
    expect(base.out.counts.corrupt).toBe(0);
    expect(base.status).toBe(0);
  });

  it("cow-before-l2=off with lazy refcounts: the L2 entry persists before the COW data it points at", () => {
    const { out, status, dir } = crashtest("backing-cow", ["back.raw"], "cow-before-l2=off,lazy-refcounts=on");
    fs.rmSync(dir, { recursive: true, force: true });
    const bad = (out.counts["data-lost"] ?? 0) + (out.counts.garbage ?? 0) + out.counts.corrupt!;
    expect(bad).toBeGreaterThan(0);
    expect(status).toBe(2);
    const v = out.verdicts.garbage ?? out.verdicts["data-lost"] ?? out.verdicts.corrupt!;
    expect(v.lost.map((o) => o.cause)).toContain("cow");
    expect(v.persisted.map((o) => o.cause)).toContain("l2");
    // The same trace with the flush in place: dirty (the lazy-refcounts trade), never garbage or data loss.
    const safe = crashtest("backing-cow", ["back.raw"], "lazy-refcounts=on");
    fs.rmSync(safe.dir, { recursive: true, force: true });
    expect(safe.out.counts.dirty).toBeGreaterThan(0);
    expect(safe.out.failing).toBe(false);
  });

  it("cache=unsafe: guest flushes never reach the disk, so flushed data is lost", () => {
    const { out, status, dir } = crashtest("backing-cow", ["back.raw"], "cache=unsafe");
    fs.rmSync(dir, { recursive: true, force: true });
    expect(out.failing).toBe(true);
    expect(status).toBe(2);
  });

  it.skipIf(!hasQemu)("the corrupt states it saves are corrupt for qemu-img check too", () => {
    const { dir, img, script } = extract("sequential", []);
    try {
      const states = path.join(dir, "states");
      const r = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--config", "refcount-before-l2=off", "--save-states", states, "--save-max", "3"], { encoding: "utf8" });
      expect(r.status).toBe(2);
      const index = JSON.parse(fs.readFileSync(path.join(states, "index.json"), "utf8")) as { states: { verdict: string; check: string; file: string }[] };
      expect(index.states[0]!.verdict).toBe("corrupt");
      for (const s of index.states) {
        const q = spawnSync("qemu-img", ["check", path.basename(s.file)], { cwd: path.join(states, path.dirname(s.file)) });
        expect({ file: s.file, exit: q.status }).toEqual({ file: s.file, exit: { clean: 0, leaks: 3, corrupt: 2 }[s.check] });
      }
      // The input image is never modified.
      expect(spawnSync("qemu-img", ["check", img]).status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("replay --crash-safety says which configuration is faster but unsafe", () => {
    const { dir, img, script } = extract("backing-cow", ["back.raw"]);
    try {
      const r = spawnSync(process.execPath, [CLI, "replay", img, script, "--config", "cache=writeback", "--crash-safety", "--compare", "cache=unsafe", "lazy-refcounts=on"], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      const row = r.stdout.split("\n").find((l) => l.startsWith("crash safety"))!;
      const cells = row.replace("crash safety", "").trim().split(/\s{2,}/);
      expect(cells).toEqual([expect.stringMatching(/^safe: leaks/), expect.stringMatching(/^UNSAFE: (corrupt|data-lost|garbage)/), expect.stringMatching(/^safe: dirty/)]);
      const time = r.stdout.split("\n").find((l) => l.startsWith("modelled time"))!;
      expect(time).toMatch(/\(-\d/); // cache=unsafe is faster
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a --save-states directory holding the image, and a non-empty one", () => {
    const { dir, img, script } = extract("sequential", []);
    try {
      const r = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--save-states", dir], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toMatch(/^qcowdbg: --save-states .*: the directory contains .*base\.qcow2, an input/);
      fs.mkdirSync(path.join(dir, "full"));
      fs.writeFileSync(path.join(dir, "full", "x"), "");
      const r2 = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--save-states", path.join(dir, "full")], { encoding: "utf8" });
      expect(r2.stderr.trim()).toMatch(/directory is not empty$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
