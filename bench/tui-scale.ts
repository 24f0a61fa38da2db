// The TUI at scale (issue 12): a 1,000,000-request blkparse trace of random 4 KiB writes over a 100 GiB qcow2
// (qemu-img create), opened as `qcowdbg tui IMG TRACE` opens it (openFromFlags, default options) and driven by
// keys through the real ink App on a fake 120x40 terminal. Rows: `:run-to` the middle, `n`/`N` there, `C` over
// 250,000 requests, Esc during a long run, temp-file bytes, peak RSS. Targets: < 5 s, < 50 ms, < 10 s,
// < 100 ms, <= 256 MiB, < 600 MiB. Runs in a child process (its own RSS, its own TMPDIR to count temp files).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeBlkparseTrace } from "./lib/blkparse-trace.js";
import { FakeStdin, FakeStdout } from "./lib/fake-terminal.js";

const SELF = fileURLToPath(import.meta.url);
const REQUESTS = Number(process.env.BENCH_TUI_REQUESTS ?? 1_000_000);
const DISK = 100 * 2 ** 30;
const COLS = 120;
const ROWS = 40;

/** Bytes of qcowdbg temp files: those in `dir`, and the unlinked spill files this process holds open. */
function tempBytes(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir)) if (f.startsWith("qcowdbg-")) n += fs.statSync(path.join(dir, f)).blocks * 512;
  if (fs.existsSync("/proc/self/fd"))
    for (const fd of fs.readdirSync("/proc/self/fd")) {
      try {
        if (fs.readlinkSync(`/proc/self/fd/${fd}`).includes("qcowdbg-shadow-")) n += fs.statSync(`/proc/self/fd/${fd}`).blocks * 512;
      } catch {
        // Closed meanwhile.
      }
    }
  return n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 10) / 10;
const seconds = (ms: number) => Math.round(ms / 10) / 100;

