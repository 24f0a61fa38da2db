// The shapes panes render: rows of text with a tone, built by the session from the engine state. The TUI only
// maps tones to colours; the REPL prints the same rows for `info`. A row's key is stable across steps so the
// session can say which rows the last command changed.

export type Tone = "normal" | "dim" | "changed" | "current" | "hit" | "miss" | "warn" | "title";

export interface Row {
  key: string;
  text: string;
  tone?: Tone;
  /** Changed by the last command (the pane highlights it). */
  changed?: boolean;
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
