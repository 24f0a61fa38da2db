// The dashboard drawn by blessed into a pseudo-terminal of streams: panel titles, the numbers of the replay,
// the cluster map's cells, the what-if side by side, resizing, keys, and the terminal handed back on quit
// and on errors.
import { writeFileSync } from "node:fs";
import type blessed from "blessed";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfigOptions } from "../../engine/image/engine-config.js";
import { formatUs } from "../../engine/replay/human-units.js";
import { openWorkload } from "../../engine/workload/index.js";
import { runDashboard, type DashboardHandle, type DashboardOptions } from "../../inspector/dashboard/run-dashboard.js";
import { tmpDir } from "../format/qemu-images.js";
import { fakeTerminal, screenText, type FakeTerminal } from "./fake-terminal.js";
import { NVME, TOUR, TOUR_TRACE } from "./fixtures.js";

const tmp = tmpDir("qcowdbg-dashscreen-");
afterAll(() => tmp.cleanup());
const LEAVE_ALTERNATE = "\x1b[?1049l";

interface Session {
  term: FakeTerminal;
  handle: DashboardHandle;
  done: Promise<void>;
  /** Resolves with the screen text at the first frame that passes `test`. */
  until(test: (text: string) => boolean, timeoutMs?: number): Promise<string>;
}

function start(extra: Partial<DashboardOptions> = {}, cols = 120, rows = 40, trace = TOUR_TRACE): Session {
  const term = fakeTerminal(cols, rows);
  const waiters: { test: (t: string) => boolean; resolve: (t: string) => void }[] = [];
  let handle!: DashboardHandle;
  let last = "";
  const done = runDashboard({
    info: { image: "tour.qcow2", trace: "tour.qemu-io", format: "qemu-io", profile: "nvme" },
    runs: [{ label: "baseline", imagePath: TOUR, config: parseConfigOptions("") }],
    profile: NVME,
    openWorkload: (onNotice) => openWorkload(trace, { onNotice }),
    traceUnits: 63,
    input: term.input,
    output: term.output,
    terminal: "xterm-256color",
    frameMs: 20,
    onReady: (h) => (handle = h),
    onFrame: (screen: blessed.Widgets.Screen) => {
      last = screenText(screen).join("\n");
      for (const w of [...waiters]) {
        if (!w.test(last)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(last);
      }
    },
    ...extra,
  });
  return {
    term,
    handle,
    done,
    until: (test, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        if (last && test(last)) return resolve(last);
        const t = setTimeout(() => reject(new Error(`no frame matched in ${timeoutMs} ms; last:\n${last}`)), timeoutMs);
        waiters.push({ test, resolve: (s) => (clearTimeout(t), resolve(s)) });
      }),
  };
}

describe("dashboard screen", () => {
  it("draws every panel with the replay's numbers and quits on q with the terminal restored", async () => {
    const s = start();
    const text = await s.until((t) => t.includes("■ done"));
    const lines = text.split("\n");
    expect(lines).toHaveLength(40);
    for (const title of ["modelled latency, µs", "modelled time by cause", "─ replay ", "─ rate ", "─ cache hit rate ", "─ host file ", "─ events ", "─ slowest requests "]) expect(text).toContain(title);
    const run = s.handle.controller.runs[0]!;
    expect(text).toContain("requests 63 | errors 0 | past the end 0");
    expect(text).toContain(`modelled ${formatUs(run.totalUs)}`);
    expect(text).toContain("100% of the trace");
    // The cause legend's total is the modelled total.
    expect(text).toMatch(new RegExp(`total\\s+${formatUs(run.totalUs).replace(".", "\\.")}`));
    // The cluster map: one cell per cluster of the tour image, header first; as many D cells as the legend counts.
    const mapRow = lines.find((l) => /^│H[.H1Rr2SoDcsL]+\s*│$/.test(l));
    expect(mapRow).toBeDefined();
    const cells = mapRow!.slice(1, -1).trimEnd();
    const legend = lines.find((l) => l.includes("H header 1"))!;
    expect(legend).toMatch(/D data (\d+)/);
    expect([...cells].filter((c) => c === "D").length).toBe(Number(/D data (\d+)/.exec(legend)![1]));
    expect(cells.length).toBe(Math.ceil(run.engine.shadow.size() / 65536));
    // Donut labels and the slowest request with its reason.
    expect(text).toMatch(/L2\s+refcount/);
    const top = run.slowest[0]!;
    expect(lines.some((l) => l.includes(`│${String(top.index + 1).padEnd(6)} `) && l.includes(formatUs(top.latencyUs)))).toBe(true);
    expect(text).toContain("done: 63 requests");

    s.term.press("q");
    await s.done;
    expect(s.term.written().endsWith(LEAVE_ALTERNATE) || s.term.written().includes(LEAVE_ALTERNATE)).toBe(true);
  });

  it("shows a what-if beside the baseline", async () => {
    const s = start({ runs: [{ label: "baseline", imagePath: TOUR, config: parseConfigOptions("") }, { label: "l2-cache-size=64K", imagePath: TOUR, config: parseConfigOptions("l2-cache-size=64K") }] });
    const text = await s.until((t) => t.includes("■ done"));
    expect(text).toContain("A = baseline, B = l2-cache-size=64K");
    expect(text).toMatch(/━ A ━ B/);
    expect(text).toMatch(/L2 A\s+rc A\s+L2 B\s+rc B/);
    expect(text).toMatch(/^│B\s+[\d.]+ (µs|ms)\s+[+-]\d+\.\d%/m);
    expect(text).toContain("A done: 63 requests");
    expect(text).toContain("B done: 63 requests");
    s.handle.quit();
    await s.done;
  });

  it("pauses and restarts from the keyboard, follows resizes, and asks for room when too small", async () => {
    const slow = tmp.path("slow.qemu-io");
    writeFileSync(slow, Array.from({ length: 400 }, (_, i) => `write -P 1 ${i * 65536} 4k`).join("\n") + "\n");
    const s = start({ speed: 100 }, 120, 40, slow);
    await s.until((t) => /requests ([1-9]\d*) \|/.test(t));
    s.term.press(" ");
    const paused = await s.until((t) => t.includes("❚❚ paused"));
    expect(paused).toContain("speed 100 req/s");
    s.term.press("+");
    await s.until((t) => t.includes("speed 300 req/s"));
    s.term.resize(100, 30);
    const small = await s.until((t) => t.split("\n").length === 30 && t.includes("❚❚ paused"));
    expect(small.split("\n")[0]!.length).toBe(100);
    s.term.resize(60, 20);
    await s.until((t) => t.includes("needs at least 80x24\nthis terminal: 60x20"));
    s.term.resize(120, 40);
    s.term.press("r");
    await s.until((t) => t.includes("▶ running") && t.includes("speed 300 req/s"));
    s.term.press("\x03"); // Ctrl-C
    await s.done;
    expect(s.term.written()).toContain(LEAVE_ALTERNATE);
  });

  it("gives the terminal back and rejects on a trace error mid-replay", async () => {
    const bad = tmp.path("bad.qemu-io");
    writeFileSync(bad, "write -P 1 0 4k\nread 0 4k\nfrobnicate 1 2\n");
    const s = start({}, 120, 40, bad);
    await expect(s.done).rejects.toThrow(/bad\.qemu-io:3/);
    expect(s.term.written()).toContain(LEAVE_ALTERNATE);
  });
});