async function child(image: string, trace: string): Promise<Record<string, number | string>> {
  process.env.NODE_ENV ??= "production";
  const React = await import("react");
  const { render } = await import("ink");
  const { openFromFlags } = await import("../cli/commands/tui.js");
  const { TuiController } = await import("../inspector/tui/tui-controller.js");
  const { App } = await import("../inspector/tui/App.js");
  const tmp = os.tmpdir();
  const res: Record<string, number | string> = { requests: REQUESTS };
  let peakTemp = 0;
  const sampler = setInterval(() => (peakTemp = Math.max(peakTemp, tempBytes(tmp))), 200);
  const t = performance.now();
  const session = openFromFlags(image, trace, {});
  res["open.s"] = seconds(performance.now() - t);
  const controller = new TuiController(session, COLS, ROWS);
  const stdout = new FakeStdout(COLS, ROWS);
  const stdin = new FakeStdin();
  let frames = 0;
  const inst = render(React.createElement(App, { controller }), {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: 30,
    onRender: () => void frames++,
  });
  const tick = () => new Promise((r) => setImmediate(r));
  /** Types keys and waits until the controller has answered them and no run is in flight. */
  const press = async (key: string, limitMs = 600_000): Promise<number> => {
    await new Promise((r) => setTimeout(r, 5));
    const v0 = controller.version;
    const t0 = performance.now();
    stdin.type(key);
    while ((controller.running || controller.version === v0) && performance.now() - t0 < limitMs) await tick();
    return performance.now() - t0;
  };
  const pos = () => session.timeline!.position().request;
  const mid = Math.floor(REQUESTS / 2);
  res["runToMiddle.s"] = seconds(await press(`:run-to ${mid}\r`));
  if (process.env.BENCH_TUI_ONLY === "run-to") return res;
  if (process.env.BENCH_TUI_ONLY === "event-c") {
    await press(`:break request ${mid - 250_000 + 1}\r`);
    await press(":break cluster 999999999\r");
    res["reverseContinueEventLevel250k.s"] = seconds(await press("C"));
    return res;
  }
  const nMs: number[] = [];
  const NMs: number[] = [];
  for (let i = 0; i < 10; i++) {
    nMs.push(await press("n"));
    NMs.push(await press("N"));
  }
  res["next.p50Ms"] = round(median(nMs));
  res["next.maxMs"] = round(Math.max(...nMs));
  res["reverseNext.p50Ms"] = round(median(NMs));
  res["reverseNext.maxMs"] = round(Math.max(...NMs));
  // C over 250,000 requests: a breakpoint on the request 250,000 before, reached backwards. First alone (decided
  // by the trace: a backward search, then one jump), then beside a breakpoint on a host cluster nothing touches
  // (event-level: every checkpoint interval on the way is restored and replayed once, in slices).
  const from = pos();
  const target = Math.max(1, from - 250_000);
  await press(`:break request ${target + 1}\r`);
  res["reverseContinue250k.s"] = seconds(await press("C"));
  res["reverseContinue.requests"] = from - pos();
  await press(`:run-to ${from}\r`);
  await press(":break cluster 999999999\r");
  res["reverseContinueEventLevel250k.s"] = seconds(await press("C"));
  res["reverseContinueEventLevel.requests"] = from - pos();
  res["reverseContinue.stop"] = session.stopText;
  await press(":delete\r");
  await press(`:run-to ${from}\r`);
  // Esc: start a long run, wait for it to be in flight, press Esc, time until the run has stopped. Backwards
  // with an event-level breakpoint (slices of replay), forwards (slices of requests).
  await press(":break cluster 999999999\r");
  const escMs: number[] = [];
  for (const key of ["C", "c", "C"]) {
    const v0 = controller.version;
    stdin.type(key);
    const w0 = performance.now();
    while (!controller.running && controller.version === v0 && performance.now() - w0 < 5000) await tick();
    await new Promise((r) => setTimeout(r, 700));
    if (!controller.running) continue;
    const e0 = performance.now();
    stdin.type("\x1b");
    while (controller.running && performance.now() - e0 < 60_000) await new Promise((r) => setTimeout(r, 1));
    escMs.push(performance.now() - e0);
  }
  res["esc.maxMs"] = escMs.length ? round(Math.max(...escMs)) : "no run was long enough to stop";
  res["esc.samples"] = escMs.length;
  clearInterval(sampler);
  peakTemp = Math.max(peakTemp, tempBytes(tmp));
  res["temp.peakMiB"] = round(peakTemp / 2 ** 20);
  res.frames = frames;
  res["maxRss.MiB"] = Math.round(process.resourceUsage().maxRSS / 1024);
  inst.unmount();
  session.close();
  res["temp.leftAfterClose"] = tempBytes(tmp);
  return res;
}

export async function run(): Promise<Record<string, number | string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-bench-tuiscale-"));
  try {
    const image = path.join(dir, "disk.qcow2");
    const trace = path.join(dir, "trace.blkparse");
    const tmp = path.join(dir, "tmp");
    fs.mkdirSync(tmp);
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", image, String(DISK)]);
    writeBlkparseTrace(trace, REQUESTS, DISK);
    const r = spawnSync(process.execPath, [SELF, "--child", image, trace], { encoding: "utf8", env: { ...process.env, TMPDIR: tmp }, maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`tui-scale child failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
    const res = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number | string>;
    return {
      targets: "runToMiddle < 5 s, n/N < 50 ms, C 250k < 10 s, Esc < 100 ms, temp <= 256 MiB, RSS < 600 MiB",
      ...res,
      loadAverage: os.loadavg()[0]!.toFixed(2),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  if (process.argv[2] === "--child") {
    child(process.argv[3]!, process.argv[4]!).then(
      (r) => {
        process.stdout.write(JSON.stringify(r) + "\n");
        process.exit(0);
      },
      (e: unknown) => {
        process.stderr.write(`${(e as Error).stack}\n`);
        process.exit(1);
      },
    );
  } else run().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(28)} ${v}\n`);
  });
}
