// `qcowdbg tui` run as a user runs it: the real binary in a pseudo-terminal, keys typed, the screen read from a
// headless xterm. With QCOWDBG_SCREENS=<file> it also writes the 80x24 and 120x40 screens it saw (docs/tui-screens.md).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CLI, PtyScreen } from "../shared/pty-screen.js";

const IMG = "samples/images/tour.qcow2";
const TRACE = "samples/traces/tour.qemu-io";
const screens: { title: string; text: string }[] = [];
let live: PtyScreen[] = [];

function start(args: string[], cols = 80, rows = 24): PtyScreen {
  const p = new PtyScreen(args, cols, rows);
  live.push(p);
  return p;
}
afterEach(() => {
  for (const p of live) p.kill();
  live = [];
});
afterAll(() => {
  const out = process.env.QCOWDBG_SCREENS;
  if (!out || !screens.length) return;
  const body = screens.map((s) => `## ${s.title}\n\n\`\`\`\n${s.text.replace(/\s+$/gm, "")}\n\`\`\`\n`).join("\n");
  const intro = [
    "# qcowdbg tui: screens",
    "",
    "Captured from a real terminal (node-pty + a headless xterm) by test/e2e/tui.test.ts; regenerate with",
    "`npm run build && QCOWDBG_SCREENS=docs/tui-screens.md npx vitest run test/e2e/tui.test.ts`.",
    "`npm start` opens the same session: samples/images/tour.qcow2 with the 63 requests of samples/traces/tour.qemu-io.",
    "",
    "Keys (gdb's SingleKey mode): `s`/`S` step one engine event forward/back, `n`/`N` next/previous request,",
    "`c`/`C` continue forward/back to a breakpoint (Esc stops a long run), `b` breaks on the selected row,",
    "`:` opens the command line (every `qcowdbg repl` command), `?` help, Tab moves focus, `q` quits.",
    "",
    "Panes: the requests of the trace (`>` marks the one in view); that request and its engine events; the L2 and",
    "refcount caches (slot, table offset, LRU rank where 1 is the next victim, pins, dirty); the L1/L2 entries",
    "around the guest cluster in view; the host file cluster by cluster (`H` header, `1` L1, `R` refcount table,",
    "`r` refcount block, `2` L2 table, `D` data, `c` compressed, `s` shared, `L` leaked, `.` free), with",
    "fragmentation counted as qemu-img check counts it; the header; counters and the modelled latency.",
    "On a colour terminal, what the last command changed is on a yellow background in every pane.",
    "During a long run the panes keep what they showed and the status line counts requests; on a big image the",
    "host map says \"(updating)\" for a moment after a move and is redrawn once the keys pause. A trace replays",
    "metadata-only (`--config metadata-only=off` keeps guest data); `--temp-limit` caps the temp file (256M).",
    "",
  ].join("\n");
  fs.writeFileSync(out, `${intro}\n${body}`);
});

/** The screen without its first (status) and last (message) lines. */
const panes = (s: string) => s.split("\n").slice(1, -1).join("\n");

