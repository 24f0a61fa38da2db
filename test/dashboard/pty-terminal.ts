// A real terminal for the dashboard's end-to-end tests: the built CLI runs in a pseudo-terminal (node-pty) whose
// output feeds a headless xterm, so a test reads the screen as a user sees it, types keys, and sees the exit.
import * as path from "node:path";
import { spawn, type IPty } from "node-pty";
import xterm from "@xterm/headless";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(ROOT, "dist/cli/main.js");

export class PtyTerminal {
  readonly term: xterm.Terminal;
  readonly pty: IPty;
  readonly exited: Promise<{ exitCode: number; signal?: number }>;
  private pending = Promise.resolve();
  private lastData = Date.now();

  constructor(args: string[], cols = 120, rows = 40) {
    this.term = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 0 });
    this.pty = spawn(process.execPath, [CLI, ...args], { cols, rows, cwd: ROOT, name: "xterm-256color", env: { ...process.env, TERM: "xterm-256color" } as Record<string, string> });
    this.pty.onData((d) => {
      this.lastData = Date.now();
      this.pending = this.pending.then(() => new Promise<void>((res) => this.term.write(d, res)));
    });
    this.exited = new Promise((res) => this.pty.onExit((e) => res(e)));
  }

  /** The visible screen, one line per row, trailing blanks trimmed. */
  async text(): Promise<string> {
    await this.pending;
    const b = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.term.rows; i++) out.push(b.getLine(b.viewportY + i)?.translateToString(true) ?? "");
    return out.join("\n");
  }

  get alternate(): boolean {
    return this.term.buffer.active.type === "alternate";
  }

  /** Polls the screen until it matches, or fails with the screen in the message. */
  async waitFor(test: (screen: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const t0 = Date.now();
    for (;;) {
      const s = await this.text();
      if (test(s)) return s;
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  press(keys: string): void {
    this.pty.write(keys);
  }

  /** Waits for the exit (or kills the process after `timeoutMs`), then for the output it left to arrive. */
  async exit(timeoutMs = 10_000): Promise<{ exitCode: number; signal?: number }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => (this.kill(), rej(new Error("the dashboard did not exit"))), timeoutMs)));
    try {
      const e = await Promise.race([this.exited, timeout]);
      // node-pty may report the exit before the last output: wait until the output has been quiet a while.
      for (const t0 = Date.now(); Date.now() - this.lastData < 150 && Date.now() - t0 < 2000; ) await new Promise((r) => setTimeout(r, 25));
      await this.pending;
      return e;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    try {
      this.pty.kill();
    } catch {
      // already gone
    }
  }
}
