// `qcowdbg repl IMG TRACE` on a terminal: readline with Tab completion, gdb's blank-line repeat, a history file,
// and the same debugger as the TUI; and the same commands from -c and from a script on stdin.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, PtyScreen } from "../shared/pty-screen.js";

const IMG = "samples/images/tour.qcow2";
const TRACE = "samples/traces/tour.qemu-io";
let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

describe("qcowdbg repl", () => {
  it("is interactive on a terminal: completion, blank-line repeat, history file, quit", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-repl-"));
    const history = path.join(dir, "history");
    const p = new PtyScreen(["repl", IMG, TRACE], 100, 30, { QCOWDBG_HISTORY: history });
    cleanup.push(() => {
      p.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await p.waitFor("(qcowdbg)");
    p.press("n\r");
    await p.waitFor("request 1/63 read 0x0 +48K");
    p.press("\r");
    await p.waitFor("request 2/63 read 0xc000 +4K");
    p.press("inf\t");
    await p.waitFor(/\(qcowdbg\) info$/m);
    p.press("ca\t");
    await p.waitFor(/\(qcowdbg\) info cache$/m);
    p.press("\r");
    await p.waitFor("L2 cache (2 x 64K):");
    p.press("break cache_m");
    await p.waitFor(/break cache_m$/m);
    p.press("\t");
    await p.waitFor(/break cache_miss$/m);
    p.press("\r");
    await p.waitFor("Breakpoint 1: event qcow2_cache_get_replace_entry");
    p.press("c\r");
    await p.waitFor("Breakpoint 1: #42 qcow2_cache_get_replace_entry  refcount miss");
    p.press("quit\r");
    expect((await p.exited).exitCode).toBe(0);
    expect(fs.readFileSync(history, "utf8").split("\n").filter(Boolean)).toEqual(["n", "", "info cache", "break cache_miss", "c", "quit"].filter(Boolean));
  });

  it("stops a long continue on Ctrl-C and keeps the prompt", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-repl-"));
    const trace = path.join(dir, "long.qemu-io");
    // Long enough that an unloaded machine cannot finish before the progress line shows (40,000 could).
    fs.writeFileSync(trace, Array.from({ length: 400000 }, (_, i) => `write -P 1 ${((i * 7919) % 1000) * 64}k 4k`).join("\n") + "\n");
    const p = new PtyScreen(["repl", IMG, trace], 100, 30, { QCOWDBG_HISTORY: path.join(dir, "history") });
    cleanup.push(() => {
      p.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await p.waitFor("(qcowdbg)");
    p.press("c\r");
    await p.waitFor(/running\.\.\. \d+\/400000 \(Ctrl-C stops\)/, 15000, false);
    p.press("\x03");
    await p.waitFor("Interrupted.");
    p.press("where\r");
    const s = await p.waitFor(/Interrupted\.[\s\S]*\(qcowdbg\) where\nInterrupted\./);
    const at = Number(/request (\d+)\/400000 write/.exec(s)![1]);
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(400000);
    p.press("quit\r");
    expect((await p.exited).exitCode).toBe(0);
  });

  it("runs the same commands from -c and from stdin, without a terminal", () => {
    const args = [CLI, "repl", IMG, TRACE];
    const c = spawnSync(process.execPath, [...args, "-c", "break cache_miss", "-c", "c", "-c", "where", "-c", "rc"], { encoding: "utf8" });
    expect(c.status).toBe(0);
    expect(c.stdout.split("\n").slice(0, 4)).toEqual([
      "Breakpoint 1: event qcow2_cache_get_replace_entry",
      "Breakpoint 1: #1 qcow2_cache_get_replace_entry  L2 miss: slot 0 (empty) for 0x40000",
      "request 1/63 read 0x0 +48K [pattern 0x5a] (tour.qemu-io:1) [in progress, 2 events shown]",
      "Breakpoint 1: #1 qcow2_cache_get_replace_entry  L2 miss: slot 0 (empty) for 0x40000",
    ]);
    const s = spawnSync(process.execPath, args, { encoding: "utf8", input: "run-to 62\nnext\n\ninfo header\n" });
    expect(s.status).toBe(0);
    expect(s.stdout).toContain("request 63/63 flush (tour.qemu-io:63) [done]");
    expect(s.stdout).toContain("The trace ended: 63 requests replayed.");
    expect(s.stdout).toContain("v3, cluster 64K, virtual 64M, file 1792K");
  });

  it("is qemu-io on a terminal without a trace: its prompt, completion, commands, ':' for ours, exit status", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-repl-"));
    const img = path.join(dir, "tour.qcow2");
    fs.copyFileSync(IMG, img);
    const p = new PtyScreen(["repl", img], 100, 30, { QCOWDBG_HISTORY: path.join(dir, "history") });
    cleanup.push(() => {
      p.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await p.waitFor("qemu-io>");
    p.press("len\t");
    await p.waitFor(/qemu-io> length\s*$/m);
    p.press("\r");
    await p.waitFor(/^64 MiB$/m);
    p.press("help\r");
    await p.waitFor("':help'");
    p.press("read -P 0x77 0 512\r");
    await p.waitFor("Pattern verification failed at offset 0, 512 bytes");
    p.press(":whe\t");
    await p.waitFor(/qemu-io> :where\s*$/m);
    p.press("\r");
    await p.waitFor("Image mode: no trace loaded.");
    p.press("q\r");
    // A failed command (the pattern mismatch) makes qemu-io exit 1.
    expect((await p.exit()).exitCode).toBe(1);
  });
});
