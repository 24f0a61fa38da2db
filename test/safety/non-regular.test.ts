// Non-regular files: an image (or a backing file) that is a FIFO, a directory or a character device is refused
// at once with a message naming it (no hang waiting for a writer); a trace may come from a pipe, a FIFO or stdin
// ("-") and streams front to back, and a second pass over a long stream is refused with a clear message.
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

afterAll(removeTempDirs);

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const TRACES = path.join(ROOT, "samples/traces");
const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;

function run(args: string[], opts: { input?: string | Buffer; cwd?: string } = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 20_000, ...opts });
}

function dir(): string {
  return tempDir("qcowdbg-nonreg-");
}

describe("images must be regular files or block devices", () => {
  const d = dir();
  const fifo = path.join(d, "img.fifo");
  spawnSync("mkfifo", [fifo]);
  for (const args of [["info", fifo], ["map", fifo], ["check", fifo], ["dump", fifo, "header"], ["export", fifo, path.join(d, "o.raw")], ["repl", "-c", "read 0 512", fifo], ["repl", "--write", "-c", "read 0 512", fifo]]) {
    it(`${args[0]} refuses a FIFO without waiting for a writer`, () => {
      const r = run(args);
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`qcowdbg: ${fifo}: is a FIFO; images must be regular files or block devices\n`);
    });
  }

  it("refuses a directory and a character device, naming them", () => {
    expect(run(["info", d]).stderr).toMatch(new RegExp(`^qcowdbg: ${d}.*[Ii]s a directory`));
    const r = run(["map", "/dev/null"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("/dev/null");
  });

  it.skipIf(!hasQemu)("refuses a backing file that is a FIFO (map, export, replay, repl) instead of hanging", () => {
    const w = dir();
    const top = path.join(w, "top.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", top, "1M"]);
    spawnSync("mkfifo", [path.join(w, "back")]);
    // Point the header at the FIFO by name (qemu-img create would open it).
    const name = Buffer.from("back");
    const fd = fs.openSync(top, "r+");
    const hdr = Buffer.alloc(20);
    fs.readSync(fd, hdr, 0, 20, 0);
    const nameOff = 0x200;
    fs.writeSync(fd, name, 0, name.length, nameOff);
    const b = Buffer.alloc(12);
    b.writeUInt32BE(0, 0);
    b.writeUInt32BE(nameOff, 4);
    b.writeUInt32BE(name.length, 8);
    fs.writeSync(fd, b, 0, 12, 8);
    fs.closeSync(fd);
    for (const args of [["map", top], ["export", top, path.join(w, "o.raw")], ["replay", "--no-recommend", top, path.join(TRACES, "tour.qemu-io")], ["repl", "-c", "read 0 4k", top]]) {
      const r = run(args, { cwd: w });
      expect(r.error, args.join(" ")).toBeUndefined();
      expect(r.status, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(/back: is a FIFO; images must be regular files or block devices/);
    }
  });
});

describe("traces from pipes and stdin", () => {
  const strip = (s: string) => s.replace(/\s\S+[:#]\d+$/gm, "").replace(/from \S+ /, "from X ");

  it("`cat trace | qcowdbg workload -` gives what the file gives (blkparse text and binary blktrace)", () => {
    // One per-CPU blktrace file under a name that does not pull in its siblings, as a pipe carries it.
    const single = path.join(dir(), "one-cpu.bin");
    fs.copyFileSync(path.join(TRACES, "synth.blktrace.0"), single);
    for (const [file, extra] of [[path.join(TRACES, "synth.blkparse.txt"), []], [single, ["--format", "blktrace"]], [path.join(TRACES, "tour.qemu-io"), []]] as const) {
      const f = path.basename(file);
      const fromFile = run(["workload", ...extra, file]);
      const piped = run(["workload", ...extra, "-"], { input: fs.readFileSync(file) });
      expect(piped.status, f).toBe(0);
      expect(strip(piped.stdout), f).toBe(strip(fromFile.stdout));
      expect(piped.stdout.split("\n").length).toBeGreaterThan(5);
    }
  });

  it("reads a trace from a FIFO while a writer fills it", async () => {
    const d = dir();
    const fifo = path.join(d, "trace.fifo");
    spawnSync("mkfifo", [fifo]);
    const child = spawn(process.execPath, [CLI, "workload", fifo], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const closed = new Promise<number | null>((r) => child.on("close", r));
    fs.writeFileSync(fifo, fs.readFileSync(path.join(TRACES, "synth.blkparse.txt")));
    expect(await closed).toBe(0);
    expect(out).toMatch(/# 8 requests from .*trace\.fifo \(blkparse\)/);
  });

  it("replays a piped trace, and refuses a second pass over a long one with a clear message", () => {
    const img = path.join(ROOT, "samples/images/tour.qcow2");
    const small = run(["replay", img, "-"], { input: fs.readFileSync(path.join(TRACES, "tour.qemu-io")) });
    expect(small.status).toBe(0);
    expect(small.stdout).toContain("qcowdbg replay:");
    // Past the 64 KiB kept for detection, a stream cannot be read again (--fit scale reads it twice).
    const long = Array.from({ length: 6000 }, (_, i) => `write -P ${i % 250} ${(i % 900) * 65536} 4k`).join("\n") + "\n";
    const once = run(["workload", "-"], { input: long });
    expect(once.status).toBe(0);
    expect(once.stdout).toContain("# 6000 requests from -");
    const twice = run(["workload", "--fit-size", "1M", "--fit-mode", "scale", "-"], { input: long });
    expect(twice.status).toBe(1);
    expect(twice.stderr).toMatch(/^qcowdbg: -:0: a trace from a pipe or stdin can be read only once.*second pass/m);
  });
});
