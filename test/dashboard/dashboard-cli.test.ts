// `qcowdbg dashboard` end to end: the real binary in a real pseudo-terminal. The charts draw, q / Ctrl-C quit
// with exit 0 and the normal screen back, a trace error restores the terminal before the one-line error, and
// without a terminal the command refuses at once.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { tmpDir } from "../format/qemu-images.js";
import { CLI, PtyScreen, ROOT } from "../shared/pty-screen.js";

const tmp = tmpDir("qcowdbg-dashcli-");
afterAll(() => tmp.cleanup());
const live: PtyScreen[] = [];
afterEach(() => live.splice(0).forEach((t) => t.kill()));
const TOUR = ["samples/images/tour.qcow2", "samples/traces/tour.qemu-io"];

function open(args: string[], cols = 120, rows = 40): PtyScreen {
  const t = new PtyScreen(args, cols, rows);
  live.push(t);
  return t;
}

/** Braille dots in the latency panel: the line chart has drawn. */
const charted = (s: string) => /[\u2801-\u28ff]/.test(s.split("\n").slice(1, 10).join(""));

describe("qcowdbg dashboard in a terminal", () => {
  it("draws the charts for the tour trace and quits on q, exit 0, terminal restored", async () => {
    const t = open(["dashboard", ...TOUR]);
    // Waits for the whole final frame: under load the terminal can show the top of a frame before its bottom.
    const s = await t.waitFor((x) => x.includes("■ done") && charted(x) && x.includes("done: 63 requests") && /│H[.H1Rr2SoDcsL]{20,}/.test(x), 20_000, false);
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
    const s = await t.waitFor((x) => /requests [1-9]\d* \|/.test(x) && x.includes("▶ running"), 20_000, false);
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

  it("captures the screen at 120x40 (QCOWDBG_DASHBOARD_SCREEN=docs/dashboard-screen.md writes it)", async () => {
    const shots: { title: string; args: string[]; screen: string }[] = [];
    for (const [title, extra] of [
      ["The tour trace, replayed to the end", []],
      ["The same with a what-if: a 64 KiB L2 cache and cache=writethrough (B) beside the defaults (A)", ["--what-if", "l2-cache-size=64K,cache=writethrough"]],
    ] as [string, string[]][]) {
      const args = ["dashboard", ...TOUR, ...extra];
      const t = open(args);
      const screen = await t.waitFor((x) => x.includes("■ done") && charted(x) && x.includes("done: 63 requests"), 20_000, false);
      expect(screen.split("\n")).toHaveLength(40);
      expect(screen).toContain("done: 63 requests");
      shots.push({ title, args, screen: screen.split("\n").map((l) => l.trimEnd()).join("\n") });
      t.press("q");
      expect((await t.exit()).exitCode).toBe(0);
    }
    const out = process.env.QCOWDBG_DASHBOARD_SCREEN;
    if (out) writeFileSync(path.resolve(ROOT, out), screenDoc(shots));
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

function screenDoc(shots: { title: string; args: string[]; screen: string }[]): string {
  const parts = [
    "# qcowdbg dashboard: screens",
    "",
    "Captured at 120x40 from a real terminal by test/dashboard/dashboard-cli.test.ts",
    "(`npm run build && QCOWDBG_DASHBOARD_SCREEN=docs/dashboard-screen.md npx vitest run test/dashboard/dashboard-cli.test.ts`).",
    "Colours are lost in a text capture: each cause, run and cluster kind has its own on screen.",
    "",
  ];
  for (const s of shots) parts.push(`## ${s.title}`, "", `\`qcowdbg ${s.args.join(" ")}\``, "", "```", s.screen, "```", "");
  parts.push(...GUIDE);
  return parts.join("\n");
}

const GUIDE = [
  "## Reading it",
  "",
  "- **modelled latency**: the average modelled latency of each window of requests (the window doubles as the run",
  "  grows, so the whole replay stays on screen); with `--what-if`, one line per configuration (A, B).",
  "- **modelled time by cause**: where the modelled time went, one stacked bar per configuration, and the same in",
  "  numbers beside it (data, L2 miss, L2 write-back, refcount, allocation, COW, flush, backing, decompression).",
  "- **replay**: state, speed, how much of the trace is read, totals and percentiles (p50/p99 from a log-scale",
  "  histogram, within 12%), and how fast the screen and the replay go (redraws and requests per wall-clock second).",
  "- **rate**: modelled IOPS per window, and the replay's own requests per second.",
  "- **cache hit rate**: L2 and refcount cache hits of the active layer.",
  "- **host file**: every cluster of the image file, folded into the panel's cells (each cell shows the most telling",
  "  kind among its clusters): H header, 1 L1, R refcount table, r refcount block, 2 L2 table, D data, c compressed,",
  "  s shared (snapshots), . free, L leaked. It follows the engine's events as the replay runs and is rebuilt from",
  "  the image at the end.",
  "- **events**: new L2 tables, refcount blocks and table growth, errors, each new slowest request, the end.",
  "- **slowest requests**: the slowest so far, with the reasons `qcowdbg replay` gives.",
  "",
  "Keys: space pauses and resumes (after the end it starts over), + and - change the speed (1 request/s .. max),",
  "r restarts, q, Escape or Ctrl-C quit. The numbers are those of `qcowdbg replay` with the same options.",
  "",
];
