// The shadow layer's temp file goes away however the process ends: it is unlinked right after it is opened, so
// SIGTERM, an uncaught error and SIGKILL leave nothing in $TMPDIR (issue 12: 9.2 GB of stale spill files).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SHADOW = path.join(ROOT, "dist/engine/storage/shadow-storage.js");
const CLI = path.join(ROOT, "dist/cli/main.js");
const built = fs.existsSync(SHADOW);

/** A child that spills 8 pages of noise to its sidecar, says so, then waits or crashes. */
const child = (then: "wait" | "crash") => `
import { ShadowStorage } from ${JSON.stringify(SHADOW)};
import { MemoryStorage } from ${JSON.stringify(path.join(ROOT, "dist/engine/storage/memory-storage.js"))};
const s = new ShadowStorage(new MemoryStorage("base", new Uint8Array(0)), 65536);
for (let i = 0; i < 8; i++) s.write(new Uint8Array(65536).map((_, j) => (j * 7 + i + (j >> 4)) & 255), i * 65536);
if (!s.spilled()) throw new Error("did not spill");
process.stdout.write("spilled\\n");
${then === "wait" ? "setInterval(() => {}, 1000);" : 'setTimeout(() => { throw new Error("boom"); }, 10);'}
`;

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function tmpdir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-tempexit-"));
  dirs.push(d);
  return d;
}

/** Runs the child until it has spilled; returns it and the temp-file links its descriptors hold. */
async function spilled(dir: string, then: "wait" | "crash") {
  const p = spawn(process.execPath, ["--input-type=module", "-e", child(then)], { env: { ...process.env, TMPDIR: dir }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  p.stderr.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    p.stdout.on("data", (d: Buffer) => d.toString().includes("spilled") && resolve());
    p.on("exit", () => reject(new Error(`child exited early: ${err}`)));
  });
  const links = fs.existsSync(`/proc/${p.pid}/fd`)
    ? fs.readdirSync(`/proc/${p.pid}/fd`).map((f) => { try { return fs.readlinkSync(`/proc/${p.pid}/fd/${f}`); } catch { return ""; } }).filter((l) => l.includes("qcowdbg-shadow-"))
    : [];
  const exited = new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.on("exit", (code) => r(code))));
  return { p, links, exited };
}

describe.skipIf(!built)("shadow temp files on every exit path", () => {
  it("SIGTERM: the file was never visible in $TMPDIR and is gone with the process", async () => {
    const dir = tmpdir();
    const { p, links, exited } = await spilled(dir, "wait");
    if (fs.existsSync("/proc/self/fd")) expect(links.length).toBeGreaterThan(0);
    for (const l of links) expect(l).toMatch(/\(deleted\)$/);
    expect(fs.readdirSync(dir)).toEqual([]);
    p.kill("SIGTERM");
    await exited;
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("an uncaught error: nothing left behind", async () => {
    const dir = tmpdir();
    const { exited } = await spilled(dir, "crash");
    expect(await exited).not.toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("--temp-limit takes a size, and says which option is wrong", () => {
    const r = spawnSync(process.execPath, [CLI, "repl", "--temp-limit", "lots", "-c", "quit"], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--temp-limit: invalid size 'lots'/);
  });
});
