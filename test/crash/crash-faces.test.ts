// The debugger's crash faces: `crash` at the current step, the crash breakpoints, and the TUI's pane of volatile
// writes, on a write-oracle workload (sequential: 48 allocating 64 KiB writes, then a flush).
import { afterEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import { openTraceSession } from "../../inspector/session/open-session.js";
import type { Session } from "../../inspector/session/session.js";
import { TuiController } from "../../inspector/tui/tui-controller.js";
import type { EngineConfig } from "../../engine/image/engine-config.js";
import { extract } from "./oracle-workloads.js";

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

function session(config: Partial<EngineConfig>): { s: Session; run: (l: string) => string[] } {
  const { dir, img, script } = extract("sequential", []);
  const lines: string[] = [];
  const s = openTraceSession(img, script, { config, out: (l) => lines.push(l) });
  cleanup.push(() => {
    s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    s,
    run(l: string) {
      const from = lines.length;
      s.execute(l);
      return lines.slice(from);
    },
  };
}

describe("crash in the debugger", () => {
  it("`crash` judges the states of the current step and lists what is volatile", () => {
    const { run } = session({ cacheMode: "writeback" });
    run("next 3");
    const out = run("crash");
    expect(out.join("\n")).toMatch(/step 3 after step: 3 volatile writes, 8 of 8 states: 8 clean/);
    expect(out.at(-1)).toBe("volatile now: 3 writes since the last sync");
    run("run-to 49");
    const flush = run("crash").join("\n");
    expect(flush).toMatch(/step 49 before sync/);
    expect(flush).not.toMatch(/corrupt/);
  });

  it("`break crash corrupt` stops before the flush whose L2 write-back can overtake its refcounts", () => {
    const { run } = session({ cacheMode: "writeback", refcountBeforeL2: false });
    expect(run("break crash corrupt")).toEqual(["Breakpoint 1: a crash could corrupt the image"]);
    const out = run("continue").join("\n");
    expect(out).toMatch(/request 49 matches a crash could corrupt the image/);
    expect(run("break crash nonsense")[0]).toMatch(/not corrupt or data-lost/);
  });

  it("the same flush never stops `break crash corrupt` with QEMU's ordering", () => {
    const { run } = session({ cacheMode: "writeback" });
    run("break crash corrupt");
    expect(run("continue").join("\n")).toMatch(/The trace ended/);
  });

  it("the TUI's `:crash` opens a pane of the volatile writes", () => {
    const { s } = session({ cacheMode: "writeback" });
    const c = new TuiController(s, 120, 40);
    expect(c.visibleRows("crash")).toBe(0);
    c.run("next 2");
    c.run("crash");
    expect(c.visibleRows("crash")).toBeGreaterThan(0);
    const pane = c.rows("crash");
    expect(pane.title).toMatch(/Volatile writes/);
    expect(pane.rows.map((r) => r.text)).toEqual([expect.stringMatching(/guest data at 0x50000 \(64 KiB, step 1\)/), expect.stringMatching(/guest data at 0x60000 \(64 KiB, step 2\)/)]);
  });
});
