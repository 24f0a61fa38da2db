// Issue 14's TUI rough edges, in a real terminal: `q` at a "press any key" overlay closes the overlay only (the
// TUI keeps running; a second `q` quits with status 0).
import { afterEach, describe, expect, it } from "vitest";
import { PtyScreen } from "../shared/pty-screen.js";

const IMG = "samples/images/tour.qcow2";
const TRACE = "samples/traces/tour.qemu-io";
let live: PtyScreen[] = [];
afterEach(() => {
  for (const p of live) p.kill();
  live = [];
});

describe("qcowdbg tui prompts", () => {
  it("q at a press-any-key overlay closes it and does not quit", async () => {
    const p = new PtyScreen(["tui", IMG, TRACE], 100, 30);
    live.push(p);
    await p.waitFor("Requests");
    p.press("?");
    const help = await p.waitFor("press any key");
    expect(help).toContain("press any key");
    p.press("q");
    const back = await p.waitFor((s) => s.includes("Requests") && !s.includes("press any key"));
    expect(back).toContain("request 0/63");
    expect(p.alternate).toBe(true);
    // Still alive: a step works, then q quits.
    p.press("n");
    await p.waitFor("request 1/63 |");
    p.press("q");
    const exit = await p.exited;
    expect(exit.exitCode).toBe(0);
  });

  it("C (reverse-continue) goes back to a breakpoint from the end of the trace", async () => {
    const p = new PtyScreen(["tui", IMG, TRACE], 100, 30);
    live.push(p);
    await p.waitFor("Requests");
    for (const ch of ":break request 5\r") p.press(ch);
    await p.waitFor("Breakpoint 1: request 5");
    p.press("x");
    for (const ch of ":run-to 63\r") p.press(ch);
    await p.waitFor("request 63/63");
    p.press("C");
    const s = await p.waitFor(/request 4\/63/);
    expect(s).toMatch(/request 4\/63/);
    p.press("q");
    expect((await p.exited).exitCode).toBe(0);
  });
});
