// The view models of every pane, built from the engine state at the current position and memoised until the
// next command. Before a command runs, the state the panes showed is captured, so each pane can mark what the
// command changed (cache slots, table entries, host clusters, header fields, counters).
import { eventColumns } from "../../engine/replay/cost-model.js";
import { describeRequest } from "../../engine/replay/request-summary.js";
import { type CacheStats, cacheView } from "./cache-view.js";
import type { CacheView } from "../../engine/image/metadata-cache.js";
import type { HostMap } from "./cluster-map.js";
import { countersRows, countersView, requestCost, type RequestCost } from "./counters-view.js";
import { addEvent, EventSums, RequestStarts, Sum, SUM_COUNT, sumsFromCounts } from "./event-index.js";
import { eventLine, eventTarget } from "./event-words.js";
import { headerRows, headerView } from "./header-view.js";
import { requestShort, requestWords } from "./request-words.js";
import { tablesView } from "./tables-view.js";
import { HostMapCache, mapView, type MapView } from "./map-pane.js";
import type { PaneView, RequestRow, Row, StatusView, Tone } from "./view-models.js";
import { COMMANDS, INFO_TOPICS } from "./command-table.js";
import { EVENT_NAME_LIST } from "./breakpoint-spec.js";
import type { Session } from "./session.js";
import { capNote, eventCount, focusAt, type Focus } from "./request-focus.js";
import { guestOffsetInView, touchedClusters, touchedEntries } from "./event-touches.js";

export type { MapView } from "./map-pane.js";
export { MAX_EVENT_ROWS, type Focus } from "./request-focus.js";

interface Before {
  l2: CacheView | null;
  rc: CacheView | null;
  sums: Float64Array;
  header: Map<string, string> | null;
  counters: Map<string, string> | null;
  tables: Map<string, string> | null;
  map: HostMap | null;
  position: number;
}

/** The sums sumsFromCounts takes from the image's caches. */
const CACHE_SUMS = [Sum.L2Hit, Sum.L2Miss, Sum.RcHit, Sum.RcMiss, Sum.L2Writeback, Sum.RcWriteback];

/** `events all` prints at most this many lines of the log. */
const EVENTS_ALL_LIMIT = 100000;

export class SessionViews {
  private memo = new Map<string, unknown>();
  private before: Before | null = null;
  /** The last before-state, kept until the next command (the panes' "changed" marks). */
  private changedFrom: Before | null = null;
  private readonly sums = new EventSums();
  private readonly starts = new RequestStarts();
  private readonly maps = new HostMapCache();
  /** Commands that may have changed the image (image mode has no position to key caches by). */
  private commands = 0;

  /**
   * Set by a face that draws panes (the TUI). Without one (scripts, -c, the readline REPL) nothing captures the
   * panes' state around commands: that capture rebuilt the tables, caches and header views on every line of a
   * qemu-io script (a quarter of its time, issue 12). Panes built on demand work either way, without change marks.
   */
  screen = false;

  constructor(private readonly s: Session) {}

  private cached<T>(key: string, build: () => T): T {
    if (this.memo.has(key)) return this.memo.get(key) as T;
    const v = build();
    this.memo.set(key, v);
    return v;
  }

  /** Captures what the panes show now; call before a command that may move or change the engine. */
  beginCommand(): void {
    if (!this.screen) {
      this.before = null;
      this.memo.clear();
      return;
    }
    const img = this.s.image();
    this.before = {
      l2: img ? this.cacheState("l2") : null,
      rc: img ? this.cacheState("refcount") : null,
      sums: this.eventSums().slice(),
      header: img ? new Map(headerRows(img).map((r) => [r.key, r.text])) : null,
      counters: img ? new Map(this.counterRows().map((r) => [r.key, r.text])) : null,
      tables: img ? new Map(this.buildTables(img, 64).rows.map((r) => [r.key, r.text])) : null,
      map: this.maps.current(img, this.mapKey()),
      position: this.positionKey(),
    };
    this.memo.clear();
  }

  /** After the command: the panes rebuild against the captured state. */
  endCommand(): void {
    this.commands++;
    this.changedFrom = this.before;
    this.before = null;
    this.memo.clear();
  }

  /** For commands that change nothing the panes show (break, delete): drop memoised views only. */
  invalidate(): void {
    this.memo.clear();
  }

  private positionKey(): number {
    const tl = this.s.timeline;
    if (!tl) return 0;
    const p = tl.position();
    return p.request * 1e6 + p.event;
  }

