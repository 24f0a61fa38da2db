// `qcowdbg repl`: qemu-io compatible scripting over the tracing engine. Writes go to a shadow layer unless
// --write; --save-as writes the result as a new qcow2 file; --qemu-trace writes QEMU's trace-log format.
// With a TRACE it debugs the trace's replay (step, break, continue, reverse-*). Interactive (readline, history,
// completion) when stdin is a terminal and no -c was given; otherwise it reads commands like qemu-io.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import type { Command } from "commander";
import { parseConfigOptions, CACHE_MODES, type CacheMode } from "../../engine/image/engine-config.js";
import { EventRecorder } from "../../engine/events/recorder.js";
import { formatQemuEvent } from "../../engine/events/qemu-trace-format.js";
import { drainAio } from "../../inspector/session/qemu-io-context.js";
import { ShadowStorage } from "../../engine/storage/shadow-storage.js";
import { FileStorage } from "../../engine/storage/file-storage.js";
import { hugeRegion } from "../../engine/storage/huge-region.js";
import { ReplSession } from "../../inspector/session/repl-session.js";
import { Session } from "../../inspector/session/session.js";
import { runInteractive } from "../../inspector/session/readline-repl.js";
import { AtomicOutput, writeFileAtomic } from "../../engine/storage/atomic-output.js";
import { escapeControlKeepLines } from "../../engine/format/terminal-text.js";
import { forceShareEnabled } from "../../engine/storage/image-lock.js";
import { guarded, ExitError } from "../fail.js";
import { applyTempLimit, TEMP_LIMIT_HELP } from "../temp-limit.js";
import { guardOutputs } from "../output-guard.js";
import { StdoutBuffer, checkAio, parseCacheMode, parseDiscard, parseImageOpts, parseTraceOption, type TraceSpec } from "../qemu-io-options.js";
import { openFromFlags } from "./tui.js";

interface ReplFlags {
  write?: boolean;
  saveAs?: string;
  t?: string;
  cache?: string[];
  qemuTrace?: string;
  c: string[];
  metadataOnly?: boolean;
  format?: string;
  readOnly?: boolean;
  nocache?: boolean;
  imageOpts?: boolean;
  trace?: string[];
  discard?: string;
  aio?: string;
  misalign?: boolean;
  nativeAio?: boolean;
  copyOnRead?: boolean;
  snapshot?: boolean;
  object?: string[];
  tempLimit?: string;
}

const collect = (v: string, acc: string[]) => [...acc, v];

