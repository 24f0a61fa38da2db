// The controller replays in slices on the event loop: frames see the replay part way, the speed limits the
// pace, pause holds it, restart starts over on fresh runs, and errors stop everything and are reported.
import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { DashboardController, SPEEDS, speedIndex, speedLabel, type ControllerOptions } from "../../inspector/dashboard/dashboard-controller.js";
import type { ControlState } from "../../inspector/dashboard/dashboard-view.js";
import type { LiveReplay } from "../../inspector/dashboard/live-replay.js";
import { tmpDir } from "../format/qemu-images.js";
import { fillTrace, openRun, TOUR, type OpenRun } from "./fixtures.js";

const tmp = tmpDir("qcowdbg-dashctl-");
afterAll(() => tmp.cleanup());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 8 MiB of 4 KiB writes with a flush every 64: 2080 requests. */
function trace(): string {
  const p = tmp.path("fill.qemu-io");
  writeFileSync(p, fillTrace(8 * 1024 * 1024, 4096).join("\n") + "\n");
  return p;
}

interface Harness {
  ctl: DashboardController;
  frames: { requests: number; control: ControlState }[];
  opened: OpenRun[];
  errors: unknown[];
  finished: Promise<void>;
}

function harness(path: string, opts: Partial<ControllerOptions> = {}): Harness {
  const frames: Harness["frames"] = [];
  const opened: OpenRun[] = [];
  const errors: unknown[] = [];
  let done = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const ctl = new DashboardController({
    open: () => {
      const o = openRun(TOUR, path);
      opened.push(o);
      return [o.run];
    },
    draw: (runs: readonly LiveReplay[], control) => {
      frames.push({ requests: runs[0]!.requests, control });
      if (control.state === "done") done();
    },
    onError: (e) => {
      errors.push(e);
      done();
    },
    frameMs: 20,
    ...opts,
  });
  return { ctl, frames, opened, errors, finished };
}

describe("DashboardController", () => {
  const path = trace();

  it("yields to the event loop between slices, so frames see the replay part way", async () => {
    const h = harness(path, { sliceRequests: 50, frameMs: 5 });
    h.ctl.start();
    await h.finished;
    h.ctl.stop();
    const total = h.opened[0]!.run.requests;
    expect(total).toBe(2080);
    const partial = h.frames.filter((f) => f.requests > 0 && f.requests < total);
    expect(partial.length).toBeGreaterThan(2);
    expect(h.frames.at(-1)!.control.state).toBe("done");
    // The live redraw rate is measured on the frame timer (5 ms here): about 200 a second at most.
    const rates = h.frames.map((f) => f.control.redrawsPerSecond).filter((r): r is number => r !== null);
    expect(rates.length).toBeGreaterThan(0);
    for (const r of rates) expect(r).toBeLessThan(220);
    expect(h.frames.at(-1)!.requests).toBe(total);
    expect(h.errors).toEqual([]);
  });

  it("paces the replay at the chosen speed, pauses, and restarts on fresh runs", async () => {
    const h = harness(path, { speed: 100 });
    expect(speedLabel(h.ctl.speed)).toBe("100 req/s");
    h.ctl.start();
    await sleep(400);
    const paced = h.opened[0]!.run.requests;
    expect(paced).toBeGreaterThan(10);
    expect(paced).toBeLessThan(100);
    h.ctl.pause();
    expect(h.ctl.state).toBe("paused");
    const held = h.opened[0]!.run.requests;
    await sleep(150);
    expect(h.opened[0]!.run.requests).toBe(held);
    expect(h.frames.at(-1)!.control.state).toBe("paused");

    h.ctl.faster();
    expect(speedLabel(h.ctl.speed)).toBe("300 req/s");
    h.ctl.slower();
    h.ctl.slower();
    expect(speedLabel(h.ctl.speed)).toBe("30 req/s");
    h.ctl.toggle();
    expect(h.ctl.state).toBe("running");

    h.ctl.restart();
    expect(h.opened).toHaveLength(2);
    expect(h.ctl.runs).toEqual([h.opened[1]!.run]);
    expect(h.opened[1]!.run.requests).toBeLessThan(held);
    expect(h.ctl.state).toBe("running");
    for (let i = 0; i < 20; i++) h.ctl.faster();
    expect(h.ctl.speed).toBe(Infinity);
    await h.finished;
    expect(h.opened[1]!.run.done).toBe(true);
    h.ctl.stop();
    expect(h.errors).toEqual([]);
  });

  it("reports an error in a slice once, after stopping", async () => {
    const bad = tmp.path("bad.qemu-io");
    writeFileSync(bad, "write -P 1 0 4k\nread 0 4k\nfrobnicate 1 2\nread 0 4k\n");
    const h = harness(bad);
    h.ctl.start();
    await h.finished;
    expect(h.errors).toHaveLength(1);
    expect(String(h.errors[0])).toMatch(/bad\.qemu-io:3/);
    expect(h.opened[0]!.run.requests).toBe(2);
    const frames = h.frames.length;
    await sleep(60);
    expect(h.frames.length).toBe(frames);
  });

  it("names the speed steps", () => {
    expect(SPEEDS[speedIndex(Infinity)]).toBe(Infinity);
    expect(SPEEDS[speedIndex(250)]).toBe(300);
    expect(SPEEDS[speedIndex(0.2)]).toBe(1);
    expect(speedLabel(Infinity)).toBe("max");
    expect(speedLabel(10_000)).toBe("10,000 req/s");
  });
});