  focus(): Focus {
    return this.cached("focus", () => focusAt(this.s, this.starts));
  }

  status(): StatusView {
    const tl = this.s.timeline;
    const f = this.focus();
    let position = "image mode";
    if (tl) {
      const p = tl.position();
      position = `request ${p.request}/${tl.requestCount}`;
      if (f.inProgress) position += `, in #${f.index + 1} event ${f.events.length}`;
    }
    const k = this.s.lastStop.kind;
    return { image: this.s.imagePath, trace: this.s.tracePath, position, stop: this.s.stopText, atBreak: k === "breakpoint" || k === "watchpoint" };
  }

  /** The timeline pane lists the trace's requests, or in image mode the qemu-io commands run so far. */
  timelineCount(): number {
    return this.s.timeline ? this.s.timeline.requestCount : this.s.ioLines.length;
  }

  timelineTitle(): string {
    return this.s.timeline ? "Requests" : "Commands";
  }

  /** The row in view: the request the panes look at, or the last command. */
  timelineFocus(): number | undefined {
    if (!this.s.timeline) return this.s.ioLines.length ? this.s.ioLines.length - 1 : undefined;
    const f = this.focus();
    return f.index >= 0 ? f.index : undefined;
  }

  timelineRows(start: number, count: number): RequestRow[] {
    const tl = this.s.timeline;
    if (!tl) {
      const lines = this.s.ioLines;
      const w = String(lines.length).length;
      const rows: RequestRow[] = [];
      for (let i = Math.max(0, start); i < Math.min(lines.length, start + count); i++) {
        const last = i === lines.length - 1;
        rows.push({ index: i, key: `cmd${i}`, text: `${last ? ">" : " "}${String(i + 1).padStart(w)} ${lines[i]}`, tone: last ? "current" : "normal", target: { kind: "command", line: lines[i]! } });
      }
      return rows;
    }
    const f = this.focus();
    const out: RequestRow[] = [];
    const w = String(tl.requestCount).length;
    for (let i = Math.max(0, start); i < Math.min(tl.requestCount, start + count); i++) {
      const r = tl.request(i);
      const mark = i === f.index ? ">" : " ";
      const tone: Tone = i === f.index ? "current" : i < f.applied ? "normal" : "dim";
      out.push({ index: i, key: `req${i}`, text: `${mark}${String(i + 1).padStart(w)} ${requestShort(r)}`, tone, target: { kind: "request", index: i } });
    }
    return out;
  }

  requestPane(): PaneView {
    return this.cached("request", () => {
      const tl = this.s.timeline;
      const f = this.focus();
      if (!tl) return this.lastCommandPane(f);
      if (f.index < 0) return { title: "Request", summary: "empty trace", rows: [{ key: "none", text: "The trace has no requests.", tone: "dim" }] };
      const state = f.inProgress ? "in progress" : f.index < f.applied ? "done" : "next";
      const rows: Row[] = [{ key: "what", text: requestWords(tl.request(f.index)) }];
      const rec = this.s.recorder();
      if (rec && f.end > f.first && !f.inProgress) {
        const why = describeRequest(eventColumns(rec), f.first, f.end);
        if (why.length) rows.push({ key: "why", text: `why: ${why.join("; ")}`, tone: "dim" });
      }
      if (!f.events.length) rows.push({ key: "noev", text: state === "next" ? "(not run yet: s steps into it, n runs it)" : "(no engine events)", tone: "dim" });
      const moved = this.changedFrom !== null && this.changedFrom.position !== this.positionKey();
      let focusRow: number | undefined;
      f.events.forEach((e, i) => {
        const latest = f.inProgress && i === f.events.length - 1;
        if (latest) focusRow = rows.length;
        rows.push({ key: `ev${e.seq}`, text: eventLine(e), tone: latest ? "current" : undefined, changed: moved && (latest || !f.inProgress), target: eventTarget(e) });
      });
      capNote(rows, f);
      return { title: `Request ${f.index + 1}/${tl.requestCount} ${state}${eventCount(f)}`, summary: rows[0]!.text, rows, focus: focusRow };
    });
  }

