// The REPL's interpreter: qemu-io's I/O commands plus `events` and `stats`, over one image. Shared by
// `qcowdbg repl` (scripts, -c, stdin) and the TUI's command line.
import { EventRecorder } from "../../engine/events/recorder.js";
import { EVENT_NAMES, EVENT_KIND_COUNT } from "../../engine/events/event-kind.js";
import { formatQemuEvent } from "../../engine/events/qemu-trace-format.js";
import { formatTextEvent } from "../../engine/events/text-format.js";
import { Qcow2Image, type OpenOptions } from "../../engine/image/qcow2-image.js";
import { GuestIoError } from "../../engine/image/guest-io-error.js";
import { CommandError, runIoCommand, splitLine, type IoContext } from "./qemu-io-commands.js";

export interface ReplOptions extends OpenOptions {
  out: (line: string) => void;
}

export class ReplSession {
  readonly recorder: EventRecorder;
  readonly ctx: IoContext;
  private request = 0;
  /** Index of the first event of the last command (for `events`). */
  private lastStart = 0;
  private lastRepeat = "";
  /** A command failed (qemu-io then exits 1). */
  failed = false;

  constructor(readonly path: string, readonly opts: ReplOptions) {
    this.recorder = (opts.events as EventRecorder) ?? new EventRecorder();
    const open = (p: string) => Qcow2Image.open(p, { ...opts, events: this.recorder, writable: true });
    this.ctx = {
      image: open(path),
      out: opts.out,
      nextRequest: () => {
        this.request++;
        this.recorder.request = this.request;
      },
      open,
    };
  }

  /** Runs one line; returns false on quit. Errors are printed the way qemu-io prints them. */
  execute(line: string): boolean {
    let argv = splitLine(line);
    if (!argv.length) {
      if (!this.lastRepeat) return true;
      argv = splitLine(this.lastRepeat);
    } else this.lastRepeat = line;
    const start = this.recorder.length;
    try {
      switch (argv[0]) {
        case "events":
          this.printEvents(argv.slice(1));
          return true;
        case "stats":
          this.printStats();
          return true;
        case "help":
          this.opts.out("commands: read, write, discard, flush, open, close, quit, events [all|qemu], stats");
          return true;
      }
      const r = runIoCommand(this.ctx, argv);
      this.lastStart = start;
      return r;
    } catch (e) {
      this.failed = true;
      if (e instanceof CommandError) this.opts.out(e.message);
      // qemu-io's own line: "<command> failed: <strerror>".
      else if (e instanceof GuestIoError) this.opts.out(`${argv[0]} failed: ${e.strerror}`);
      else if (e instanceof RangeError) this.opts.out(`${argv[0]} failed: Input/output error`);
      else throw e;
      this.lastStart = start;
      return true;
    }
  }

  private printEvents(args: string[]): void {
    const from = args[0] === "all" ? 0 : this.lastStart;
    const qemu = args.includes("qemu");
    for (const e of this.recorder.events(from, this.recorder.length)) {
      const s = qemu ? formatQemuEvent(e) : formatTextEvent(e);
      if (s) this.opts.out(s);
    }
  }

  private printStats(): void {
    const img = this.ctx.image;
    const c = this.recorder.counts;
    if (img) {
      const l2 = img.l2Cache;
      const rc = img.refcountCache;
      const rate = (h: number, m: number) => (h + m ? ((100 * h) / (h + m)).toFixed(1) + "%" : "-");
      this.opts.out(`L2 cache:       ${l2.size} x ${l2.tableSize} B, hits ${l2.hits}, misses ${l2.misses} (hit rate ${rate(l2.hits, l2.misses)}), write-backs ${l2.writebacks}`);
      this.opts.out(`refcount cache: ${rc.size} x ${rc.tableSize} B, hits ${rc.hits}, misses ${rc.misses} (hit rate ${rate(rc.hits, rc.misses)}), write-backs ${rc.writebacks}`);
    }
    for (let k = 0; k < EVENT_KIND_COUNT; k++) if (c[k]) this.opts.out(`${(EVENT_NAMES[k] ?? String(k)).padEnd(32)} ${c[k]}`);
  }

  /** Closes the image as qemu-io does at exit (flush, write back, clear the dirty bit). */
  close(): void {
    if (this.ctx.image) {
      this.ctx.nextRequest();
      this.ctx.image.close(() => this.ctx.nextRequest());
      this.ctx.image = null;
    }
  }
}
