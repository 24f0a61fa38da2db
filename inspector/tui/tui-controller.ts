// The TUI's state outside React: which pane has focus, scroll and selection per pane, the `:` line and its
// history, overlays, and runs in flight. Keys come in as gdb SingleKey letters; moves go through the session's
// command language, so the TUI and the REPL cannot disagree. React subscribes to `version`.
import type { Session, PendingRun } from "../session/session.js";
import type { PaneView, Row } from "../session/view-models.js";
import { breakCommandFor, enterCommandFor } from "./row-actions.js";
import { helpText } from "../session/command-table.js";
import { KeyQueue } from "./key-queue.js";
import { layout, PANE_ORDER, unknownPane, type Layout, type PaneId, type Wants } from "./layout.js";
import { volatileLines } from "../session/crash-probe.js";
import { KEY_HELP, MOVES, RUNS, type KeyInfo } from "./key-bindings.js";
import { MapRefresher } from "./map-refresher.js";

export { KEY_HELP, type KeyInfo } from "./key-bindings.js";

export type Mode = "normal" | "command" | "help" | "output";

export interface RunState {
  text: string;
  cancel: boolean;
}

/** How often a run in flight redraws the screen. */
const DRAW_EVERY_MS = 250;

export class TuiController {
  version = 0;
  focus: PaneId = "timeline";
  mode: Mode = "normal";
  command = "";
  history: string[] = [];
  output: string[] = [];
  message = "";
  running: RunState | null = null;
  private cols: number;
  private rowsCount: number;
  private layoutMemo: { key: string; layout: Layout } | null = null;
  /** Per pane: first visible row chosen by the user (absent: follow the current position). */
  private scroll = new Map<PaneId, number>();
  /** Per pane: selected row (absent: the pane's focus row). */
  private selection = new Map<PaneId, number>();
  private histIndex = -1;
  private listeners = new Set<() => void>();
  private readonly queue: KeyQueue;
  /** Rebuilds a stale host map while the keys pause. */
  private readonly maps: MapRefresher;
  onQuit: () => void = () => {};