describe("qcowdbg tui in a terminal", () => {
  it("steps (request counter and cache pane change), N restores the previous screen, q leaves the alternate screen with status 0", async () => {
    const p = start(["tui", IMG, TRACE]);
    const first = await p.waitFor("Requests");
    expect(p.alternate).toBe(true);
    expect(first).toContain("request 0/63");
    expect(first).toMatch(/ {2}0 \(empty\) <victim/);
    screens.push({ title: "80x24, at the start", text: first });
    p.press("n");
    let s = await p.waitFor("request 1/63 |");
    expect(s).toMatch(/ {2}0 0x00040000 lru {2}1/);
    screens.push({ title: "80x24, after `n` (request 1 ran: an L2 miss loaded the table at 0x40000 into slot 0)", text: await p.quiet() });
    expect(panes(s)).not.toBe(panes(first));
    p.press("n");
    const two = panes(await p.waitFor("request 2/63 |"));
    p.press("n");
    s = await p.waitFor("request 3/63 |");
    expect(panes(s)).not.toBe(two);
    p.press("N");
    s = await p.waitFor("request 2/63 |");
    expect(panes(await p.quiet())).toBe(two);
    for (const l of s.split("\n")) expect(l.length).toBeLessThanOrEqual(80);
    p.press("q");
    const exit = await p.exited;
    await p.settled();
    expect(exit.exitCode).toBe(0);
    expect(p.alternate).toBe(false);
  });

  it("redraws on resize, within the new size", async () => {
    const p = start(["tui", IMG, TRACE]);
    await p.waitFor("Requests");
    p.press("nnn");
    await p.waitFor("request 3/63 |");
    p.resize(120, 40);
    let s = await p.waitFor((t) => t.split("\n")[37]!.includes("|") && /Requests -+ 1-\d\d\/63/.test(t));
    s = await p.quiet();
    expect(s.split("\n").length).toBe(40);
    expect(s.split("\n")[39]).toBe("");
    for (const l of s.split("\n")) expect(l.length).toBeLessThanOrEqual(120);
    expect(s).toContain("Request 3/63 done");
    screens.push({ title: "120x40, after three requests", text: s });
    p.resize(80, 24);
    s = await p.waitFor((t) => /Requests -+ 1-\d\/63/.test(t));
    s = await p.quiet();
    for (const l of s.split("\n")) expect(l.length).toBeLessThanOrEqual(80);
    expect(s).toContain("request 3/63 |");
    p.press("q");
    expect((await p.exited).exitCode).toBe(0);
  });

  it("stops a continue on an L2 miss set from the : line, and the panes say why", async () => {
    const p = start(["tui", IMG, TRACE], 120, 40);
    await p.waitFor("Requests");
    p.press(":break qcow2_cache_get_replace_entry\r");
    await p.waitFor("Breakpoint 1: event qcow2_cache_get_replace_entry");
    p.press("c");
    const s = await p.waitFor("Breakpoint 1: #1 qcow2_cache_get_replace_entry");
    // The status line, the request pane (its events up to the miss) and the L2 cache pane (the victim slot).
    const lines = s.split("\n");
    expect(lines[0]).toContain("request 0/63, in #1 event 2 | Breakpoint 1: #1 qcow2_cache_get_replace_entry");
    expect(lines[38]).toContain("Breakpoint 1: #1 qcow2_cache_get_replace_entry  L2 miss: slot 0 (empty) for 0x40000");
    expect(s).toContain("Request 1/63 in progress, 2 events");
    expect(s).toMatch(/#1 qcow2_cache_get_replace_entry {2}L2 miss: slot 0 \(empty\) for 0x40000/);
    expect(s).toMatch(/ {2}0 \(empty\) <victim/);
    screens.push({ title: "120x40, stopped at a breakpoint on an L2 cache miss", text: await p.quiet() });
    p.press("c");
    await p.waitFor("refcount miss: slot 0 (empty) for 0x20000");
    p.press("\x03");
    expect((await p.exited).exitCode).toBe(0);
    await p.settled();
    expect(p.alternate).toBe(false);
  });

  it("stays responsive in a long continue: shows progress, and Esc stops it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-e2e-"));
    try {
      const trace = path.join(dir, "long.qemu-io");
      const lines: string[] = [];
      for (let i = 0; i < 40000; i++) lines.push(i % 10 === 9 ? "flush" : `write -P ${i % 250} ${((i * 7919) % 1000) * 64}k 4k`);
      fs.writeFileSync(trace, lines.join("\n") + "\n");
      const p = start(["tui", IMG, trace]);
      await p.waitFor("Requests");
      p.press("c");
      await p.waitFor(/running\.\.\. \d+\/40000 \(Esc stops\)/, 15000, false);
      p.press("\x1b");
      const s = await p.waitFor("Interrupted.");
      const at = Number(/request (\d+)\/40000/.exec(s)![1]);
      expect(at).toBeGreaterThan(0);
      expect(at).toBeLessThan(40000);
      p.press("q");
      expect((await p.exited).exitCode).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("leaves the alternate screen when killed", async () => {
    const p = start(["tui", IMG, TRACE]);
    await p.waitFor("Requests");
    expect(p.alternate).toBe(true);
    p.pty.kill("SIGTERM");
    const exit = await p.exited;
    await p.settled();
    expect(exit.exitCode).toBe(143);
    expect(p.alternate).toBe(false);
  });

  it("refuses to run without a terminal", () => {
    const r = spawnSync(process.execPath, [CLI, "tui", IMG, TRACE], { encoding: "utf8", input: "" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("tui needs a terminal");
  });
});
