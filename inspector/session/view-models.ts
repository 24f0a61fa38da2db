// The shapes panes render: rows of text with a tone, built by the session from the engine state. The TUI only
// maps tones to colours; the REPL prints the same rows for `info`. A row's key is stable across steps so the
// session can say which rows the last command changed.

export type Tone = "normal" | "dim" | "changed" | "current" | "hit" | "miss" | "warn" | "title";

/**
 * What a row stands for, set where the row is built: the TUI's actions (b, Enter) read it, never the row's text.
 * Rows without one (titles, notes, the map's cells) have no action.
 */
export type RowTarget =
  /** A request of the trace (0-based). */
  | { kind: "request"; index: number }
  /** A qemu-io command run in image mode (its line, to run again). */
  | { kind: "command"; line: string }
  /** An engine event of the request in view: its schema name and place in the log. */
  | { kind: "event"; name: string; seq: number }
  /** A host cluster (a cache slot's table). */
  | { kind: "host-cluster"; cluster: number }
  /** An L1 entry. */
  | { kind: "l1"; index: number }
  /** An L2 entry: L1 index and index in the table. */
  | { kind: "l2"; l1Index: number; l2Index: number };

export interface Row {
  key: string;
  text: string;
  tone?: Tone;
  /** Changed by the last command (the pane highlights it). */
  changed?: boolean;
  target?: RowTarget;
}

export interface PaneView {
  title: string;
  /** One line that stands for the pane when it has no room for rows. */
  summary: string;
  rows: Row[];
  /** Row index to keep visible (the current slot, entry, event). */
  focus?: number;
}

export interface StatusView {
  image: string;
  trace?: string;
  /** "request 12/63, event 3/20" or "image mode". */
  position: string;
  /** Why the last run stopped, in words. */
  stop: string;
  /** The stop was a breakpoint or watchpoint. */
  atBreak: boolean;
}

/** A row of the timeline pane (one request). */
export interface RequestRow extends Row {
  index: number;
}
