// Image locks both ways with a real qemu-io kept open on a pipe: qcowdbg takes QEMU's OFD lock bytes
// (file-posix.c), so a running qemu-io keeps our --write out (and our read-only commands, unless -U), and our
// open image keeps qemu-io/qemu-img out, with QEMU's own messages on each side.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { imageLocksAvailable } from "../../engine/storage/image-lock.js";

afterAll(removeTempDirs);

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-io", ["--version"]).status === 0;
const sha = (f: string) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");

function image(): string {
  const d = tempDir("qcowdbg-lock-");
  const img = path.join(d, "img.qcow2");
  spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "4M"]);
  return img;
}

function ours(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
}

const held: { child: ChildProcessWithoutNullStreams; closed: Promise<unknown> }[] = [];
afterEach(async () => {
  for (const h of held.splice(0)) {
    h.child.stdin.end();
    await h.closed;
  }
});

/** Starts `cmd`, sends it one command and waits until its answer shows the image is open (and locked). */
async function hold(cmd: string, args: string[], first: string, ready: RegExp): Promise<ChildProcessWithoutNullStreams> {
  const c = spawn(cmd, args, { stdio: "pipe" });
  const closed = new Promise((r) => c.on("close", r));
  held.push({ child: c, closed });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    c.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) resolve();
    });
    c.on("close", () => reject(new Error(`${cmd} exited early: ${out}`)));
    c.stdin.write(first + "\n");
  });
  return c;
}

describe.skipIf(!hasQemu || !imageLocksAvailable())("image locks against a running qemu-io", () => {
  it("a qemu-io holding the image read-write keeps out our --write and our unshared reads", async () => {
    const img = image();
    await hold("qemu-io", [img], "write -P 9 0 4k", /wrote 4096/);
    const before = sha(img);
    const w = ours(["repl", "--write", "-c", "write -P 1 0 64k", img]);
    expect(w.status).toBe(1);
    expect(w.stderr).toBe(`qcowdbg: ${img}: Failed to get "write" lock. Is another process using the image [${img}]?\n`);
    expect(w.stdout).toBe("");
    expect(sha(img)).toBe(before);
    const info = ours(["info", img]);
    expect(info.status).toBe(1);
    expect(info.stderr).toMatch(/Failed to get shared "write" lock\. Is another process using the image .*-U\/--force-share/);
    // -U shares every permission, as qemu-img info -U.
    const shared = ours(["info", "-U", img]);
    expect(shared.status).toBe(0);
    expect(shared.stdout).toContain("file format: qcow2");
    expect(ours(["map", "--force-share", img]).status).toBe(0);
    expect(ours(["repl", "-U", "--write", "-c", "read 0 4k", img]).stderr).toContain("force-share=on can only be used with read-only images");
  });

  it("a read-only qemu-io lets our readers in but keeps our --write out", async () => {
    const img = image();
    await hold("qemu-io", ["-r", img], "read 0 512", /read 512/);
    expect(ours(["info", img]).status).toBe(0);
    expect(ours(["repl", "-c", "read 0 4k", img]).status).toBe(0);
    const w = ours(["repl", "--write", "-c", "write 0 4k", img]);
    expect(w.status).toBe(1);
    expect(w.stderr).toContain('Failed to get "write" lock');
  });

  it("while our repl --write holds the image, qemu-io and qemu-img are refused; after it exits they are not", async () => {
    const img = image();
    const ourRepl = await hold(process.execPath, [CLI, "repl", "--write", img], "write -P 5 0 4k", /wrote 4096/);
    const q = spawnSync("qemu-io", ["-c", "read 0 512", img], { encoding: "utf8" });
    expect(q.status).toBe(1);
    expect(q.stderr).toContain('Failed to get "write" lock');
    const qi = spawnSync("qemu-img", ["info", img], { encoding: "utf8" });
    expect(qi.status).toBe(1);
    expect(qi.stderr).toContain('Failed to get shared "write" lock');
    expect(spawnSync("qemu-img", ["info", "-U", img]).status).toBe(0);
    ourRepl.stdin.end();
    await held.find((h) => h.child === ourRepl)!.closed;
    const after = spawnSync("qemu-io", ["-c", "read -P 5 0 4k", img], { encoding: "utf8" });
    expect(after.status).toBe(0);
    expect(after.stdout).toContain("read 4096/4096");
  });

  it("our read-only repl (shadow) keeps a read-write qemu-io out and lets qemu-io -r in", async () => {
    const img = image();
    await hold(process.execPath, [CLI, "repl", img], "write 0 4k", /wrote 4096/);
    const q = spawnSync("qemu-io", ["-c", "read 0 512", img], { encoding: "utf8" });
    expect(q.status).toBe(1);
    expect(q.stderr).toContain('Failed to get "write" lock');
    expect(spawnSync("qemu-io", ["-r", "-c", "read 0 512", img]).status).toBe(0);
  });
});
