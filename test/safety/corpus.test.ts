// The "never destroy a user's file" corpus (samples/safety/make-corpus.py): iotest-060-style mutants, each
// written with every write-capable command (repl --write, repl on the shadow, repl --save-as) and held to what the
// real qemu-io 7.2 did with the same write on a copy, in the same run: its refusal (message, exit status) or
// acceptance, and the resulting file byte for byte. Where QEMU refuses, the user's file is not written beyond what
// QEMU itself writes (the corrupt bit), and without --write not at all.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const SCRIPT = path.join(ROOT, "samples/safety/make-corpus.py");
const GOLDEN = path.join(ROOT, "samples/safety/verdicts.json");
const tools = spawnSync("qemu-io", ["--version"]).status === 0 && spawnSync("python3", ["--version"]).status === 0;
const sha = (f: string) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");

interface Verdict {
  exit: number;
  stdout: string[];
  stderr: string[];
  command: string;
  mode: string;
  sha256?: string;
}

const golden = JSON.parse(fs.readFileSync(GOLDEN, "utf8")) as Record<string, Verdict>;

function ours(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout.split("\n").filter((l) => l && !l.includes("ops/sec")), stderr: r.stderr };
}

describe.skipIf(!tools)("safety corpus against the real qemu-io", () => {
  let dir = "";
  let live: Record<string, Verdict> = {};
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-corpus-"));
    const r = spawnSync("python3", [SCRIPT, dir, "--verdicts"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`make-corpus.py failed: ${r.stderr}`);
    live = JSON.parse(r.stdout) as Record<string, Verdict>;
  }, 60_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("QEMU still does what the committed golden says", () => {
    const strip = (v: Record<string, Verdict>) => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, { ...x, sha256: undefined }]));
    expect(strip(live)).toEqual(strip(golden));
    // The corpus holds both outcomes.
    expect(Object.values(golden).filter((v) => v.exit === 0).length).toBeGreaterThan(2);
    expect(Object.values(golden).filter((v) => v.exit === 1).length).toBeGreaterThan(8);
  });

  for (const [key, want] of Object.entries(golden)) {
    const name = key.split("@")[0]!;
    const cache = want.mode === "cached" ? [] : ["--cache", `overlap-check=${want.mode}`];
    const cmds = ["-c", want.command, "-c", "read 0 512"];
    /** qemu-io's open errors read "qemu-io: can't open device IMG: <reason>"; ours "qcowdbg: IMG: <reason>". */
    const checkStderr = (got: string, img: string) => {
      const open = want.stderr.map((l) => /^qemu-io: can't open device IMG: (.*)$/.exec(l)?.[1]).find(Boolean);
      if (open) expect(got.trim()).toBe(`qcowdbg: ${img}: ${open}`);
      else expect(got.split("\n").filter(Boolean)).toEqual(want.stderr);
    };

    it(`${key}: repl --write ${want.exit ? "is refused" : "is accepted"} as qemu-io, file bytes as QEMU leaves them`, () => {
      const img = path.join(dir, `${key}.write.qcow2`);
      fs.copyFileSync(path.join(dir, `${name}.qcow2`), img);
      const r = ours(["repl", "--write", ...cache, ...cmds, img]);
      expect(r.status).toBe(want.exit);
      expect(r.stdout).toEqual(want.stdout);
      checkStderr(r.stderr, img);
      expect(sha(img)).toBe(live[key]!.sha256);
    });

    it(`${key}: repl on the shadow answers the same and never writes the file`, () => {
      const img = path.join(dir, `${key}.shadow.qcow2`);
      fs.copyFileSync(path.join(dir, `${name}.qcow2`), img);
      const before = sha(img);
      const r = ours(["repl", ...cache, ...cmds, img]);
      expect(r.status).toBe(want.exit);
      expect(r.stdout).toEqual(want.stdout);
      checkStderr(r.stderr, img);
      expect(sha(img)).toBe(before);
    });

    it(`${key}: repl --save-as writes QEMU's result or nothing, never the input`, () => {
      const img = path.join(dir, `${key}.saveas.qcow2`);
      const out = path.join(dir, `${key}.out.qcow2`);
      fs.copyFileSync(path.join(dir, `${name}.qcow2`), img);
      const before = sha(img);
      const r = ours(["repl", "--save-as", out, ...cache, ...cmds, img]);
      expect(r.status).toBe(want.exit);
      expect(sha(img)).toBe(before);
      if (want.exit === 0) expect(sha(out)).toBe(live[key]!.sha256);
      else expect(fs.existsSync(out)).toBe(false);
    });
  }
});
