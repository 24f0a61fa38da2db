// `crashtest --profile`: what crash safety costs in time on a device profile. Each cache mode and the lazy-refcounts
// toggle is replayed, modelled and judged; the tested row keeps crashtest's own verdict and exit status, the
// header names the profile, and the modelled times order as the settings' work does (writethrough syncs after
// every write; unsafe never syncs).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { extract } from "./oracle-workloads.js";
import { safetyAlternatives } from "../../engine/crash/safety-costs.js";
import { parseConfigOptions } from "../../engine/image/engine-config.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");

interface Row {
  config: string;
  tested: boolean;
  modelledSeconds: number;
  worst: string;
  failing: boolean;
}

describe("crashtest --profile", () => {
  it("lists every other cache mode and the lazy-refcounts toggle (version 3 images only)", () => {
    const base = parseConfigOptions("cache=writethrough,l2-cache-size=1M");
    const alts = safetyAlternatives(base, false, true);
    expect(alts.map((a) => a.label)).toEqual(["cache=writeback", "cache=none", "cache=directsync", "cache=unsafe", "lazy-refcounts=on"]);
    // The other options carry over.
    expect(alts.every((a) => a.config.l2CacheSize === base.l2CacheSize)).toBe(true);
    expect(alts[4]!.config.lazyRefcounts).toBe(true);
    expect(safetyAlternatives(base, true, true).at(-1)!.label).toBe("lazy-refcounts=off");
    expect(safetyAlternatives(base, false, false).map((a) => a.label)).not.toContain("lazy-refcounts=on");
  });

  it("puts each setting's modelled time beside its verdict, names the profile, and keeps crashtest's verdict", () => {
    const { dir, img, script } = extract("sequential", []);
    try {
      const plain = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--output", "json"], { encoding: "utf8", maxBuffer: 1 << 26 });
      const r = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--output", "json", "--profile", "sata-ssd"], { encoding: "utf8", maxBuffer: 1 << 26 });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(plain.status);
      const out = JSON.parse(r.stdout) as { profile: string; worst: string; safetyCosts: Row[] };
      expect(out.profile).toBe("sata-ssd");
      const rows = new Map(out.safetyCosts.map((x) => [x.config, x]));
      const tested = out.safetyCosts[0]!;
      expect(tested).toMatchObject({ tested: true, config: "cache=writeback", worst: (JSON.parse(plain.stdout) as { worst: string }).worst });
      // Writethrough syncs after every write, unsafe never: the model must order them so.
      expect(rows.get("cache=writethrough")!.modelledSeconds).toBeGreaterThan(tested.modelledSeconds);
      expect(rows.get("cache=unsafe")!.modelledSeconds).toBeLessThan(tested.modelledSeconds);
      // Ignoring flushes can lose what a completed flush covered; QEMU's ordering under writethrough cannot.
      expect(rows.get("cache=unsafe")!.failing).toBe(true);
      expect(rows.get("cache=writethrough")!.failing).toBe(false);
      expect(rows.get("lazy-refcounts=on")!.worst).toMatch(/clean|leaks|dirty/);

      const text = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--profile", "sata-ssd"], { encoding: "utf8", maxBuffer: 1 << 26 });
      const lines = text.stdout.split("\n");
      expect(lines[0]).toMatch(/cache=writeback, device profile sata-ssd \(built-in\)$/);
      const table = lines.slice(lines.findIndex((l) => l.startsWith("What safety costs on this host")));
      expect(table[0]).toMatch(/device profile sata-ssd/);
      expect(table[2]).toMatch(/^ {2}cache=writeback \(tested\) +\d/);
      expect(table.find((l) => l.includes("cache=unsafe"))).toMatch(/-\d+\.\d% {2}UNSAFE: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown profile in one line", () => {
    const { dir, img, script } = extract("sequential", []);
    try {
      const r = spawnSync(process.execPath, [CLI, "crashtest", img, script, "--profile", path.join(dir, "missing.json")], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