  constructor(
    readonly session: Session,
    cols: number,
    rows: number,
  ) {
    this.cols = cols;
    this.rowsCount = rows;
    this.queue = new KeyQueue(() => this.changed());
    this.maps = new MapRefresher(session.views, {
      drawing: () => this.listeners.size > 0,
      busy: () => this.running !== null || this.queue.size > 0,
      built: (error) => {
        if (error) this.message = `error: ${error}`;
        this.changed();
      },
    });
    this.message = session.stopText;
    // Panes are on screen: commands capture what they showed, to mark what changed.
    session.views.screen = true;
    session.views.deferMap = true;
  }

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
      if (!this.listeners.size) this.maps.stop();
    };
  };

  getVersion = (): number => this.version;

  changed(): void {
    this.version++;
    for (const l of this.listeners) l();
    this.maps.schedule();
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rowsCount = rows;
    this.changed();
  }

  /** Pane sizes for the terminal and for what the panes hold now (a 2-slot cache gets 4 rows, not 10). */
  get layout(): Layout {
    const key = `${this.version}:${this.cols}x${this.rowsCount}`;
    if (this.layoutMemo?.key !== key) this.layoutMemo = { key, layout: layout(this.cols, this.rowsCount, this.wants()) };
    return this.layoutMemo.layout;
  }

  private wants(): Wants {
    const img = this.session.image();
    const v = this.session.views;
    const base = layout(this.cols, this.rowsCount);
    const mapWidth = base.columns.flat().find((b) => b.id === "map")?.width ?? 40;
    const map = v.hostMap();
    const mapRows = map ? Math.min(12, Math.ceil(map.kinds.length / Math.max(8, mapWidth))) : 1;
    return {
      l2: img ? img.l2Cache.size + 2 : 3,
      refcount: img ? img.refcountCache.size + 2 : 3,
      map: mapRows + 2,
      header: v.headerPane().rows.length + 1,
      counters: v.countersPane().rows.length + 1,
      crash: this.crashPane ? this.crashRows().rows.length + 1 : 0,
    };
  }

  get droppedKeys(): number {
    return this.queue.dropped;
  }

  // ---- panes: rows, windows, selection -----------------------------------------------------------------

  private box(id: PaneId): { width: number; height: number } {
    for (const col of this.layout.columns) for (const b of col) if (b.id === id) return b;
    return { width: 40, height: 0 };
  }

  /** Rows the pane can show under its title. */
  visibleRows(id: PaneId): number {
    return Math.max(0, this.box(id).height - 1 - (id === "map" ? 1 : 0));
  }

  /** The pane's rows (the timeline's are virtual: see timelineWindow). */
  rows(id: PaneId): PaneView {
    const v = this.session.views;
    switch (id) {
      case "request":
        return v.requestPane();
      case "l2":
      case "refcount":
        return v.cachePane(id);
      case "tables":
        return v.tablesPane(Math.max(1, this.visibleRows("tables")));
      case "header":
        return v.headerPane();
      case "counters":
        return v.countersPane();
      case "crash":
        return this.crashRows();
      case "map":
        return v.mapPane(this.box("map").width, Math.max(1, this.visibleRows("map")));
      case "timeline":
        // Virtual: a trace has millions of requests (timelineRows builds a window of them).
        return { title: v.timelineTitle(), summary: "", rows: [] };
      default:
        return unknownPane(id);
    }
  }

  private count(id: PaneId): number {
    if (id === "timeline") return this.session.views.timelineCount();
    return this.rows(id).rows.length;
  }

  private focusRow(id: PaneId): number | undefined {
    if (id === "timeline") return this.session.views.timelineFocus();
    return this.rows(id).focus;
  }

  /** First visible row: the user's scroll, else a window placed by the focus row alone (so N undoes n exactly). */
  top(id: PaneId): number {
    const n = this.count(id);
    const h = this.visibleRows(id);
    const max = Math.max(0, n - h);
    const user = this.scroll.get(id);
    if (user !== undefined) return Math.min(user, max);
    const f = this.focusRow(id);
    if (f === undefined) return 0;
    return Math.max(0, Math.min(max, f - Math.floor(h / 3)));
  }

  selected(id: PaneId): number | undefined {
    return this.selection.get(id) ?? this.focusRow(id);
  }

  private moveSelection(delta: number, absolute?: number): void {
    const id = this.focus;
    const n = this.count(id);
    if (!n) return;
    const h = Math.max(1, this.visibleRows(id));
    const cur = this.selected(id) ?? this.top(id);
    const next = Math.max(0, Math.min(n - 1, absolute ?? cur + delta));
    this.selection.set(id, next);
    const top = this.top(id);
    if (next < top) this.scroll.set(id, next);
    else if (next >= top + h) this.scroll.set(id, next - h + 1);
  }

  /** After the position moved, every pane follows it again. */
  private follow(): void {
    this.scroll.clear();
    this.selection.clear();
  }

  // ---- commands ----------------------------------------------------------------------------------------

  /** `:crash` opens the pane of volatile writes (writes since the last sync, which a crash may lose). */
  crashPane = false;
  private crashMemo: { key: string; view: PaneView } | null = null;

  private crashRows(): PaneView {
    const tl = this.session.timeline;
    if (!tl) return { title: "Volatile writes", summary: "no trace", rows: [{ key: "none", text: "crash needs a trace (qcowdbg tui IMAGE TRACE)", tone: "dim" }] };
    const key = `${tl.position().request}`;
    if (this.crashMemo?.key !== key) {
      let lines: string[];
      try {
        lines = volatileLines(this.session.crashProbe(), tl, 9);
      } catch (e) {
        lines = [`error: ${(e as Error).message}`];
      }
      this.crashMemo = { key, view: { title: "Volatile writes (lost if the power fails now)", summary: lines[0] ?? "", rows: lines.map((text, i) => ({ key: `v${i}`, text })) } };
    }
    return this.crashMemo.view;
  }

  /** Runs a command line as the REPL would; long runs go on in slices. */
  run(line: string): void {
    if (line.trim() === "crash") this.crashPane = true;
    const before = this.session.printed;
    let p: ReturnType<Session["start"]>;
    try {
      p = this.session.start(line);
    } catch (e) {
      // An engine error (a corrupt table met by a qemu-io command) is news, not a reason to leave the screen.
      this.message = `error: ${(e as Error).message}`;
      this.changed();
      return;
    }
    if ("quit" in p) {
      if (p.quit) return this.quit();
      if (p.moved) this.follow();
      this.showOutput(before, false);
      this.changed();
      return;
    }
    this.drive(p, before);
  }

  private drive(p: PendingRun, before: number): void {
    const state: RunState = { text: "running...", cancel: false };
    const done = (reason: Parameters<PendingRun["finish"]>[0]) => {
      p.finish(reason);
      this.running = null;
      this.follow();
      this.showOutput(before, true);
      this.changed();
    };
    const slice = (): boolean => {
      let r: IteratorResult<{ done: number; total: number }, Parameters<PendingRun["finish"]>[0]>;
      try {
        r = p.run.next();
      } catch (e) {
        this.running = null;
        this.message = `error: ${(e as Error).message}`;
        this.changed();
        return true;
      }
      if (r.done) {
        done(r.value);
        return true;
      }
      state.text = `${this.session.progressText(r.value)} (Esc stops)`;
      // The panes keep showing where the run began until it stops (the status line shows its progress): building
      // them between slices re-ran a request from a checkpoint per frame and doubled a long reverse run.
      return false;
    };
    // Most commands finish in their first slice: then no "running" frame is drawn at all.
    if (slice()) return;
    this.running = state;
    this.changed();
    // Between slices the screen follows the run, but a few times a second is enough: drawing every slice
    // would spend on frames the time the run needs.
    let drawn = performance.now();
    const tick = () => {
      if (state.cancel) {
        p.run.return(undefined as never);
        return done(null);
      }
      if (slice()) return;
      if (performance.now() - drawn >= DRAW_EVERY_MS) {
        drawn = performance.now();
        this.changed();
      }
      setImmediate(tick);
    };
    setImmediate(tick);
  }

  /** Output of the last command: a run shows where it stopped; several lines open the output overlay. */
  private showOutput(before: number, wasRun: boolean): void {
    const lines = this.session.log.slice(this.session.log.length - Math.min(this.session.log.length, this.session.printed - before));
    if (wasRun) this.message = this.session.stopText;
    else if (lines.length > 2) {
      this.output = lines;
      this.mode = "output";
      this.message = lines[0] ?? "";
    } else if (lines.length) this.message = lines.join("  ");
  }

  quit(): void {
    this.maps.stop();
    if (this.running) this.running.cancel = true;
    this.onQuit();
  }

  /** The selected row of the focused pane (the timeline's built for it alone: its rows are virtual). */
  private selectedRow(): Row | undefined {
    const id = this.focus;
    const sel = this.selected(id);
    if (sel === undefined) return undefined;
    if (id === "timeline") return this.session.views.timelineRows(sel, 1)[0];
    return this.rows(id).rows[sel];
  }

  /** The break command for the selected row of the focused pane, or why there is none. */
  breakCommand(): string | { error: string } {
    const row = this.selectedRow();
    if (!row) return { error: "nothing selected" };
    if (!row.target) return { error: `no breakpoint for this row of ${this.focus} (select a request, an event, a cache slot or an L1/L2 entry)` };
    return breakCommandFor(row.target);
  }

  /** What Enter runs on the selected row (a request: run to it; image mode: run that command again), if anything. */
  enterCommand(): string | null {
    const t = this.selectedRow()?.target;
    return t ? enterCommandFor(t) : null;
  }

  // ---- keys --------------------------------------------------------------------------------------------

  key(input: string, k: KeyInfo): void {
    // Whatever this key does may move the engine: a map build in steps must not go on over it.
    this.maps.interrupt();
    // A paste (or keys typed faster than they are read) arrives as one string: take it key by key.
    if (input.length > 1 && !k.ctrl) {
      for (const ch of input) {
        if (ch === "\r" || ch === "\n") this.key("", { return: true });
        else if (ch === "\t") this.key("", { tab: true });
        else if (ch === "\x7f" || ch === "\b") this.key("", { backspace: true });
        else if (ch === "\x1b") this.key("", { escape: true });
        else this.key(ch, {});
      }
      return;
    }
    if (k.ctrl && input === "c") {
      if (this.running) this.running.cancel = true;
      else if (this.mode === "command") {
        // As in a shell: Ctrl-C abandons the line being typed.
        this.mode = "normal";
        this.changed();
      } else this.quit();
      return;
    }
    if (this.running) {
      if (k.escape || input === "q") this.running.cancel = true;
      return;
    }
    switch (this.mode) {
      case "command":
        return this.commandKey(input, k);
      case "help":
      case "output":
        // Any key closes the overlay and only that ("press any key": `q` here must not quit the TUI);
        // `:` also opens the command line, as the user is about to type a command.
        this.mode = "normal";
        this.changed();
        if (input === ":") break;
        return;
    }
    this.normalKey(input, k);
  }

  private normalKey(input: string, k: KeyInfo): void {
    if (k.tab) {
      // Panes with no rows (the crash pane before `:crash`) are skipped.
      const order = PANE_ORDER.filter((id) => id !== "crash" || this.crashPane);
      const i = order.indexOf(this.focus);
      this.focus = order[(i + (k.shift ? order.length - 1 : 1)) % order.length]!;
      return this.changed();
    }
    const h = Math.max(1, this.visibleRows(this.focus));
    if (k.upArrow) return (this.moveSelection(-1), this.changed());
    if (k.downArrow) return (this.moveSelection(1), this.changed());
    if (k.pageUp) return (this.moveSelection(-h), this.changed());
    if (k.pageDown) return (this.moveSelection(h), this.changed());
    if (k.home) return (this.moveSelection(0, 0), this.changed());
    if (k.end) return (this.moveSelection(0, this.count(this.focus) - 1), this.changed());
    if (k.return) {
      const line = this.enterCommand();
      if (line) this.queue.push({ name: "enter", run: () => this.run(line) });
      return;
    }
    if (k.escape) return;
    const move = MOVES[input];
    if (move) return this.queue.push({ name: move, run: () => this.run(move) });
    const long = RUNS[input];
    if (long) {
      this.queue.clear();
      return this.run(long);
    }
    switch (input) {
      case "q":
        return this.quit();
      case "?":
        this.mode = "help";
        this.output = [...KEY_HELP, "", ...helpText()];
        return this.changed();
      case ":":
        this.mode = "command";
        this.command = "";
        this.histIndex = -1;
        return this.changed();
      case "b": {
        const cmd = this.breakCommand();
        if (typeof cmd === "string") this.run(cmd);
        else {
          this.message = cmd.error;
          this.changed();
        }
        return;
      }
    }
  }

  private commandKey(input: string, k: KeyInfo): void {
    if (k.escape) {
      this.mode = "normal";
      return this.changed();
    }
    if (k.return) {
      const line = this.command;
      this.mode = "normal";
      if (line.trim()) this.history.push(line);
      this.command = "";
      this.run(line);
      return;
    }
    if (k.backspace || k.delete) this.command = this.command.slice(0, -1);
    else if (k.upArrow || k.downArrow) {
      if (!this.history.length) return;
      if (this.histIndex < 0) this.histIndex = this.history.length;
      this.histIndex = Math.max(0, Math.min(this.history.length, this.histIndex + (k.upArrow ? -1 : 1)));
      this.command = this.history[this.histIndex] ?? "";
    } else if (k.tab) {
      const c = this.session.complete(this.command);
      if (c.length === 1) this.command = this.command.replace(/\S*$/, c[0]!) + " ";
      else if (c.length > 1) this.message = c.slice(0, 12).join("  ");
    } else if (input && !k.ctrl) this.command += input;
    this.changed();
  }
}
