// Holds the corrupted-image corpus to account: it is deterministic, leaves the samples alone, and every
// hand-made case is really broken the way it says: real qemu-img 7.2 gives the exit codes the case records.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCorpus, SAMPLE_IMAGES, type BadCase, type QemuOutcome, type QemuVerdict } from "./corpus.js";
import { treeDigest } from "../shared/tree-digest.js";

const hasQemuImg = spawnSync("qemu-img", ["--version"]).status === 0;


function exitCode(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    execFile("qemu-img", args, { timeout: 10_000 }, (err) => {
      if (!err) return resolve(0);
      const code = (err as { code?: unknown }).code;
      resolve(typeof code === "number" ? code : -1);
    });
  });
}

describe("corrupted-image corpus", () => {
  let dirA = "";
  let dirB = "";
  let cases: BadCase[] = [];
  let samplesBefore = new Map<string, string>();

  beforeAll(() => {
    samplesBefore = treeDigest(SAMPLE_IMAGES);
    dirA = mkdtempSync(join(tmpdir(), "qcowdbg-corpus-a-"));
    dirB = mkdtempSync(join(tmpdir(), "qcowdbg-corpus-b-"));
    cases = buildCorpus(dirA);
    buildCorpus(dirB);
  });
  afterAll(() => {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  });

  it("is deterministic, names cases once and leaves samples/images unchanged", () => {
    expect(treeDigest(dirA)).toEqual(treeDigest(dirB));
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(cases.filter((c) => c.qemu === null).length).toBe(200);
    expect(treeDigest(SAMPLE_IMAGES)).toEqual(samplesBefore);
  });

  it("differs from its source in every case", () => {
    // Directory cases (backing files, a missing data file) are damaged by what surrounds them instead.
    for (const c of cases.filter((k) => k.path.endsWith(`${k.name}.qcow2`))) {
      const src = readFileSync(join(SAMPLE_IMAGES, c.source));
      expect(readFileSync(c.path).equals(src), c.name).toBe(false);
    }
  });

  it.skipIf(!hasQemuImg)("gets the recorded exit codes from qemu-img info, map, check and convert", async () => {
    const hand = cases.filter((c) => c.qemu !== null);
    // A recorded "hang" (backing loops) is not re-run: waiting for it would cost a timeout per command.
    const run = (want: QemuOutcome, args: string[]): Promise<QemuOutcome> => (want === "hang" ? Promise.resolve("hang") : exitCode(args));
    const one = async (c: BadCase, i: number): Promise<{ name: string } & QemuVerdict> => {
      const want = c.qemu!;
      const out = join(dirA, `convert-${i}.raw`);
      const convert = await run(want.convert, ["convert", "-f", "qcow2", "-O", "raw", c.path, out]);
      rmSync(out, { force: true });
      return {
        name: c.name,
        info: await run(want.info, ["info", "-f", "qcow2", "--output=json", c.path]),
        map: await run(want.map, ["map", "-f", "qcow2", "--output=json", c.path]),
        check: await run(want.check, ["check", "-f", "qcow2", "--output=json", c.path]),
        convert,
      };
    };
    const seen: ({ name: string } & QemuVerdict)[] = [];
    for (let i = 0; i < hand.length; i += 8) seen.push(...(await Promise.all(hand.slice(i, i + 8).map((c, j) => one(c, i + j)))));
    expect(seen).toEqual(hand.map((c) => ({ name: c.name, ...c.qemu })));
  });
});