export function register(program: Command): void {
  program
    .command("repl")
    .description(
      "run qemu-io style commands against an image through the tracing engine; qemu-io's options, output and exit " +
        "status. The debugger's own commands take a leading ':' where qemu-io has a command of that name (:help, :info l1)",
    )
    .argument("[image]", "qcow2 image (none: start with `open FILE`, as qemu-io)")
    .argument("[trace]", "a trace to debug: its replay can be stepped, continued to breakpoints and reversed")
    .option("--write", "write to the image in place (default: a shadow layer; the file is untouched)")
    .option("--save-as <out>", "write the resulting image to OUT (a real qcow2 file)")
    .option("-t, --t <mode>", `cache mode, as qemu-io -t (${CACHE_MODES.join(", ")}; off = none)`, "writethrough")
    .option("--cache <mode|opts>", "qemu-io's --cache=MODE; or engine options, e.g. l2-cache-size=1M,l2-cache-entry-size=4k,lazy-refcounts=on", collect, [] as string[])
    .option("-n, --nocache", "qemu-io -n: short for -t none")
    .option("-r, --read-only", "qemu-io -r: open read-only; write commands fail")
    .option("-f, --format <fmt>", "image format (qcow2; qemu-io -f); with a TRACE: the trace's format, instead of detecting it")
    .option("--image-opts", "treat IMAGE as an option string (driver=qcow2,file.filename=PATH,...), as qemu-io")
    .option("-T, --trace <spec>", "qemu-io -T: [enable=]PATTERN[,events=FILE][,file=FILE]; QEMU-format trace lines on stderr", collect, [] as string[])
    .option("-d, --discard <mode>", "qemu-io -d: unmap (default) or ignore")
    .option("-i, --aio <mode>", "qemu-io -i: threads, native or io_uring (no effect on the engine's decisions)")
    .option("-k, --native-aio", "qemu-io -k (no effect on the engine's decisions)")
    .option("-m, --misalign", "qemu-io -m: misaligned buffers (no effect on the engine's decisions)")
    .option("-C, --copy-on-read", "qemu-io -C: copy-on-read (reads copy unallocated clusters into the image)")
    .option("-s, --snapshot", "qemu-io -s (temporary snapshot; refused: the shadow layer, the default, does this)")
    .option("--object <def>", "qemu-io --object (secrets for encrypted images; refused: not modelled)", collect, [] as string[])
    .option("--metadata-only", "do not keep data payloads (reads of never-written data return zeros); pattern writes are kept as runs of bytes either way, so scripts rarely need it")
    .option("--temp-limit <size>", TEMP_LIMIT_HELP)
    .option("--qemu-trace <file>", "write the events as QEMU's `--trace 'qcow2*'` log")
    .option("-c, --cmd <command>", "run a command (repeatable)", collect, [] as string[])
    .action(guarded(async (image: string | undefined, trace: string | undefined, flags: ReplFlags & { cmd: string[] }, cmd: Command) => {
      applyTempLimit(flags.tempLimit);
      const interactive = Boolean(process.stdin.isTTY) && !flags.cmd.length;
      const cacheModes = flags.cache!.filter((c) => !c.includes("="));
      const engineOpts = flags.cache!.filter((c) => c.includes("="));
      // A replay models a guest: QEMU's default cache mode (writeback) unless -t says otherwise.
      if (trace) {
        if (!image) throw new ExitError("a TRACE needs an IMAGE", 1);
        const t = cacheModes.length ? cacheModes[cacheModes.length - 1]! : cmd.getOptionValueSource("t") === "cli" ? flags.t! : "writeback";
        return debugTrace(image, trace, { ...flags, cache: engineOpts, t: parseCacheMode(t) }, interactive);
      }
      if (flags.write && flags.saveAs) throw new ExitError("--write and --save-as are mutually exclusive", 1);
      if (!flags.readOnly && forceShareEnabled()) throw new ExitError(`can't open device ${image}: force-share=on can only be used with read-only images`, 1);
      if (flags.copyOnRead && flags.readOnly && image) throw new ExitError(`can't open device ${image}: Can't use copy-on-read on read-only device`, 1);
      if (flags.object!.length) throw new ExitError(`--object ${flags.object![0]}: objects (secrets, encryption keys) are not modelled by qcowdbg; nothing was run`, 1);
      if (flags.snapshot) throw new ExitError("-s (snapshot) is not modelled as such: without --write, qcowdbg already writes to a throw-away layer", 1);
      if (flags.format !== undefined && flags.imageOpts) throw new ExitError("--image-opts and -f are mutually exclusive", 1);
      if (flags.format !== undefined && flags.format !== "qcow2") throw new ExitError(`-f ${flags.format}: qcowdbg repl opens qcow2 images only`, 1);
      if (flags.aio !== undefined) checkAio(flags.aio);
      // qemu-io's default is writethrough; -n means none; -t/--cache MODE set it (the last one given wins).
      let mode: CacheMode = "writethrough";
      if (flags.nocache) mode = "none";
      if (cmd.getOptionValueSource("t") === "cli") mode = parseCacheMode(flags.t!);
      for (const m of cacheModes) mode = parseCacheMode(m);
      let path = image;
      const extra: string[] = [...engineOpts];
      if (flags.discard !== undefined) extra.push(parseDiscard(flags.discard));
      if (flags.imageOpts && image) {
        const o = parseImageOpts(image);
        path = o.file;
        extra.push(...o.engine);
      }
      let config = parseConfigOptions(extra.join(","));
      config = { ...config, cacheMode: mode, metadataOnly: Boolean(flags.metadataOnly) };
      const traceSpec: TraceSpec = { patterns: [] };
      for (const t of flags.trace!) parseTraceOption(t, traceSpec);
      if (path !== undefined) guardOutputs({ "--save-as": flags.saveAs, "--qemu-trace": flags.qemuTrace, "-T file=": traceSpec.file }, path);

      const stdout = new StdoutBuffer();
      // Names and bytes from the image (backing names, read -v dumps) are escaped before they reach a terminal.
      const out = (l: string) => stdout.write(escapeControlKeepLines(l) + "\n");
      const err = (l: string) => {
        // QEMU's trace lines of what ran before the message come before it on stderr.
        traceOut();
        process.stderr.write(escapeControlKeepLines(l) + "\n");
      };
      const recorder = new EventRecorder();
      recorder.chunkRegion = hugeRegion;
      const traceOut = traceWriter(traceSpec, recorder);
      // Without --write each file gets one shadow layer for the whole run: `close` and `open` again see the writes.
      const shadows = new Map<string, ShadowStorage>();
      const storageFor = (p: string): ShadowStorage | undefined => {
        if (flags.write) return undefined;
        let s = shadows.get(p);
        if (!s) {
          s = new ShadowStorage(new FileStorage(p, false));
          s.retain = true;
          shadows.set(p, s);
        }
        return s;
      };
      const repl = new ReplSession(path ?? null, {
        out,
        err,
        config,
        write: flags.write,
        readOnly: Boolean(flags.readOnly),
        copyOnRead: Boolean(flags.copyOnRead),
        interactive,
        flushOutput: () => stdout.flush(),
        events: recorder,
        storageFor,
        onCorruption: err,
      });
      if (flags.saveAs && repl.ctx.image?.persistentBitmaps) {
        repl.close();
        throw new ExitError(`${path}: image has persistent dirty bitmaps, which qcowdbg does not update; --save-as would write them stale`, 1);
      }
      const session = new Session({ kind: "image", repl, imagePath: path ?? "" }, { out, qemuIo: true });
      let failed = false;
      let go = true;
      const one = (line: string) => {
        let r: ReturnType<Session["execute"]>;
        try {
          r = session.execute(line);
        } catch (e) {
          stdout.flush();
          throw e;
        }
        traceOut();
        if (r.failed) failed = true;
        go = !r.quit;
      };
      for (const c of flags.cmd) {
        if (!go) break;
        one(c);
      }
      if (go && interactive) await runInteractive(session, { input: process.stdin, output: process.stdout, historyFile: historyFile(), prompt: "qemu-io> ", onOutcome: (o) => {
            if (o.failed) failed = true;
          } });
      else if (go && !flags.cmd.length) {
        // qemu-io prints its prompt before every line it reads, terminal or not, and flushes stdout there.
        const prompt = () => {
          stdout.write("qemu-io> ");
          stdout.flush();
          // Waiting for the line, QEMU's main loop runs the bottom halves of AIO requests that did no I/O.
          drainAio(repl.ctx, true);
        };
        prompt();
        const rl = readline.createInterface({ input: process.stdin, terminal: false });
        for await (const line of rl) {
          one(line);
          if (!go) break;
          prompt();
        }
      }
      // A write QEMU refused marked the image corrupt (in the shadow): such a result is not saved.
      const corrupted = Boolean(repl.ctx.image?.rt.unusable);
      try {
        session.close();
        traceOut();
      } finally {
        // What the commands printed stays printed when closing fails (the error follows on stderr).
        stdout.flush();
      }
      const shadow = path === undefined ? undefined : shadows.get(path);
      try {
        if (flags.saveAs && shadow && corrupted) {
          throw new ExitError(`${flags.saveAs}: not written: the image was marked corrupt during the session (${path} is unchanged)`, 1);
        }
        if (flags.saveAs && shadow) {
          // Copied into a temporary file renamed into place: a kill mid-copy leaves the old OUT or the new one.
          const atomic = new AtomicOutput(flags.saveAs);
          try {
            atomic.release();
            const target = new FileStorage(atomic.path, true, { lock: false });
            shadow.copyTo(target);
            target.close();
            atomic.commit();
          } catch (e) {
            atomic.abort();
            throw e;
          }
        }
      } finally {
        for (const s of shadows.values()) s.dispose();
      }
      if (flags.qemuTrace) {
        const lines: string[] = [];
        for (const e of recorder.events()) {
          const s = formatQemuEvent(e);
          if (s) lines.push(s);
        }
        writeFileAtomic(flags.qemuTrace, lines.join("\n") + (lines.length ? "\n" : ""));
      }
      if (failed) process.exitCode = 1;
    }));
}

