// A real terminal for end-to-end tests (TUI, interactive REPL, dashboard): the CLI runs in a pseudo-terminal
// (node-pty) whose output feeds a headless xterm, so tests read the screen as a user would see it and type keys.
import * as path from "node:path";
import { spawn, type IPty } from "node-pty";
import xterm from "@xterm/headless";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(ROOT, "dist/cli/main.js");

export class PtyScreen {
  readonly term: xterm.Terminal;
  readonly pty: IPty;
  readonly exited: Promise<{ exitCode: number; signal?: number }>;
  private pending = Promise.resolve();
  private lastData = Date.now();

  constructor(args: string[], cols = 80, rows = 24, env: Record<string, string> = {}) {
    this.term = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 0 });
    this.pty = spawn(process.execPath, [CLI, ...args], {
      cols,
      rows,
      cwd: ROOT,
      name: "xterm-256color",
      env: { ...process.env, TERM: "xterm-256color", FORCE_COLOR: "1", ...env } as Record<string, string>,
    });
    this.pty.onData((d) => {
      this.lastData = Date.now();
      this.pending = this.pending.then(() => new Promise<void>((res) => this.term.write(d, res)));
    });
    this.exited = new Promise((res) => this.pty.onExit((e) => res(e)));
  }

  /** Every line of the visible screen, trailing blanks trimmed. */
  lines(): string[] {
    const b = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.term.rows; i++) out.push((b.getLine(b.viewportY + i)?.translateToString(true) ?? "").trimEnd());
    return out;
  }

  text(): string {
    return this.lines().join("\n");
  }

  get alternate(): boolean {
    return this.term.buffer.active.type === "alternate";
  }

  async settled(): Promise<void> {
    await this.pending;
  }

  /**
   * Waits until the screen matches and has stopped changing (a frame can arrive in several chunks), or fails
   * with the screen in the message. `settle: false` returns on the first match (a progress line never settles).
   */
  async waitFor(what: string | RegExp | ((screen: string) => boolean), timeoutMs = 15000, settle = true): Promise<string> {
    const test = typeof what === "function" ? what : (s: string) => (typeof what === "string" ? s.includes(what) : what.test(s));
    const t0 = Date.now();
    while (true) {
      await this.settled();
      if (!settle && test(this.text())) return this.text();
      if (test(this.text())) {
        const s = await this.quiet(60, Math.max(100, timeoutMs - (Date.now() - t0)));
        if (test(s)) return s;
      }
      const s = this.text();
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${String(what)}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits until the screen stops changing for `quietMs`. */
  async quiet(quietMs = 150, timeoutMs = 15000): Promise<string> {
    const t0 = Date.now();
    let last = "";
    let since = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      await this.settled();
      const s = this.text();
      if (s !== last) {
        last = s;
        since = Date.now();
      } else if (Date.now() - since >= quietMs) return s;
      await new Promise((r) => setTimeout(r, 20));
    }
    return last;
  }

  press(keys: string): void {
    this.pty.write(keys);
  }

  /** Waits for the exit (or kills the process after `timeoutMs`), then for the output it left to arrive. */
  async exit(timeoutMs = 10_000): Promise<{ exitCode: number; signal?: number }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => (this.kill(), rej(new Error("the program did not exit"))), timeoutMs)));
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

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
    this.pty.resize(cols, rows);
  }

  kill(): void {
    try {
      this.pty.kill();
    } catch {
      // already gone
    }
  }
}
