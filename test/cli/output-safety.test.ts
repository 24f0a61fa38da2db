// Outputs never land on inputs: every output flag (--save-as, --qemu-trace, --events, --chrome-trace, export's
// OUT) is refused when it is the image, a backing file, the data file, the trace or another output, through
// symlinks and hard links, with the input's bytes unchanged. And outputs are atomic: a kill during --save-as
// leaves the old file or the complete new one.
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

afterAll(removeTempDirs);

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;
const sha = (f: string) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");

function run(args: string[], cwd: string, input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", input, cwd });
}

/** A chain top.qcow2 -> base.raw, a data-file image, a trace, a symlink and a hard link. */
function fixture(): string {
  const d = tempDir("qcowdbg-outsafe-");
  for (const f of ["chain-top.qcow2", "chain-mid.qcow2", "chain-base.raw", "data-file.qcow2", "data-file.data", "tour.qcow2"])
    fs.copyFileSync(path.join(ROOT, "samples/images", f), path.join(d, f));
  fs.copyFileSync(path.join(ROOT, "samples/traces/tour.qemu-io"), path.join(d, "tour.qemu-io"));
  fs.symlinkSync("chain-top.qcow2", path.join(d, "link.qcow2"));
  fs.linkSync(path.join(d, "chain-base.raw"), path.join(d, "hard.raw"));
  return d;
}

function digests(d: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(d).sort()) if (fs.lstatSync(path.join(d, f)).isFile()) out[f] = sha(path.join(d, f));
  return out;
}

const CLASHES: { name: string; args: string[]; message: RegExp }[] = [
  { name: "--save-as onto the image", args: ["repl", "--save-as", "chain-top.qcow2", "chain-top.qcow2", "-c", "write 0 4k"], message: /--save-as would overwrite the image/ },
  { name: "--save-as onto a symlink to the image", args: ["repl", "--save-as", "link.qcow2", "chain-top.qcow2", "-c", "write 0 4k"], message: /--save-as would overwrite the image/ },
  { name: "--save-as onto the backing file", args: ["repl", "--save-as", "chain-mid.qcow2", "chain-top.qcow2", "-c", "write 0 4k"], message: /a backing file of the image/ },
  { name: "--save-as onto a hard link to the bottom of the chain", args: ["repl", "--save-as", "hard.raw", "link.qcow2", "-c", "write 0 4k"], message: /a backing file of the image \(.*chain-base\.raw\)/ },
  { name: "--save-as onto the data file", args: ["repl", "--save-as", "data-file.data", "data-file.qcow2", "-c", "write 0 4k"], message: /the image's data file/ },
  { name: "--qemu-trace onto the image", args: ["repl", "--qemu-trace", "chain-top.qcow2", "chain-top.qcow2", "-c", "write 0 4k"], message: /--qemu-trace would overwrite the image/ },
  { name: "--qemu-trace with --write onto the image", args: ["repl", "--write", "--qemu-trace", "link.qcow2", "chain-top.qcow2", "-c", "write 0 4k"], message: /--qemu-trace would overwrite the image/ },
  { name: "--qemu-trace onto the --save-as output", args: ["repl", "--save-as", "new.qcow2", "--qemu-trace", "./new.qcow2", "chain-top.qcow2", "-c", "write 0 4k"], message: /--qemu-trace would overwrite the --save-as output/ },
  { name: "replay --events onto the image", args: ["replay", "--no-recommend", "--events", "tour.qcow2", "tour.qcow2", "tour.qemu-io"], message: /--events would overwrite the image/ },
  { name: "replay --events onto the trace", args: ["replay", "--no-recommend", "--events", "tour.qemu-io", "tour.qcow2", "tour.qemu-io"], message: /--events would overwrite the trace/ },
  { name: "replay --chrome-trace onto a backing file", args: ["replay", "--no-recommend", "--chrome-trace", "chain-base.raw", "chain-top.qcow2", "tour.qemu-io"], message: /--chrome-trace would overwrite a backing file/ },
  { name: "replay --events and --chrome-trace onto one new file", args: ["replay", "--no-recommend", "--events", "ev.json", "--chrome-trace", "ev.json", "tour.qcow2", "tour.qemu-io"], message: /--chrome-trace would overwrite the --events output/ },
  { name: "export onto the data file", args: ["export", "data-file.qcow2", "data-file.data"], message: /the export output would overwrite the image's data file/ },
];

describe("outputs never overwrite inputs", () => {
  for (const c of CLASHES) {
    it(`refuses ${c.name}`, () => {
      const d = fixture();
      const before = digests(d);
      const r = run(c.args, d);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(c.message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stdout).toBe("");
      expect(digests(d)).toEqual(before);
      expect(fs.existsSync(path.join(d, "new.qcow2")) || fs.existsSync(path.join(d, "ev.json"))).toBe(false);
    });
  }

  it("still writes every output when none clashes, and leaves no temporary file", () => {
    const d = fixture();
    const r = run(["replay", "--no-recommend", "--events", "ev.jsonl", "--chrome-trace", "ct.json", "tour.qcow2", "tour.qemu-io"], d);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(d, "ev.jsonl"), "utf8").split("\n").length).toBeGreaterThan(10);
    expect(() => JSON.parse(fs.readFileSync(path.join(d, "ct.json"), "utf8")) as unknown).not.toThrow();
    const s = run(["repl", "--save-as", "saved.qcow2", "--qemu-trace", "q.log", "chain-top.qcow2", "-c", "write -P 7 0 4k"], d);
    expect(s.status).toBe(0);
    expect(fs.readFileSync(path.join(d, "q.log"), "utf8")).toMatch(/qcow2_/);
    expect(fs.readdirSync(d).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

describe.skipIf(!hasQemu)("--save-as is atomic", () => {
  it("a kill at any moment leaves the old file or the complete new one under OUT", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-atomic-"));
    const img = path.join(d, "big.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "256M"]);
    spawnSync("qemu-io", ["-c", "write -P 0x33 0 96M", img], { stdio: "ignore" });
    const out = path.join(d, "out.qcow2");
    const old = Buffer.from("the user's previous file\n");
    // The complete result, for comparison.
    const full = path.join(d, "full.qcow2");
    expect(run(["repl", "--save-as", full, img, "-c", "write -P 0x44 1M 4k"], d).status).toBe(0);
    const want = sha(full);
    let sawOld = 0;
    let sawNew = 0;
    for (const delay of [30, 150, 300, 450, 600, 800, 1200]) {
      fs.writeFileSync(out, old);
      const child = spawn(process.execPath, [CLI, "repl", "--save-as", out, img, "-c", "write -P 0x44 1M 4k"], { stdio: "ignore" });
      const closed = new Promise((r) => child.on("close", r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      await closed;
      const now = fs.readFileSync(out);
      if (now.equals(old)) sawOld++;
      else {
        expect(sha(out)).toBe(want);
        sawNew++;
      }
      for (const f of fs.readdirSync(d).filter((f) => f.endsWith(".tmp"))) fs.rmSync(path.join(d, f));
    }
    // At least the early kills hit before the rename (the copy of 96 MiB takes longer than 30 ms).
    expect(sawOld).toBeGreaterThan(0);
    expect(sawOld + sawNew).toBe(7);
    fs.rmSync(d, { recursive: true, force: true });
  }, 60_000);
});
