// `qcowdbg repl`: qemu-io compatible scripting over the tracing engine. Writes go to a shadow layer unless
// --write; --save-as writes the result as a new qcow2 file; --qemu-trace writes QEMU's trace-log format.
// With a TRACE it debugs the trace's replay (step, break, continue, reverse-*). Interactive (readline, history,
// completion) when stdin is a terminal and no -c was given; otherwise it reads commands like qemu-io.
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import type { Command } from "commander";
import { parseConfigOptions, CACHE_MODES, type CacheMode } from "../../engine/image/engine-config.js";
import { EventRecorder } from "../../engine/events/recorder.js";
import { formatQemuEvent } from "../../engine/events/qemu-trace-format.js";
import { ShadowStorage } from "../../engine/storage/shadow-storage.js";
import { FileStorage } from "../../engine/storage/file-storage.js";
import { ReplSession } from "../../inspector/session/repl-session.js";
import { Session } from "../../inspector/session/session.js";
import { runInteractive } from "../../inspector/session/readline-repl.js";
import { AtomicOutput, writeFileAtomic } from "../../engine/storage/atomic-output.js";
import { guarded, ExitError } from "../fail.js";
import { guardOutputs } from "../output-guard.js";
import { escapeControlKeepLines } from "../../engine/format/terminal-text.js";
import { forceShareEnabled } from "../../engine/storage/image-lock.js";
import { openFromFlags } from "./tui.js";

interface ReplFlags {
  write?: boolean;
  saveAs?: string;
  t?: string;
  cache?: string;
  qemuTrace?: string;
  c: string[];
  metadataOnly?: boolean;
  format?: string;
}

