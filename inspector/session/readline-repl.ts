// The interactive REPL: node:readline with a history file, Tab completion of commands and their arguments, and
// gdb's habits (blank line repeats, Ctrl-C stops a running continue instead of leaving). Long runs go in slices
// so Ctrl-C is seen between them.
import * as fs from "node:fs";
import * as readline from "node:readline";
import type { StopReason } from "../../engine/replay/timeline-api.js";
import type { Outcome, Session } from "./session.js";

export interface InteractiveOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Lines are loaded from and appended to it (missing or unwritable: history lives in memory only). */
  historyFile?: string;
  historySize?: number;
  prompt?: string;
  /** Sees what each line did (qcowdbg repl exits 1 after a failed qemu-io command, as qemu-io does). */
  onOutcome?: (o: Outcome) => void;
}

function loadHistory(file: string | undefined, size: number): string[] {
  if (!file) return [];
  try {
    const lines = fs.readFileSync(file, "utf8").split("\n").filter(Boolean);
    // readline keeps the newest first.
    return lines.slice(-size).reverse();
  } catch {
    return [];
  }
}

function appendHistory(file: string | undefined, line: string): void {
  const l = line.trim();
  if (!file || !l) return;
  try {
    fs.appendFileSync(file, l + "\n", { mode: 0o600 });
  } catch {
    // A read-only home must not break the session.
  }
}

export async function runInteractive(session: Session, opts: InteractiveOptions): Promise<void> {
  const size = opts.historySize ?? 1000;
  const rl = readline.createInterface({
    input: opts.input,
    output: opts.output,
    terminal: true,
    prompt: opts.prompt ?? "(qcowdbg) ",
    history: loadHistory(opts.historyFile, size),
    historySize: size,
    removeHistoryDuplicates: true,
    completer: (line: string): [string[], string] => {
      const hits = session.complete(line);
      const word = /\S*$/.exec(line)?.[0] ?? "";
      // One candidate: complete the word and the space after it, as gdb does.
      return [hits.length === 1 ? [hits[0] + " "] : hits, word];
    },
  });
  let running: { cancel: boolean } | null = null;
  rl.on("SIGINT", () => {
    if (running) {
      running.cancel = true;
      return;
    }
    // gdb: Ctrl-C at the prompt abandons the line.
    rl.write("", { ctrl: true, name: "u" });
    opts.output.write("^C\n");
    rl.prompt();
  });
  const say = (s: string) => opts.output.write(s);
  const runLine = async (line: string): Promise<boolean> => {
    const p = session.start(line);
    if ("quit" in p) {
      opts.onOutcome?.(p);
      return !p.quit;
    }
    const state = { cancel: false };
    running = state;
    let reason: StopReason | null = null;
    let shown = false;
    try {
      while (true) {
        if (state.cancel) {
          p.run.return(undefined as never);
          break;
        }
        const r = p.run.next();
        if (r.done) {
          reason = r.value;
          break;
        }
        say(`\r${session.progressText(r.value)} (Ctrl-C stops)`);
        shown = true;
        await new Promise((res) => setImmediate(res));
      }
    } finally {
      running = null;
      if (shown) say("\r\x1b[K");
    }
    p.finish(reason);
    return true;
  };
  rl.prompt();
  for await (const line of rl) {
    appendHistory(opts.historyFile, line);
    let go = true;
    try {
      go = await runLine(line);
    } catch (e) {
      say(`error: ${(e as Error).message}\n`);
    }
    if (!go) break;
    rl.prompt();
  }
  rl.close();
}
