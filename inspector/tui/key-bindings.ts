// The TUI's keys: what ink reports of a key, the gdb SingleKey letters that move the replay, and the key help.
// The controller (tui-controller.ts) decides what a key does in each mode; this is the table it reads.

export interface KeyInfo {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  ctrl?: boolean;
  shift?: boolean;
  tab?: boolean;
  backspace?: boolean;
  delete?: boolean;
}

/** Keys that move the replay, and the command each stands for. */
export const MOVES: Record<string, string> = { s: "step", S: "reverse-step", n: "next", N: "reverse-next" };
export const RUNS: Record<string, string> = { c: "continue", C: "reverse-continue" };

export const KEY_HELP = [
  "s / S      step one engine event forward / back",
  "n / N      next / previous request",
  "c / C      continue forward / back to a breakpoint (Esc stops)",
  "b          break on the selection (request, event, cache slot, L1/L2 entry)",
  "Enter      on a request: run to it (image mode: run that command again)",
  ":          command line (every REPL command; Up/Down history, Tab completes)",
  "Tab        next pane (Shift-Tab previous); arrows, PgUp/PgDn, Home/End scroll",
  "?          this help        q  quit (Ctrl-C stops a run, or quits)",
];
