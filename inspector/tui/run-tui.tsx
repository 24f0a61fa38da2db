// Runs the inspector full-screen: enters the alternate screen, renders the App with ink (bounded frame rate, no
// Ctrl-C exit of its own), redraws on resize, and leaves the alternate screen however it ends: q, an error, a
// signal, or process exit.
import { render } from "ink";
import type { Session } from "../session/session.js";
import { App } from "./App.js";
import { TuiController } from "./tui-controller.js";

export interface TuiOptions {
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  /** Frames per second at most (default 30). */
  maxFps?: number;
}

const ENTER = "\x1b[?1049h\x1b[H\x1b[2J\x1b[?25l";
const LEAVE = "\x1b[?25h\x1b[?1049l";
const SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGINT"];

export async function runTui(session: Session, opts: TuiOptions = {}): Promise<void> {
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  if (!stdout.isTTY || !stdin.isTTY) throw new Error("the TUI needs a terminal on stdin and stdout (use `qcowdbg repl` for scripts)");
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    stdout.write(LEAVE);
  };
  const controller = new TuiController(session, stdout.columns || 80, stdout.rows || 24);
  // Registered before ink's own listener: clear first, so ink's redraw lands on an empty screen.
  const onResize = () => {
    stdout.write("\x1b[H\x1b[2J");
    controller.resize(stdout.columns || 80, stdout.rows || 24);
  };
  const onExit = () => restore();
  const onSignal = (sig: NodeJS.Signals) => {
    restore();
    process.exit(sig === "SIGINT" ? 130 : sig === "SIGHUP" ? 129 : 143);
  };
  stdout.write(ENTER);
  stdout.on("resize", onResize);
  process.on("exit", onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const instance = render(<App controller={controller} />, { stdout, stdin, exitOnCtrlC: false, patchConsole: false, maxFps: opts.maxFps ?? 30 });
    controller.onQuit = () => instance.unmount();
    await instance.waitUntilExit();
  } finally {
    stdout.off("resize", onResize);
    for (const s of SIGNALS) process.off(s, onSignal);
    process.off("exit", onExit);
    restore();
  }
}