/** -T: the events recorded since the last call, as qemu-io 7.2's log backend prints them (no timestamp prefix). */
function traceWriter(spec: TraceSpec, recorder: EventRecorder): () => void {
  let done = 0;
  const fd = spec.file ? fs.openSync(spec.file, "w") : 2;
  return () => {
    if (!spec.patterns.length) return;
    const end = recorder.length;
    let text = "";
    for (const e of recorder.events(done, end)) {
      const s = formatQemuEvent(e);
      if (!s) continue;
      const name = s.slice(0, s.indexOf(" ") < 0 ? s.length : s.indexOf(" "));
      if (!spec.patterns.some((p) => p.test(name))) continue;
      text += s + "\n";
    }
    done = end;
    if (text) fs.writeSync(fd, text);
  };
}

function historyFile(): string {
  return process.env.QCOWDBG_HISTORY ?? path.join(os.homedir(), ".qcowdbg_history");
}

/** `repl IMG TRACE`: the same command language over the trace's timeline. */
async function debugTrace(image: string, trace: string, flags: ReplFlags & { cmd: string[] }, interactive: boolean): Promise<void> {
  if (flags.write || flags.saveAs || flags.qemuTrace) throw new ExitError("--write, --save-as and --qemu-trace apply without a trace (a replay always goes to a shadow layer)", 1);
  if (!CACHE_MODES.includes(flags.t as CacheMode)) throw new ExitError(`invalid cache option: ${flags.t}`, 1);
  const out = (l: string) => process.stdout.write(escapeControlKeepLines(l) + "\n");
  const cache = [...(flags.cache ?? []), `cache=${flags.t}`].join(",");
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
