// info, map and export against the committed samples' goldens (samples/goldens/index.json, made by qemu-img 7.2).
// Names in the goldens are relative to samples/images, so the checks run from there.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportRaw } from "../../engine/check/export.js";
import { imageInfo, imageInfoChain, infoJson } from "../../engine/check/info.js";
import { openForInspection } from "../../engine/check/open-inspection.js";
import { printMap } from "../../engine/check/map.js";
import { tmpDir } from "../format/qemu-images.js";

const SAMPLES = fileURLToPath(new URL("../../samples/", import.meta.url));
const INDEX = join(SAMPLES, "goldens", "index.json");

interface Golden {
  file: string | null;
  exitCode: number;
  command: string;
}
interface Sample {
  name: string;
  image: string;
  format: string;
  committed: boolean;
  goldens: Record<string, Golden>;
  raw?: { sha256: string; size: number; command: string };
}

const index: { samples: Sample[] } | null = existsSync(INDEX) ? (JSON.parse(readFileSync(INDEX, "utf8")) as { samples: Sample[] }) : null;
const samples = (index?.samples ?? []).filter((s) => s.committed && existsSync(join(SAMPLES, "images", s.image)));
const tmp = tmpDir("qcowdbg-goldens-");
const startDir = process.cwd();

// The goldens describe files without holes (samples/make-samples.sh writes them dense), but a git checkout may
// leave runs of zeros as holes, which map reports as zero: the checks run on a dense copy of the images.
const dense = tmp.path("images");
beforeAll(() => {
  mkdirSync(dense, { recursive: true });
  for (const f of readdirSync(join(SAMPLES, "images"))) {
    const src = join(SAMPLES, "images", f);
    if (statSync(src).isFile()) writeFileSync(join(dense, f), readFileSync(src));
  }
  process.chdir(dense);
});
afterAll(() => {
  process.chdir(startDir);
  tmp.cleanup();
});

const noActualSize = (s: string) => s.replace(/^ *"actual-size": \d+,\n/gm, "");

function golden(s: Sample, kind: string): string | undefined {
  const g = s.goldens[kind];
  if (!g || g.exitCode !== 0 || !g.file) return undefined;
  return readFileSync(join(SAMPLES, "goldens", g.file), "utf8");
}

function mapJson(s: Sample): string {
  let out = "";
  const top = openForInspection(s.image, s.format);
  try {
    printMap(top, { json: true, name: s.image }, (c) => (out += c));
  } finally {
    top.close();
  }
  return out;
}

describe.skipIf(!index)("committed samples against their qemu-img goldens", () => {
  it("covers the committed samples", () => {
    expect(samples.length).toBeGreaterThan(10);
  });

  it.each(samples.map((s) => [s.name, s] as const))("%s: info and info --backing-chain", (_name, s) => {
    const info = golden(s, "info");
    expect(info).toBeDefined();
    expect(noActualSize(infoJson(imageInfo(s.image, { format: s.format })))).toBe(noActualSize(info!));
    const chain = golden(s, "info-backing-chain");
    if (chain !== undefined) expect(noActualSize(infoJson(imageInfoChain(s.image, { format: s.format })))).toBe(noActualSize(chain));
  });

  it.each(samples.map((s) => [s.name, s] as const))("%s: map --output=json", (_name, s) => {
    // An encrypted image's map needs no key in qcowdbg (metadata is not encrypted): compare with qemu-img's keyed map.
    const want = golden(s, "map") ?? golden(s, "map-with-secret");
    expect(want).toBeDefined();
    expect(mapJson(s)).toBe(want);
  });

  it.each(samples.filter((s) => s.raw).map((s) => [s.name, s] as const))("%s: export equals qemu-img convert -O raw", (_name, s) => {
    const out = tmp.path(`${s.name}.raw`);
    const top = openForInspection(s.image, s.format);
    try {
      if (golden(s, "map-with-secret") !== undefined) {
        expect(() => exportRaw(top, out)).toThrow(/encrypted/);
        return;
      }
      const r = exportRaw(top, out);
      expect(r.size).toBe(s.raw!.size);
      expect(createHash("sha256").update(readFileSync(out)).digest("hex")).toBe(s.raw!.sha256);
    } finally {
      top.close();
      rmSync(out, { force: true });
    }
  });
});
