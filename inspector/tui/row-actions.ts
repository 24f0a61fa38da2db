// What the TUI's row keys do with the selected row: `b` breaks on the thing the row stands for, Enter runs to a
// request or runs a command again. They read the row's structured target (view-models.ts), set where the row
// was built, so a change to how a row reads cannot change what a key does.
import type { RowTarget } from "../session/view-models.js";

/** The `break` command for a row's target, or why there is none. */
export function breakCommandFor(t: RowTarget): string | { error: string } {
  switch (t.kind) {
    case "request":
      return `break request ${t.index + 1}`;
    case "command":
      // Commands are image mode's timeline rows: there is no trace to break in.
      return { error: "breakpoints need a trace (qcowdbg tui IMAGE TRACE)" };
    case "event":
      return `break ${t.name}`;
    case "host-cluster":
      return `break cluster ${t.cluster}`;
    case "l1":
      return `break l1 ${t.index}`;
    case "l2":
      return `break l2 ${t.l1Index}:${t.l2Index}`;
    default:
      return unhandled(t);
  }
}

/** The command Enter runs on a row, or null when Enter does nothing there. */
export function enterCommandFor(t: RowTarget): string | null {
  switch (t.kind) {
    case "request":
      return `run-to ${t.index + 1}`;
    case "command":
      return t.line;
    case "event":
    case "host-cluster":
    case "l1":
    case "l2":
      return null;
    default:
      return unhandled(t);
  }
}

/** A new target kind fails to compile here until every action above says what it does with it. */
function unhandled(t: never): never {
  throw new Error(`unhandled row target ${JSON.stringify(t)}`);
}
