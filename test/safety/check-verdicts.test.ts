// `check` agrees with the real qemu-img check on the images it cannot open or cannot check: a size of 2^64-1,
// a backing file that is a directory or a FIFO, unparsable json: and network backings (exit 1), raw and unknown
// files (63, "This image format does not support checks"), an empty backing name (no backing file) and a NUL
// in the name (cut there, as QEMU's C string). Live oracle: both tools run on the same files.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;

function image(dir: string, name: string, poke?: (fd: number) => void): string {
  const p = path.join(dir, name);
  spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", p, "1M"]);
  if (poke) {
    const fd = fs.openSync(p, "r+");
    poke(fd);
    fs.closeSync(fd);
  }
  return name;
}

/** Writes `bytes` as the backing file name (at 0x200, inside the header cluster). */
function backing(bytes: Buffer): (fd: number) => void {
  return (fd) => {
    fs.writeSync(fd, bytes, 0, bytes.length, 0x200);
    const b = Buffer.alloc(12);
    b.writeUInt32BE(0x200, 4);
    b.writeUInt32BE(bytes.length, 8);
    fs.writeSync(fd, b, 0, 12, 8);
  };
}

interface Case {
  name: string;
  poke?: (fd: number) => void;
  raw?: boolean;
  /** The message depends on a network or a JSON parser: compare the exit status and the common prefix only. */
  prefixOnly?: string;
}

const CASES: Case[] = [
  { name: "size-max.qcow2", poke: (fd) => fs.writeSync(fd, Buffer.from("ffffffffffffffff", "hex"), 0, 8, 24) },
  { name: "back-dir.qcow2", poke: backing(Buffer.from("adir")) },
  { name: "back-passwd.qcow2", poke: backing(Buffer.from("/etc/passwd")) },
  { name: "back-empty.qcow2", poke: backing(Buffer.alloc(0)) },
  { name: "back-nul.qcow2", poke: backing(Buffer.from("a\0b")) },
  { name: "back-missing.qcow2", poke: backing(Buffer.from("nonexistent.img")) },
  { name: "back-json.qcow2", poke: backing(Buffer.from("json:{garbage")), prefixOnly: "Could not open backing file: Could not parse the JSON options: JSON parse error" },
  { name: "back-nbd.qcow2", poke: backing(Buffer.from("nbd://127.0.0.1:1/x")), prefixOnly: "Could not open backing file: " },
  { name: "back-http.qcow2", poke: backing(Buffer.from("http://[::1")), prefixOnly: "Could not open backing file: " },
  { name: "plain.raw", raw: true },
];

afterAll(removeTempDirs);

describe.skipIf(!hasQemu)("check verdicts against the real qemu-img check", () => {
  const dir = tempDir("qcowdbg-checkv-");
  fs.mkdirSync(path.join(dir, "adir"));
  for (const c of CASES) {
    if (c.raw) fs.writeFileSync(path.join(dir, c.name), Buffer.alloc(65536, 7));
    else image(dir, c.name, c.poke);
  }
  fs.writeFileSync(path.join(dir, "empty.img"), "");
  CASES.push({ name: "empty.img" });

  for (const c of CASES) {
    it(`${c.name}: same exit status and message as qemu-img`, () => {
      const q = spawnSync("qemu-img", ["check", c.name], { cwd: dir, encoding: "utf8", timeout: 20_000 });
      const o = spawnSync(process.execPath, [CLI, "check", c.name], { cwd: dir, encoding: "utf8", timeout: 20_000 });
      expect(o.status).toBe(q.status);
      const theirs = q.stderr.replace(/^qemu-img: /gm, "qcowdbg: ");
      if (c.prefixOnly) {
        expect(q.stderr).toContain(c.prefixOnly);
        expect(o.stderr).toContain(`qcowdbg: Could not open '${c.name}': ${c.prefixOnly}`);
        expect(o.stderr.trim().split("\n")).toHaveLength(1);
      } else {
        expect(o.stderr).toBe(theirs);
        expect(o.stdout).toBe(q.stdout);
      }
    });
  }

  it("a backing file that is a FIFO is refused at once (qemu-img would wait for a writer)", () => {
    spawnSync("mkfifo", [path.join(dir, "fifo")]);
    image(dir, "back-fifo.qcow2", backing(Buffer.from("fifo")));
    const o = spawnSync(process.execPath, [CLI, "check", "back-fifo.qcow2"], { cwd: dir, encoding: "utf8", timeout: 20_000 });
    expect(o.status).toBe(1);
    expect(o.stderr).toBe("qcowdbg: Could not open 'back-fifo.qcow2': Could not open backing file: 'file' driver requires 'fifo' to be a regular file\n");
  });

  it("an empty backing name means no backing file for every command, as in QEMU", () => {
    for (const args of [["map", "back-empty.qcow2"], ["repl", "-c", "read -P 0 0 4k", "back-empty.qcow2"], ["export", "back-empty.qcow2", "e.raw"]]) {
      const o = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: "utf8" });
      expect(o.status, args[0]).toBe(0);
    }
    const info = spawnSync(process.execPath, [CLI, "info", "back-empty.qcow2"], { cwd: dir, encoding: "utf8" });
    expect(info.stdout).not.toContain("backing file");
  });
});
