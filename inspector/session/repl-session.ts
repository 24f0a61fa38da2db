// The REPL's interpreter: qemu-io's commands (qemu-io-commands.ts) plus `events` and `stats`, over one image.
// Shared by `qcowdbg repl` (scripts, -c, stdin) and the TUI's command line. Each line reports qemu-io's status
// so `qcowdbg repl` can exit 1 as qemu-io does when a command failed.
import { EventRecorder } from "../../engine/events/recorder.js";
import { EVENT_NAMES, EVENT_KIND_COUNT } from "../../engine/events/event-schema.js";
import { formatQemuEvent } from "../../engine/events/qemu-trace-format.js";
import { formatTextEvent } from "../../engine/events/text-format.js";
import { Qcow2Image, type OpenOptions } from "../../engine/image/qcow2-image.js";
import { isQcow2Node, type BlockNode } from "../../engine/image/block-node.js";
import type { Storage } from "../../engine/storage/storage.js";
import { defaultConfig, parseConfigOptions, type CacheMode } from "../../engine/image/engine-config.js";
import { runIoCommand, breakline, type IoContext } from "./qemu-io-commands.js";
import { drainAio } from "./qemu-io-context.js";

export interface ReplOptions extends OpenOptions {
  out: (line: string) => void;
  /** qemu-io's stderr lines (default: out). */
  err?: (line: string) => void;
  /** -r: open read-only; write commands fail as in qemu-io. */
  readOnly?: boolean;
  /** -C: copy-on-read on the image opened at start. */
  copyOnRead?: boolean;
  interactive?: boolean;
  flushOutput?: () => void;
  /** The storage to open a path on (a shadow layer kept per file, so `close` then `open` sees earlier writes). */
  storageFor?: (path: string) => Storage | undefined;
}

/** What one line did: quit asked, and qemu-io's status (negative: a failure, the run exits 1). */
export interface LineResult {
  quit: boolean;
  ret: number;
}

export class ReplSession {
  readonly recorder: EventRecorder;
  readonly ctx: IoContext;
  private request = 0;
  /** Block nodes opened so far (for QEMU's node names) and the current top node's name. */
  private nodes = 0;
  private nodeName: string | undefined;
  /** Index of the first event of the last command (for `events`). */
  private lastStart = 0;

  constructor(readonly path: string | null, readonly opts: ReplOptions) {
    this.recorder = (opts.events as EventRecorder) ?? new EventRecorder();
    const open = (p: string, readOnly: boolean, cacheMode?: CacheMode, engineOpts?: string, backingFormat?: "qcow2" | "raw") => {
      const storage = opts.storageFor ? opts.storageFor(p) : opts.storage;
      let config = cacheMode ? { ...opts.config, cacheMode } : opts.config;
      if (engineOpts) config = parseConfigOptions(engineOpts, { ...defaultConfig(), ...config });
      const img = Qcow2Image.open(p, { ...opts, config, events: this.recorder, writable: !readOnly, backingFormat, ...(storage ? { storage } : { storage: undefined }) });
      // A read-only node (-r): flushes do nothing and closing only writes the (clean) caches back, as in QEMU;
      // `reopen -w` makes it read-write.
      if (readOnly) img.rt.readOnly = true;
      // id_generate(ID_BLOCK): '#block', a counter over every node this process made, two random digits. The
      // top format node is named first; each image of the chain adds its format and file nodes, a data file one.
      this.nodeName = `#block${this.nodes + 1}${String(Math.floor(Math.random() * 100)).padStart(2, "0")}`;
      for (let n: BlockNode | null = img; n; n = n.backing) this.nodes += isQcow2Node(n) && n.hasDataFile ? 3 : 2;
      if (this.ctx) this.ctx.nodeName = this.nodeName;
      return img;
    };
    this.ctx = {
      image: path === null ? null : open(path, Boolean(opts.readOnly)),
      out: opts.out,
      err: opts.err ?? opts.out,
      nextRequest: () => {
        this.request++;
        this.recorder.request = this.request;
      },
      open: (p, readOnly, cacheMode, engineOpts, backingFormat) => open(p, readOnly, cacheMode, engineOpts, backingFormat),
      readOnly: Boolean(opts.readOnly),
      ...(this.nodeName ? { nodeName: this.nodeName } : {}),
      quit: false,
      ...(opts.copyOnRead ? { copyOnRead: true } : {}),
      ...(opts.interactive ? { interactive: true } : {}),
      ...(opts.flushOutput ? { flushOutput: opts.flushOutput } : {}),
    };
  }

  /** Runs one line: `events`/`stats`, or a qemu-io command with qemu-io's output and status. */
  run(line: string): LineResult {
    const argv = breakline(line);
    const start = this.recorder.length;
    switch (argv[0]) {
      case "events":
        this.printEvents(argv.slice(1));
        return { quit: false, ret: 0 };
      case "stats":
        this.printStats();
        return { quit: false, ret: 0 };
    }
    const ret = runIoCommand(this.ctx, line);
    if (argv.length) this.lastStart = start;
    return { quit: this.ctx.quit, ret };
  }

  /** Runs one line; returns false on quit. */
  execute(line: string): boolean {
    return !this.run(line).quit;
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
    // Exit drains what is outstanding: AIO completions print before the image closes.
    drainAio(this.ctx);
    if (this.ctx.image) {
      this.ctx.nextRequest();
      this.ctx.image.close(() => this.ctx.nextRequest());
      this.ctx.image = null;
    }
  }
}
