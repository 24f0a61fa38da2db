// `qcowdbg dashboard` end to end: the real binary in a real pseudo-terminal. The charts draw, q / Ctrl-C quit
// with exit 0 and the normal screen back, a trace error restores the terminal before the one-line error, and
// without a terminal the command refuses at once.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { tmpDir } from "../format/qemu-images.js";
import { CLI, PtyTerminal, ROOT } from "./pty-terminal.js";

const tmp = tmpDir("qcowdbg-dashcli-");
afterAll(() => tmp.cleanup());
const live: PtyTerminal[] = [];
afterEach(() => live.splice(0).forEach((t) => t.kill()));
const TOUR = ["samples/images/tour.qcow2", "samples/traces/tour.qemu-io"];

function open(args: string[], cols = 120, rows = 40): PtyTerminal {
  const t = new PtyTerminal(args, cols, rows);
  live.push(t);
  return t;
}

/** Braille dots in the latency panel: the line chart has drawn. */
const charted = (s: string) => /[\u2801-\u28ff]/.test(s.split("\n").slice(1, 10).join(""));

describe("qcowdbg dashboard in a terminal", () => {
  it("draws the charts for the tour trace and quits on q, exit 0, terminal restored", async () => {
    const t = open(["dashboard", ...TOUR]);
    const s = await t.waitFor((x) => x.includes("■ done") && charted(x));
    expect(t.alternate).toBe(true);
    expect(s).toContain("requests 63 | errors 0 | past the end 0");
    expect(s).toMatch(/│H[.H1Rr2SoDcsL]{20,}/);
    expect(s).toContain("done: 63 requests");
    t.press("q");
    expect((await t.exit()).exitCode).toBe(0);
    expect(t.alternate).toBe(false);
  });

  it("runs a what-if beside the baseline and quits on Ctrl-C while replaying", async () => {
    const t = open(["dashboard", ...TOUR, "--what-if", "l2-cache-size=64K,cache=writethrough", "--speed", "10"]);
    const s = await t.waitFor((x) => /requests [1-9]\d* \|/.test(x) && x.includes("▶ running"));
    // Long labels are cut in the status panel; the log names both runs at the start.
    expect(s).toMatch(/A = baseline, B = l2-cache-size=64K,ca\S*~/);
    expect(s).toMatch(/│A = baseline\s+│/);
    expect(s).toMatch(/B = l2-cache-size=64K,cache=writethrough \(what-if\)|B = l2-cache-size=64K,cache=\S*~/);
    t.press("\x03");
    expect((await t.exit()).exitCode).toBe(0);
    expect(t.alternate).toBe(false);
  });

  it("restores the terminal, then prints the trace error and exits 1", async () => {
    const bad = tmp.path("bad.qemu-io");
    writeFileSync(bad, "write -P 1 0 4k\nread 0 4k\nfrobnicate 1 2\n");
    const t = open(["dashboard", "samples/images/tour.qcow2", bad]);
    const e = await t.exit();
    expect(e.exitCode).toBe(1);
    expect(t.alternate).toBe(false);
    expect(await t.text()).toMatch(/qcowdbg: .*bad\.qemu-io:3/);
  });

  it("refuses without a terminal, and on bad options before taking the screen", () => {
    const r = spawnSync(process.execPath, [CLI, "dashboard", ...TOUR], { cwd: ROOT, encoding: "utf8", input: "" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^qcowdbg: dashboard: needs a terminal/);
    expect(r.stdout).toBe("");
  });

  it("rejects a bad --speed in the terminal without drawing", async () => {
    const t = open(["dashboard", ...TOUR, "--speed", "fast"]);
    expect((await t.exit()).exitCode).toBe(1);
    expect(t.alternate).toBe(false);
    expect(await t.text()).toContain("qcowdbg: dashboard: --speed must be a number of requests per second or 'max', not 'fast'");
  });
});