  /** Image mode's request pane: the last qemu-io command and the engine events it caused. */
  private lastCommandPane(f: Focus): PaneView {
    const io = this.s.lastIo;
    if (!io) return { title: "Last command", summary: "none yet", rows: [{ key: "none", text: "No trace: qemu-io commands on the : line act on the image (read, write, discard, flush).", tone: "dim" }] };
    const rows: Row[] = [{ key: "what", text: io.line }];
    const rec = this.s.recorder();
    if (rec && f.end > f.first) {
      const why = describeRequest(eventColumns(rec), f.first, f.end);
      if (why.length) rows.push({ key: "why", text: `why: ${why.join("; ")}`, tone: "dim" });
    }
    if (!f.events.length) rows.push({ key: "noev", text: "(no engine events)", tone: "dim" });
    for (const e of f.events) rows.push({ key: `ev${e.seq}`, text: eventLine(e), changed: true, target: eventTarget(e) });
    capNote(rows, f);
    return { title: `Last command${eventCount(f) || ", 0 events"}`, summary: io.line, rows };
  }

  /** Slot bookkeeping at the position: the timeline's view inside a request (the image is not there yet). */
  private cacheState(which: "l2" | "refcount"): CacheView | null {
    const img = this.s.image();
    if (!img) return null;
    const v = this.s.timeline?.view().caches;
    if (v) return which === "l2" ? v.l2 : v.refcount;
    return (which === "l2" ? img.l2Cache : img.refcountCache).view();
  }

  /** Sums over every event up to the position (the shown events of a request in progress included). */
  eventSums(): Float64Array {
    return this.cached("sums", () => {
      const rec = this.s.recorder();
      const f = this.focus();
      const img = this.s.image();
      let s: Float64Array;
      if (rec && !rec.enabled && img) s = sumsFromCounts(rec.counts, img.l2Cache, img.refcountCache);
      else s = rec ? this.sums.update(rec, Math.min(f.logEnd, rec.length)).slice() : new Float64Array(SUM_COUNT);
      if (f.inProgress) {
        // Without the log the cache counters come from the image, which stands at the event already (the
        // timeline stops inside the request): only the other sums need the request's events so far.
        const fromImage = rec && !rec.enabled && img ? CACHE_SUMS.map((k) => s[k]!) : null;
        for (const e of f.events) addEvent(s, e.kind, e.node, e.cache, e.b);
        if (fromImage) CACHE_SUMS.forEach((k, i) => (s[k] = fromImage[i]!));
      }
      return s;
    });
  }

  private static cacheStats(s: Float64Array, l2: boolean): CacheStats {
    return l2 ? { hits: s[Sum.L2Hit]!, misses: s[Sum.L2Miss]!, writebacks: s[Sum.L2Writeback]! } : { hits: s[Sum.RcHit]!, misses: s[Sum.RcMiss]!, writebacks: s[Sum.RcWriteback]! };
  }

  cachePane(which: "l2" | "refcount"): PaneView {
    return this.cached(`cache-${which}`, () => {
      const img = this.s.image();
      const l2 = which === "l2";
      if (!img) return { title: l2 ? "L2 cache" : "Refcount cache", summary: "no image", rows: [] };
      const c = l2 ? img.l2Cache : img.refcountCache;
      const from = this.changedFrom;
      const before = l2 ? from?.l2 : from?.rc;
      const latest = this.focus().latest;
      const focusSlot = latest && latest.cache === (l2 ? 1 : 0) && latest.slot >= 0 ? latest.slot : -1;
      const stats = SessionViews.cacheStats(this.eventSums(), l2);
      const statsBefore = from ? SessionViews.cacheStats(from.sums, l2) : null;
      return cacheView(l2 ? "L2" : "Refcount", c, img.clusterSize, this.cacheState(which)!, before ?? null, focusSlot, stats, statsBefore);
    });
  }

  private buildTables(img: NonNullable<ReturnType<Session["image"]>>, maxRows: number): PaneView {
    const from = this.changedFrom;
    // Image mode only goes forward: every command is a new request.
    const forward = from !== null && (!this.s.timeline || from.position < this.positionKey());
    return tablesView(img, { guestOffset: guestOffsetInView(this.focus(), this.s.timeline), touched: forward ? touchedEntries(this.focus().events, img) : new Set() }, maxRows);
  }

  tablesPane(maxRows: number): PaneView {
    return this.cached(`tables-${maxRows}`, () => {
      const img = this.s.image();
      if (!img) return { title: "L1/L2", summary: "no image", rows: [] };
      const v = this.buildTables(img, maxRows);
      const prev = this.changedFrom?.tables;
      for (const r of v.rows) if (prev?.has(r.key) && prev.get(r.key) !== r.text) r.changed = true;
      return v;
    });
  }

  private mapKey(): string {
    const tl = this.s.timeline;
    return tl ? `r${tl.position().request}` : `c${this.commands}`;
  }

