// How fast the inspector answers a key: a 1 GiB qcow2 (qemu-img create) and a 10,000-request seeded trace of 4 KiB
// writes, reads and flushes, opened in a Session and rendered by the real ink App at 120x40 on a fake terminal.
// Each sample is one key typed into ink's stdin until ink has rendered the frame that answers it (target: under
// 50 ms per step), for s, n, N, S; plus a continue across the whole trace and the host-map build on its own.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { GuestRequest } from "../engine/workload/guest-request.js";
import { FakeStdin, FakeStdout } from "./lib/fake-terminal.js";

const SELF = fileURLToPath(import.meta.url);
const DISK = 2 ** 30;
const REQUESTS = 10_000;
const SAMPLES = 60;
const COLS = 120;
const ROWS = 40;

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 48271) % 2147483647);
}

function trace(): GuestRequest[] {
  const next = lcg(5);
  const out: GuestRequest[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const k = next() % 100;
    const op = k < 5 ? "flush" : k < 40 ? "read" : "write";
    const offset = op === "flush" ? 0 : (next() % (DISK / 4096)) * 4096;
    out.push({ time: i * 1e-4, op, offset, length: op === "flush" ? 0 : 4096, fua: false, preflush: false, source: `bench:${i + 1}` });
  }
  return out;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const round = (x: number) => Math.round(x * 100) / 100;

export async function run(): Promise<Record<string, number | string>> {
  // React's production build, as `qcowdbg tui` runs it; ink and React load after this line.
  process.env.NODE_ENV ??= "production";
  const React = await import("react");
  const { render } = await import("ink");
  const { ReplayEngine } = await import("../engine/replay/replay-engine.js");
  const { RequestColumns } = await import("../engine/replay/request-columns.js");
  const { Timeline } = await import("../engine/replay/timeline.js");
  const { Session } = await import("../inspector/session/session.js");
  const { TuiController } = await import("../inspector/tui/tui-controller.js");
  const { App } = await import("../inspector/tui/App.js");
  const { buildHostMap } = await import("../inspector/session/cluster-map.js");

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-bench-tui-"));
  try {
    const image = path.join(dir, "disk-1g.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", image, String(DISK)]);
    const engine = new ReplayEngine(image);
    const timeline = new Timeline(engine, RequestColumns.from(trace()));
    const session = new Session({ kind: "trace", timeline, imagePath: image, tracePath: "bench", close: () => (timeline.dispose(), engine.close()) });
    const controller = new TuiController(session, COLS, ROWS);
    const stdout = new FakeStdout(COLS, ROWS);
    const stdin = new FakeStdin();
    let frames = 0;
    const renderMs: number[] = [];
    const inst = render(React.createElement(App, { controller }), {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stdin: stdin as unknown as NodeJS.ReadStream,
      exitOnCtrlC: false,
      patchConsole: false,
      maxFps: 1000,
      onRender: (m) => {
        frames++;
        renderMs.push(m.renderTime);
      },
    });
    const idle = () => new Promise<void>((r) => setTimeout(r, 3));
    /** Types a key and waits for the frame that answers it. */
    const press = async (key: string): Promise<number> => {
      await idle();
      const f0 = frames;
      const v0 = controller.version;
      const t0 = performance.now();
      stdin.type(key);
      while (controller.running || controller.version === v0 || frames === f0) await new Promise((r) => setImmediate(r));
      // The frame that shows the final state (a run may render progress frames first).
      const settled = frames;
      while (frames === settled && controller.version !== v0 && performance.now() - t0 < 5000) {
        await new Promise((r) => setImmediate(r));
        if (frames === settled) break;
      }
      return performance.now() - t0;
    };
    const res: Record<string, number | string> = { "step.target.maxMs": 50, requests: REQUESTS, "image.GiB": 1, screen: `${COLS}x${ROWS}` };
    // Warm up (JIT, first loads of tables).
    for (let i = 0; i < 20; i++) await press("n");
    await press(":run-to 5000\r");
    for (const [key, label] of [["s", "step"], ["n", "next"], ["N", "reverseNext"], ["S", "reverseStep"]] as const) {
      const xs: number[] = [];
      for (let i = 0; i < SAMPLES; i++) xs.push(await press(key));
      res[`${label}.p50Ms`] = round(pct(xs, 0.5));
      res[`${label}.p95Ms`] = round(pct(xs, 0.95));
      res[`${label}.maxMs`] = round(pct(xs, 1));
    }
    res["inkRender.p50Ms"] = round(pct(renderMs, 0.5));
    res["inkRender.maxMs"] = round(pct(renderMs, 1));
    await press(":run-to 0\r");
    const t0 = performance.now();
    await press("c");
    res["continueWholeTrace.ms"] = Math.round(performance.now() - t0);
    res["continue.stop"] = session.stopText;
    const img = session.image()!;
    const m0 = performance.now();
    const map = buildHostMap(img);
    res["hostMap.ms"] = round(performance.now() - m0);
    res["hostMap.clusters"] = map.clusters;
    res.frames = frames;
    res.droppedKeys = controller.droppedKeys;
    inst.unmount();
    session.close();
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  run().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(28)} ${v}\n`);
  });
}
