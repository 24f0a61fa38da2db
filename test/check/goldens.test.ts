// `qcowdbg check` against the committed qemu-img goldens (samples/goldens): same stdout (JSON and human), same
// stderr (program name aside) and exit code, run from samples/images as the recorded commands were.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ourCheck } from "./oracle.js";

const SAMPLES = fileURLToPath(new URL("../../samples/", import.meta.url));
const INDEX = join(SAMPLES, "goldens", "index.json");

interface Golden {
  file: string | null;
  stderr: string | null;
  exitCode: number;
  command: string;
}
interface Sample {
  name: string;
  image: string;
  format: string;
  files: string[];
  goldens: Record<string, Golden>;
}

const samples: Sample[] = existsSync(INDEX) ? (JSON.parse(readFileSync(INDEX, "utf8")) as { samples: Sample[] }).samples : [];
const qcow2 = samples.filter((s) => s.format === "qcow2" && s.goldens.check);

describe.skipIf(qcow2.length === 0)("qcowdbg check matches the qemu-img goldens", () => {
  it("has check goldens for most samples", () => {
    expect(qcow2.length).toBeGreaterThanOrEqual(20);
  });
  for (const sample of qcow2) {
    const present = sample.files.every((f) => existsSync(join(SAMPLES, "images", f)));
    it.skipIf(!present)(sample.name, () => {
      const cwd = process.cwd();
      // The recorded commands ran in samples/images with relative names (data files resolve against it).
      process.chdir(join(SAMPLES, "images"));
      try {
        for (const [key, output] of [["check", "json"], ["check-human", "human"]] as const) {
          const g = sample.goldens[key]!;
          const want = {
            stdout: g.file ? readFileSync(join(SAMPLES, "goldens", g.file), "utf8") : "",
            stderr: g.stderr ? readFileSync(join(SAMPLES, "goldens", g.stderr), "utf8") : "",
            status: g.exitCode,
          };
          expect(g.command).toContain(sample.image);
          expect(ourCheck(sample.image, output), `${sample.name} ${key}`).toEqual(want);
        }
      } finally {
        process.chdir(cwd);
      }
    });
  }
});