  /**
   * The host map; rebuilt only when the image can have changed: stepping through a request's events leaves the
   * image as it was after the requests before it. With deferMap (the TUI), a stale map is shown until refreshed.
   */
  hostMap(): HostMap | null {
    return this.cached("hostmap", () => this.maps.get(this.s.image(), this.mapKey()));
  }

  /** Set by the TUI: after a move the map shows the clusters as they were until refreshMapStep() rebuilds it. */
  get deferMap(): boolean {
    return this.maps.defer;
  }

  set deferMap(v: boolean) {
    this.maps.defer = v;
  }

  /** The host map shown is older than the position (see deferMap). */
  mapStale(): boolean {
    return this.maps.stale(this.s.image(), this.mapKey());
  }

  refreshMap(): void {
    while (!this.refreshMapStep(Infinity));
  }

  /** Builds the host map for the position in steps of about `budgetMs`; true once built (see HostMapCache). */
  refreshMapStep(budgetMs: number): boolean {
    const done = this.maps.step(this.s.image(), this.mapKey(), budgetMs);
    if (done) this.memo.clear();
    return done;
  }

  /** Drops a build in progress (the engine is about to move). */
  cancelMapBuild(): void {
    this.maps.cancel();
  }

  mapPane(width: number, height: number): MapView {
    return this.cached(`map-${width}x${height}`, () => {
      const m = this.hostMap();
      if (!m) return { title: "Host clusters", summary: "no image", rows: [], tones: [], legend: "" };
      return mapView(m, this.changedFrom?.map, touchedClusters(this.focus().events, m.clusterSize), width, height, this.mapStale());
    });
  }

  headerPane(): PaneView {
    return this.cached("header", () => {
      const img = this.s.image();
      if (!img) return { title: "Header", summary: "no image", rows: [] };
      return headerView(img, this.changedFrom?.header ?? null);
    });
  }

  private focusCost(): { cost: RequestCost | null; label: string } {
    const f = this.focus();
    const rec = this.s.recorder();
    const img = this.s.image();
    if (!rec || !img || f.end <= f.first || !this.s.timeline) return { cost: null, label: "" };
    const req = this.s.timeline.request(f.index);
    const write = req.op !== "read" && req.op !== "flush";
    return { cost: requestCost(rec, f.first, f.end, write, img.config.cacheMode, this.s.profile), label: `#${f.index + 1}${f.inProgress ? " so far" : ""}` };
  }

  private counterRows(): Row[] {
    const guest = this.s.timeline ? this.focus().applied : this.s.ioLines.length;
    const { cost, label } = this.focusCost();
    return countersRows(this.eventSums(), guest, cost, label);
  }

  countersPane(): PaneView {
    return this.cached("counters", () => countersView(this.counterRows(), this.changedFrom?.counters ?? null));
  }

  counterLines(): string[] {
    return this.counterRows().map((r) => r.text);
  }

  eventLines(all: boolean): string[] {
    const rec = this.s.recorder();
    const f = this.focus();
    if (!all || !rec) {
      // The panes list MAX_EVENT_ROWS; the REPL prints the whole request when the log has it.
      if (rec && (f.total ?? 0) > f.events.length && f.end > f.first && !f.inProgress) {
        const out: string[] = [];
        for (let i = f.first; i < f.end; i++) out.push(eventLine(rec.get(i)));
        return out;
      }
      const lines = f.events.map(eventLine);
      if ((f.total ?? 0) > f.events.length) lines.push(`(first ${f.events.length} of ${f.total} events of this request)`);
      return lines;
    }
    const out: string[] = [];
    const n = Math.min(rec.length, EVENTS_ALL_LIMIT);
    for (let i = 0; i < n; i++) out.push(eventLine(rec.get(i)));
    if (rec.length > n) out.push(`(first ${n} of ${rec.length} events in the log)`);
    return out;
  }

  completeArgument(words: string[]): string[] {
    const cmd = COMMANDS.find((c) => c.name === words[0] || c.aliases.includes(words[0]!));
    const last = words[words.length - 1] ?? "";
    let pool: readonly string[] = [];
    if (words.length === 2) {
      if (cmd?.name === "info") pool = INFO_TOPICS;
      else if (cmd?.name === "break") pool = [...EVENT_NAME_LIST, "offset", "cluster", "l1", "l2", "request", "latency"];
      else if (cmd?.name === "watch") pool = ["cluster", "l2", "refcount"];
      else if (cmd?.name === "help") pool = COMMANDS.map((c) => c.name);
    }
    return pool.filter((p) => p.startsWith(last));
  }
}
