// check -r leaks|all against the real qemu-img 7.2 on damaged images from samples/safety/make-repair-corpus.py:
// refcount rebuilds (a cluster in use with refcount 0, unusable refcount table entries; several cluster sizes and
// refcount widths) and OFLAG_COPIED repairs. The same command line runs through qemu-img on one copy and qcowdbg
// on another: stdout, stderr and exit status equal, the repaired files byte for byte equal, qemu-img check clean
// afterwards, nothing written without -r, and the write lock held from before the first write to after the sync.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const MAKER = path.join(ROOT, "samples/safety/make-repair-corpus.py");
const SAFETY = path.join(ROOT, "samples/safety/make-corpus.py");
const have = (tool: string) => spawnSync(tool, ["--version"]).status === 0;
const missing = ["qemu-img", "qemu-io", "python3"].filter((t) => !have(t));
const tmp = tempDir("qcowdbg-repair-");
afterAll(removeTempDirs);

interface Outcome {
  stdout: string;
  stderr: string;
  status: number | null;
}

function run(prog: string[], args: string[], cwd: string): Outcome {
  const r = spawnSync(prog[0]!, [...prog.slice(1), ...args], { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const QEMU = ["qemu-img"];
const OURS = [process.execPath, CLI];

/** Runs `check ARGS` on two copies of `src`: qemu-img's outcome (in qcowdbg's words and file name) and ours. */
function both(src: string, args: string[]): { theirs: Outcome; ours: Outcome; a: Buffer; b: Buffer } {
  const dir = fs.mkdtempSync(path.join(tmp, "run-"));
  fs.copyFileSync(src, path.join(dir, "theirs.qcow2"));
  fs.copyFileSync(src, path.join(dir, "ours.qcow2"));
  const t = run(QEMU, ["check", ...args, "theirs.qcow2"], dir);
  const ours = run(OURS, ["check", ...args, "ours.qcow2"], dir);
  const swap = (s: string) => s.replaceAll("qemu-img", "qcowdbg").replaceAll("theirs.qcow2", "ours.qcow2");
  const theirs = { stdout: swap(t.stdout), stderr: swap(t.stderr), status: t.status };
  const a = fs.readFileSync(path.join(dir, "theirs.qcow2"));
  const b = fs.readFileSync(path.join(dir, "ours.qcow2"));
  if (theirs.status === 0 && args.includes("-r")) {
    // The repaired file passes qemu-img's own check.
    expect(spawnSync("qemu-img", ["check", path.join(dir, "ours.qcow2")]).status).toBe(0);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { theirs, ours, a, b };
}

const CASES = [
  "zero-data",
  "zero-l2",
  "zero-data-c512-r16",
  "zero-data-c512-r1",
  "zero-data-c512-r8",
  "zero-data-c512-r64",
  "zero-data-c4k-r2",
  "reftable-reserved",
  "refblock-shared",
  "copied-l2-clear",
  "copied-l1-clear",
  "copied-shared-set",
  "leak-and-copied",
  "zero-and-copied",
  "zero-with-snapshot",
  "dirty-lazy",
  "zero-l2-v2",
  "zero-l2-extended",
  "zero-l2-compressed",
  "zero-l2-c2m",
];

describe.skipIf(missing.length > 0)(`check -r against qemu-img${missing.length ? ` (skipped: ${missing.join(", ")} not installed)` : ""}`, () => {
  const corpus = path.join(tmp, "corpus");
  beforeAll(() => {
    const r = spawnSync("python3", [MAKER, corpus], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  }, 120_000);

  it.each(CASES)("%s: check, check -r leaks and check -r all as qemu-img", (name) => {
    const src = path.join(corpus, `${name}.qcow2`);
    const before = fs.readFileSync(src);
    const plain = both(src, []);
    expect(plain.ours).toEqual(plain.theirs);
    expect(plain.theirs.status).not.toBe(0); // every mutant is damaged
    expect(plain.b.equals(before)).toBe(true); // no -r, no write
    for (const mode of ["leaks", "all"]) {
      const r = both(src, ["-r", mode]);
      expect(r.ours, `-r ${mode}`).toEqual(r.theirs);
      expect(r.b.equals(r.a), `-r ${mode}: files differ`).toBe(true);
    }
  });

  it("repairs the never-destroy corpus (tables pointing into other metadata, the corrupt bit) as qemu-img does", () => {
    const dir = path.join(tmp, "safety");
    const made = spawnSync("python3", [SAFETY, dir], { encoding: "utf8" });
    expect(made.status, made.stderr).toBe(0);
    const names = fs.readdirSync(dir).filter((f) => f.endsWith(".qcow2"));
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) {
      for (const mode of ["leaks", "all"]) {
        const r = both(path.join(dir, name), ["-r", mode]);
        expect(r.ours, `${name} -r ${mode}`).toEqual(r.theirs);
        expect(r.b.equals(r.a), `${name} -r ${mode}: files differ`).toBe(true);
      }
    }
  }, 120_000);

  it("rebuilds, and reports in JSON, as qemu-img does", () => {
    const r = both(path.join(corpus, "zero-data-c512-r64.qcow2"), ["-r", "all", "--output=json"]);
    expect(r.theirs.status).toBe(0);
    expect(r.ours).toEqual(r.theirs);
    expect(r.b.equals(r.a)).toBe(true);
    expect(r.b.length).toBeGreaterThan(fs.statSync(path.join(corpus, "zero-data-c512-r64.qcow2")).size); // new structure at the end
  });

  it("takes its locks as qemu-img does: check and check -r all refused while a qemu-io holds the image", () => {
    const img = path.join(tmp, "held.qcow2");
    fs.copyFileSync(path.join(corpus, "zero-data.qcow2"), img);
    const before = fs.readFileSync(img);
    // qemu-io opens the image read-write and waits on its stdin; its "open" line proves the lock is taken.
    const holder = spawnSync("bash", ["-c", `(echo $BASHPID > feeder.pid; echo 'open -o driver=qcow2 held.qcow2'; exec sleep 30) | qemu-io & pid=$!; sleep 2;
      for r in "" "-r all"; do n=\${r:+r}
        "${process.execPath}" "${CLI}" check $r held.qcow2 > ours$n.out 2> ours$n.err; echo $? > ours$n.rc
        qemu-img check $r held.qcow2 > theirs$n.out 2> theirs$n.err; echo $? > theirs$n.rc
      done; kill $pid "$(cat feeder.pid)"`], { cwd: tmp, encoding: "utf8" });
    expect(holder.status).toBe(0);
    const read = (f: string) => fs.readFileSync(path.join(tmp, f), "utf8");
    expect(read("theirsr.err")).toMatch(/Failed to get "write" lock/);
    expect(read("theirs.err")).toMatch(/Failed to get shared "write" lock/);
    for (const n of ["", "r"]) {
      expect(read(`theirs${n}.rc`).trim()).toBe("1");
      expect({ rc: read(`ours${n}.rc`), out: read(`ours${n}.out`), err: read(`ours${n}.err`) }).toEqual({
        rc: read(`theirs${n}.rc`),
        out: read(`theirs${n}.out`),
        err: read(`theirs${n}.err`).replaceAll("qemu-img", "qcowdbg"),
      });
    }
    expect(fs.readFileSync(img).equals(before)).toBe(true);
  }, 60_000);

  it.skipIf(!have("strace"))("holds the write lock from before the first write until after the sync (strace)", () => {
    const img = path.join(tmp, "traced.qcow2");
    fs.copyFileSync(path.join(corpus, "zero-and-copied.qcow2"), img);
    const trace = path.join(tmp, "trace.txt");
    const r = spawnSync("strace", ["-f", "-e", "trace=openat,fcntl,pwrite64,fsync,close", "-o", trace, process.execPath, CLI, "check", "-r", "all", img]);
    expect(r.status).toBe(0);
    const lines = fs.readFileSync(trace, "utf8").split("\n");
    // The descriptor holding QEMU's write-permission byte (101) and denying others' writes (201).
    const lockLine = lines.findIndex((l) => /F_OFD_SETLK, \{l_type=F_RDLCK, l_whence=SEEK_SET, l_start=201,/.test(l));
    expect(lockLine).toBeGreaterThan(-1);
    const fd = /fcntl\((\d+), F_OFD_SETLK/.exec(lines[lockLine]!)![1];
    const writes = lines.map((l, i) => (/pwrite64\(/.test(l) ? i : -1)).filter((i) => i >= 0);
    const syncs = lines.map((l, i) => (/fsync\(/.test(l) ? i : -1)).filter((i) => i >= 0);
    expect(writes.length).toBeGreaterThan(0);
    const closed = lines.findIndex((l, i) => i > lockLine && new RegExp(`close\\(${fd}\\)`).test(l));
    expect(writes[0]!).toBeGreaterThan(lockLine);
    expect(closed).toBeGreaterThan(Math.max(...writes, ...syncs));
  }, 60_000);
});