export function register(program: Command): void {
  program
    .command("repl")
    .description("run qemu-io style commands against an image through the tracing engine")
    .argument("<image>", "qcow2 image")
    .argument("[trace]", "a trace to debug: its replay can be stepped, continued to breakpoints and reversed")
    .option("--write", "write to the image in place (default: a shadow layer; the file is untouched)")
    .option("--save-as <out>", "write the resulting image to OUT (a real qcow2 file)")
    .option("-t, --t <mode>", `cache mode (${CACHE_MODES.join(", ")})`, "writethrough")
    .option("--cache <opts>", "engine options, e.g. l2-cache-size=1M,l2-cache-entry-size=4k,lazy-refcounts=on")
    .option("--metadata-only", "do not keep data payloads (reads of never-written data return zeros)")
    .option("--qemu-trace <file>", "write the events as QEMU's `--trace 'qcow2*'` log")
    .option("-c, --cmd <command>", "run a command (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--format <name>", "trace format, instead of detecting it")
    .action(guarded(async (image: string, trace: string | undefined, flags: ReplFlags & { cmd: string[] }, cmd: Command) => {
      const interactive = Boolean(process.stdin.isTTY) && !flags.cmd.length;
      // A replay models a guest: QEMU's default cache mode (writeback) unless -t says otherwise.
      if (trace) return debugTrace(image, trace, { ...flags, t: cmd.getOptionValueSource("t") === "cli" ? flags.t : "writeback" }, interactive);
      if (flags.write && flags.saveAs) throw new ExitError("--write and --save-as are mutually exclusive", 1);
      if (flags.write && forceShareEnabled()) throw new ExitError(`${image}: force-share=on can only be used with read-only images`, 1);
      guardOutputs({ "--save-as": flags.saveAs, "--qemu-trace": flags.qemuTrace }, image);
      if (!CACHE_MODES.includes(flags.t as CacheMode)) throw new ExitError(`invalid cache option: ${flags.t}`, 1);
      let config = parseConfigOptions(flags.cache ?? "");
      config = { ...config, cacheMode: flags.t as CacheMode, metadataOnly: Boolean(flags.metadataOnly) };
      const recorder = new EventRecorder();
      const out = (l: string) => process.stdout.write(escapeControlKeepLines(l) + "\n");
      let shadow: ShadowStorage | undefined;
      if (!flags.write) {
        shadow = new ShadowStorage(new FileStorage(image, false));
        shadow.retain = Boolean(flags.saveAs);
      }
      const onCorruption = (m: string) => void process.stderr.write(m + "\n");
      const repl = new ReplSession(image, { out, config, write: flags.write, writable: true, events: recorder, storage: shadow, onCorruption });
      if (flags.saveAs && repl.ctx.image?.persistentBitmaps) {
        repl.close();
        throw new ExitError(`${image}: image has persistent dirty bitmaps, which qcowdbg does not update; --save-as would write them stale`, 1);
      }
      const session = new Session({ kind: "image", repl, imagePath: image }, { out });
      let go = true;
      for (const c of flags.cmd) {
        if (!go) break;
        go = !session.execute(c).quit;
      }
      if (go && interactive) await runInteractive(session, { input: process.stdin, output: process.stdout, historyFile: historyFile() });
      else if (go && !flags.cmd.length) {
        const rl = readline.createInterface({ input: process.stdin, terminal: false });
        for await (const line of rl) {
          if (session.execute(line).quit) break;
        }
      }
      // A write QEMU refused marked the image corrupt (in the shadow): such a result is not saved.
      const corrupted = Boolean(repl.ctx.image?.unusable);
      session.close();
      if (flags.saveAs && shadow && corrupted) {
        shadow.dispose();
        throw new ExitError(`${flags.saveAs}: not written: the image was marked corrupt during the session (${image} is unchanged)`, 1);
      }
      if (flags.saveAs && shadow) {
        // Copied into a temporary file renamed into place: a kill mid-copy leaves the old OUT or the new one.
        const out = new AtomicOutput(flags.saveAs);
        try {
          out.release();
          const target = new FileStorage(out.path, true, { lock: false });
          shadow.copyTo(target);
          target.close();
          out.commit();
        } catch (e) {
          out.abort();
          throw e;
        } finally {
          shadow.dispose();
        }
      }
      // qemu-io exits 1 when a command failed (a write the overlap check refused, among others).
      if (repl.failed) process.exitCode = 1;
      if (flags.qemuTrace) {
        const lines: string[] = [];
        for (const e of recorder.events()) {
          const s = formatQemuEvent(e);
          if (s) lines.push(s);
        }
        writeFileAtomic(flags.qemuTrace, lines.join("\n") + (lines.length ? "\n" : ""));
      }
    }));
}

function historyFile(): string {
  return process.env.QCOWDBG_HISTORY ?? path.join(os.homedir(), ".qcowdbg_history");
}

/** `repl IMG TRACE`: the same command language over the trace's timeline. */
async function debugTrace(image: string, trace: string, flags: ReplFlags & { cmd: string[] }, interactive: boolean): Promise<void> {
  if (flags.write || flags.saveAs || flags.qemuTrace) throw new ExitError("--write, --save-as and --qemu-trace apply without a trace (a replay always goes to a shadow layer)", 1);
  if (!CACHE_MODES.includes(flags.t as CacheMode)) throw new ExitError(`invalid cache option: ${flags.t}`, 1);
  const out = (l: string) => process.stdout.write(escapeControlKeepLines(l) + "\n");
  const cache = [flags.cache, `cache=${flags.t}`].filter(Boolean).join(",");
  const session = openFromFlags(image, trace, { config: cache, format: flags.format }, out);
  try {
    for (const c of flags.cmd) if (session.execute(c).quit) return;
    if (interactive) {
      out(`${session.timeline!.requestCount} requests from ${trace}; "help" lists commands, "n" runs one request.`);
      await runInteractive(session, { input: process.stdin, output: process.stdout, historyFile: historyFile() });
    } else if (!flags.cmd.length) {
      const rl = readline.createInterface({ input: process.stdin, terminal: false });
      for await (const line of rl) if (session.execute(line).quit) break;
    }
  } finally {
    session.close();
  }
}
