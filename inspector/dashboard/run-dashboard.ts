// `qcowdbg dashboard` as a mode of its own: owns the terminal through blessed (never ink), wires keys to the
// controller, and always gives the terminal back (screen.destroy) on q, Ctrl-C, signals and errors.
import { colorsWanted } from "../color-policy.js";
import { dropColours } from "./monochrome.js";
import blessed from "blessed";
import type { EngineConfig } from "../../engine/image/engine-config.js";
import type { DeviceProfile } from "../../engine/replay/device-profiles.js";
import type { Workload } from "../../engine/workload/index.js";
import { DashboardController } from "./dashboard-controller.js";
import { DashboardScreen } from "./dashboard-screen.js";
import { buildDashboardView, type DashboardInfo } from "./dashboard-view.js";
import { EventLog } from "./event-log.js";
import { LiveReplay } from "./live-replay.js";
import { fanOut } from "../../engine/replay/lockstep.js";

export interface DashboardRunSpec {
  label: string;
  imagePath: string;
  config: EngineConfig;
}

export interface DashboardOptions {
  info: DashboardInfo;
  /** The baseline, then an optional what-if. */
  runs: DashboardRunSpec[];
  profile: DeviceProfile;
  /** Opens the trace for one run; notices go to the dashboard's log. */
  openWorkload: (onNotice: (m: string) => void) => Workload;
  /** Lines (or records) in the trace, for the progress figure; null when unknown. */
  traceUnits: number | null;
  /** Requests per second at start (Infinity: as fast as possible). */
  speed?: number;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  terminal?: string;
  frameMs?: number;
  /** Called after each frame is drawn (tests read the screen there). */
  onFrame?: (screen: blessed.Widgets.Screen, frames: number) => void;
  /** Lets a caller (tests) quit or press keys. */
  onReady?: (ctl: DashboardHandle) => void;
}

export interface DashboardHandle {
  controller: DashboardController;
  screen: blessed.Widgets.Screen;
  quit(): void;
}

/** Runs the dashboard until the user quits; rejects with the first error, after the terminal is restored. */
export function runDashboard(o: DashboardOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const screen = blessed.screen({
      smartCSR: true,
      title: "qcowdbg dashboard",
      // @types/blessed has input and output the wrong way round (Writable input, Readable output).
      ...({ input: o.input, output: o.output } as unknown as blessed.Widgets.IScreenOptions),
      terminal: o.terminal,
      forceUnicode: true,
      warnings: false,
      autoPadding: true,
    });
    // The dashboard only ever draws on a terminal: the environment alone decides (NO_COLOR / FORCE_COLOR).
    if (!colorsWanted(process.env, true)) dropColours(screen);
    const log = new EventLog();
    let opened: Workload | undefined;
    let view: DashboardScreen;
    try {
      // One workload for every run: the trace is parsed once and its requests fanned out (lock-step what-ifs).
      opened = o.openWorkload((m) => log.add(`note: ${m}`));
      view = new DashboardScreen(screen, o.runs.length);
    } catch (e) {
      opened?.close();
      screen.destroy();
      reject(e);
      return;
    }
    const workload = opened;
    let finished = false;

    const restore = () => {
      try {
        controller.stop();
      } finally {
        workload.close();
        screen.destroy();
      }
    };
    const finish = (err?: unknown) => {
      if (finished) return;
      finished = true;
      process.off("exit", onExit);
      for (const s of SIGNALS) process.off(s, onSignal);
      try {
        restore();
      } catch (e) {
        err ??= e;
      }
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    // Whatever ends the process (an uncaught error elsewhere), the terminal is handed back.
    const onExit = () => {
      if (!finished) screen.destroy();
    };
    const onSignal = () => finish();

    const controller = new DashboardController({
      open: () => {
        log.clear();
        if (o.runs.length > 1) o.runs.forEach((r, i) => log.add(`${String.fromCharCode(65 + i)} = ${r.label}${i ? " (what-if)" : ""}`));
        const runs: LiveReplay[] = [];
        try {
          workload.close();
          const streams = fanOut(workload.requests(), o.runs.length);
          o.runs.forEach((r, i) => {
            const logPrefix = o.runs.length > 1 ? `${String.fromCharCode(65 + i)} ` : "";
            runs.push(new LiveReplay({ label: r.label, imagePath: r.imagePath, config: r.config, profile: o.profile, requests: streams[i]!, log, logPrefix }));
          });
        } catch (e) {
          for (const r of runs) r.close();
          throw e;
        }
        return runs;
      },
      draw: (runs, control, wallRates) => {
        view.update(buildDashboardView({ info: o.info, runs, log, control, wallRates }, view.sizes()));
        o.onFrame?.(screen, controller.frames);
      },
      progress: () => (o.traceUnits ? Math.min(1, workload.stats.lines / o.traceUnits) : null),
      onError: (e) => finish(e),
      speed: o.speed,
      frameMs: o.frameMs,
    });

    const key = (names: string[], f: () => void) =>
      screen.key(names, () => {
        try {
          f();
        } catch (e) {
          finish(e);
        }
      });
    key(["q", "C-c", "escape"], () => finish());
    key(["space"], () => controller.toggle());
    key(["+", "="], () => controller.faster());
    key(["-", "_"], () => controller.slower());
    key(["r"], () => controller.restart());
    screen.on("resize", () => {
      try {
        view.build();
        controller.frame();
      } catch (e) {
        finish(e);
      }
    });
    process.on("exit", onExit);
    for (const s of SIGNALS) process.on(s, onSignal);
    o.onReady?.({ controller, screen, quit: () => finish() });
    controller.start();
  });
}

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
