// `qcowdbg completion zsh|bash` installed as a user installs it, in a real interactive shell on a pseudo-terminal:
// zsh loads it from $fpath through compinit, bash sources it; then Tab is pressed after partial command lines and
// the screen is read. Skips a shell that is not installed, with a one-line reason.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn, type IPty } from "node-pty";
import xterm from "@xterm/headless";
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const IMAGES = path.join(ROOT, "samples/images");
const has = (sh: string) => spawnSync(sh, ["-c", "exit 0"]).status === 0;
const tmp = tempDir("qcowdbg-compl-");
afterAll(removeTempDirs);

// `qcowdbg` on PATH, as after a global install.
const bin = path.join(tmp, "bin");
fs.mkdirSync(bin);
fs.writeFileSync(path.join(bin, "qcowdbg"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });

/** An interactive shell on a pty, its output rendered by a headless xterm. */
class Shell {
  private readonly term = new xterm.Terminal({ cols: 160, rows: 50, allowProposedApi: true, scrollback: 0 });
  private readonly pty: IPty;
  private pending = Promise.resolve();

  constructor(cmd: string, args: string[], env: Record<string, string>) {
    this.pty = spawn(cmd, args, {
      cols: 160,
      rows: 50,
      cwd: IMAGES,
      name: "xterm",
      env: { ...process.env, TERM: "xterm", PATH: `${bin}:${process.env.PATH ?? ""}`, NO_COLOR: "1", ...env } as Record<string, string>,
    });
    this.pty.onData((d) => (this.pending = this.pending.then(() => new Promise<void>((res) => this.term.write(d, res)))));
  }

  screen(): string {
    const b = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.term.rows; i++) out.push((b.getLine(b.viewportY + i)?.translateToString(true) ?? "").trimEnd());
    return out.join("\n").trimEnd();
  }

  /** Types `keys`, then waits until the screen satisfies `ok` (and has stopped changing), or fails with it. */
  async type(keys: string, ok: (s: string) => boolean, timeoutMs = 20_000): Promise<string> {
    this.pty.write(keys);
    const t0 = Date.now();
    let last = "";
    let since = Date.now();
    for (;;) {
      await this.pending;
      const s = this.screen();
      if (s !== last) [last, since] = [s, Date.now()];
      else if (ok(s) && Date.now() - since > 200) return s;
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after typing ${JSON.stringify(keys)}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Clears the line and the screen (Ctrl-U, then `clear`) so the next completion starts on a clean screen. */
  async reset(prompt: string): Promise<void> {
    await this.type("\x15clear\r", (s) => s === prompt);
  }

  close(): void {
    try {
      this.pty.kill();
    } catch {
      // gone already
    }
  }
}

/** The line the cursor is on, i.e. what the shell shows as typed after the completion. */
const promptLine = (s: string, prompt: string) => s.split("\n").filter((l) => l.startsWith(prompt)).pop() ?? "";
const COMMANDS = ["info", "map", "check", "dump", "export", "repl", "workload", "replay", "tui", "dashboard", "crashtest", "calibrate", "completion"];

describe.skipIf(!has("zsh"))(`zsh completion in a real zsh${has("zsh") ? "" : " (skipped: zsh is not installed)"}`, () => {
  it("completes commands (with their descriptions), options, option values and files", async () => {
    const fdir = path.join(tmp, "zfunc");
    fs.mkdirSync(fdir, { recursive: true });
    fs.writeFileSync(path.join(fdir, "_qcowdbg"), spawnSync(process.execPath, [CLI, "completion", "zsh"], { encoding: "utf8" }).stdout);
    const zdot = path.join(tmp, "zdot");
    fs.mkdirSync(zdot, { recursive: true });
    // The documented installation: the script as _qcowdbg in a directory of $fpath, then compinit.
    fs.writeFileSync(path.join(zdot, ".zshrc"), `PS1='zsh%% '\nfpath=(${fdir} $fpath)\nautoload -Uz compinit && compinit -u -D\n`);
    const sh = new Shell("zsh", ["-i"], { ZDOTDIR: zdot });
    try {
      const P = "zsh%";
      await sh.type("", (s) => s.endsWith(P));
      expect(promptLine(await sh.type("qcowdbg ma\t", (s) => promptLine(s, P).endsWith("map")), P)).toBe(`${P} qcowdbg map`);
      await sh.reset(P);
      const all = await sh.type("qcowdbg \t", (s) => s.includes("completion") && s.includes("crashtest"));
      for (const c of COMMANDS) expect(all).toMatch(new RegExp(`^${c} +-- `, "m"));
      expect(all).toMatch(/^check +-- check the image's refcounts/m);
      await sh.reset(P);
      expect(promptLine(await sh.type("qcowdbg map --outp\t", (s) => promptLine(s, P).includes("--output")), P)).toBe(`${P} qcowdbg map --output`);
      await sh.reset(P);
      const values = await sh.type("qcowdbg check -r \t", (s) => /\ball\b/.test(s) && /\bleaks\b/.test(s));
      expect(values.split("\n").slice(1).join("\n")).toMatch(/^all +leaks$/m);
      await sh.reset(P);
      const opts = await sh.type("qcowdbg check --\t", (s) => s.includes("--repair") && s.includes("--without-key"));
      expect(opts).toMatch(/^--repair +-- leaks or all: repair the image in place/m);
      expect(opts).toMatch(/^--without-key +-- check an encrypted image without its key/m);
      await sh.reset(P);
      expect(promptLine(await sh.type("qcowdbg info tour.q\t", (s) => promptLine(s, P).includes("tour.qcow2")), P)).toBe(`${P} qcowdbg info tour.qcow2`);
    } finally {
      sh.close();
    }
  }, 90_000);
});

describe.skipIf(!has("bash"))(`bash completion in a real interactive bash${has("bash") ? "" : " (skipped: bash is not installed)"}`, () => {
  it("completes commands, options, option values and files on Tab", async () => {
    const script = path.join(tmp, "qcowdbg.bash");
    fs.writeFileSync(script, spawnSync(process.execPath, [CLI, "completion", "bash"], { encoding: "utf8" }).stdout);
    const rc = path.join(tmp, "bashrc");
    fs.writeFileSync(rc, `PS1='bash$ '\nsource ${script}\n`);
    const sh = new Shell("bash", ["--noprofile", "--rcfile", rc, "-i"], {});
    try {
      const P = "bash$";
      await sh.type("", (s) => s.endsWith(P));
      expect(promptLine(await sh.type("qcowdbg ma\t", (s) => promptLine(s, P).endsWith("map")), P)).toBe(`${P} qcowdbg map`);
      await sh.reset(P);
      const all = await sh.type("qcowdbg \t\t", (s) => s.includes("completion") && s.includes("crashtest"));
      for (const c of COMMANDS) expect(all).toMatch(new RegExp(`\\b${c}\\b`));
      await sh.reset(P);
      expect(promptLine(await sh.type("qcowdbg map --outp\t", (s) => promptLine(s, P).includes("--output")), P)).toBe(`${P} qcowdbg map --output`);
      await sh.reset(P);
      const values = await sh.type("qcowdbg check -r \t\t", (s) => /\ball\b/.test(s) && /\bleaks\b/.test(s));
      expect(values).toMatch(/^all +leaks$/m);
      await sh.reset(P);
      expect(promptLine(await sh.type("qcowdbg info tour.q\t", (s) => promptLine(s, P).includes("tour.qcow2")), P)).toBe(`${P} qcowdbg info tour.qcow2`);
    } finally {
      sh.close();
    }
  }, 90_000);
});
