// The sample index (samples/goldens/index.json) is what oracle tests trust: every file it names must be there,
// every golden must parse, and its numbers must agree with the goldens themselves.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const SAMPLES = fileURLToPath(new URL("../../samples/", import.meta.url));
const IMAGES = join(SAMPLES, "images");
const GOLDENS = join(SAMPLES, "goldens");

interface Golden {
  file: string | null;
  stderr: string | null;
  exitCode: number;
  command: string;
}
interface RawDigest {
  sha256: string;
  size: number;
  command: string;
}
interface Sample {
  name: string;
  image: string;
  format: string;
  files: string[];
  committed: boolean;
  tags: string[];
  virtualSize: number;
  goldens: Record<string, Golden>;
  checkExitCode: number;
  raw: RawDigest;
  snapshotsRaw?: { name: string; raw: RawDigest }[];
  notes: string[];
  recipe: string[];
}
interface SampleIndex {
  qemuImgVersion: string;
  samples: Sample[];
}

const index = JSON.parse(readFileSync(join(GOLDENS, "index.json"), "utf8")) as SampleIndex;
const gitignored = readFileSync(join(IMAGES, ".gitignore"), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe("samples/goldens/index.json", () => {
  it("was made by qemu-img 7.2 and names each sample once", () => {
    expect(index.qemuImgVersion).toMatch(/^qemu-img version 7\.2\./);
    const names = index.samples.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(20);
  });

  it("references every golden file there is", () => {
    const referenced = new Set(
      index.samples.flatMap((s) => Object.values(s.goldens).flatMap((g) => [g.file, g.stderr].filter((f) => f !== null))),
    );
    const present = filesUnder(GOLDENS)
      .map((p) => relative(GOLDENS, p))
      .filter((p) => p !== "index.json");
    expect(present.sort()).toEqual([...referenced].sort());
  });

  describe.each(index.samples.map((s) => [s.name, s] as const))("%s", (_name, s) => {
    it("has its files (or, when too big for git, a recipe and a .gitignore line)", () => {
      expect(s.files[0]).toBe(s.image);
      if (s.committed) {
        for (const f of s.files) expect(existsSync(join(IMAGES, f)), f).toBe(true);
      } else {
        expect(gitignored).toContain(s.image);
        expect(s.recipe.length).toBeGreaterThan(0);
      }
    });

    it("has goldens that exist and parse, with the exit codes qemu-img gave", () => {
      for (const key of ["info", "map", "check", "check-human"]) expect(s.goldens[key], key).toBeDefined();
      for (const [key, g] of Object.entries(s.goldens)) {
        expect(Number.isInteger(g.exitCode), key).toBe(true);
        expect(g.command.startsWith("qemu-img "), key).toBe(true);
        expect(g.file !== null || g.stderr !== null, `${key} recorded nothing`).toBe(true);
        if (g.stderr !== null) expect(readFileSync(join(GOLDENS, g.stderr), "utf8").length).toBeGreaterThan(0);
        if (g.file === null) continue;
        const text = readFileSync(join(GOLDENS, g.file), "utf8");
        if (g.file.endsWith(".json")) expect(() => JSON.parse(text), g.file).not.toThrow();
      }
      expect(s.checkExitCode).toBe(s.goldens.check!.exitCode);
    });

    it("agrees with its info and map goldens", () => {
      const info = JSON.parse(readFileSync(join(GOLDENS, s.goldens.info!.file!), "utf8")) as Record<string, unknown>;
      expect(info["filename"]).toBe(s.image);
      expect(info["format"]).toBe(s.format);
      expect(info["virtual-size"]).toBe(s.virtualSize);
      expect(s.raw.size).toBe(s.virtualSize);
      expect(s.raw.sha256).toMatch(/^[0-9a-f]{64}$/);
      for (const snap of s.snapshotsRaw ?? []) expect(snap.raw.sha256).toMatch(/^[0-9a-f]{64}$/);

      const mapFile = s.goldens.map!.file ?? s.goldens["map-with-secret"]?.file;
      expect(mapFile).toBeTruthy();
      const map = JSON.parse(readFileSync(join(GOLDENS, mapFile!), "utf8")) as { start: number; length: number }[];
      let next = 0;
      for (const extent of map) {
        expect(extent.start).toBe(next);
        next += extent.length;
      }
      expect(next).toBe(s.virtualSize);
    });
  });

  it("has the tour image and a 40-80 command qemu-io trace for it", () => {
    expect(index.samples.find((s) => s.name === "tour")?.virtualSize).toBe(64 * 1024 * 1024);
    const lines = readFileSync(join(SAMPLES, "traces", "tour.qemu-io"), "utf8").split("\n").filter((l) => l.trim());
    expect(lines.length).toBeGreaterThanOrEqual(40);
    expect(lines.length).toBeLessThanOrEqual(80);
    for (const l of lines) expect(l).toMatch(/^(read|write|discard|flush)\b/);
  });
});
