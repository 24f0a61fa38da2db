// The debugger's command names, as gdb resolves them: exact names and aliases first, then unique prefixes
// ("cont" -> continue, "re" is ambiguous). qemu-io's I/O commands sit in the same table so one line editor,
// one completer and one `help` serve both languages.

export type CommandGroup = "io" | "run" | "break" | "inspect" | "session";

export interface CommandSpec {
  name: string;
  aliases: readonly string[];
  group: CommandGroup;
  usage: string;
  help: string;
  /** A blank line repeats it (gdb marks break/delete/run-to "dont_repeat"). */
  repeats: boolean;
}

const c = (name: string, aliases: string[], group: CommandGroup, usage: string, help: string, repeats = true): CommandSpec => ({ name, aliases, group, usage, help, repeats });

export const COMMANDS: readonly CommandSpec[] = [
  c("read", [], "io", "read [-P pat] [-v] [-q] OFFSET LENGTH", "qemu-io: read guest bytes (and verify a pattern)"),
  c("readv", [], "io", "readv [-P pat] [-q] OFFSET LEN...", "qemu-io: vectored read"),
  c("write", [], "io", "write [-P pat | -z [-u]] [-q] OFFSET LENGTH", "qemu-io: write a pattern, or zeroes with -z (-u may unmap)"),
  c("writev", [], "io", "writev [-P pat] [-q] OFFSET LEN...", "qemu-io: vectored write"),
  c("discard", [], "io", "discard [-q] OFFSET LENGTH", "qemu-io: discard guest bytes"),
  c("flush", [], "io", "flush", "qemu-io: flush the image (caches written back, file synced)"),
  c("aio_read", [], "io", "aio_read ...", "qemu-io: as read (runs synchronously here)"),
  c("aio_write", [], "io", "aio_write ...", "qemu-io: as write (runs synchronously here)"),
  c("aio_discard", [], "io", "aio_discard ...", "qemu-io: as discard"),
  c("aio_flush", [], "io", "aio_flush", "qemu-io: as flush"),
  c("open", [], "io", "open FILE", "qemu-io: open an image after `close`", false),
  c("close", [], "io", "close", "qemu-io: close the image (flush, clear the dirty bit)", false),
  c("events", [], "inspect", "events [all] [qemu]", "the engine events of the last command (all: every event; qemu: QEMU's trace format)"),
  c("stats", [], "inspect", "stats", "cache hits, misses and write-backs, and event counts"),
  c("step", ["s"], "run", "step [N]", "forward one engine event (N events)"),
  c("next", ["n"], "run", "next [N]", "forward one whole request (N requests)"),
  c("continue", ["c", "cont"], "run", "continue", "forward until a breakpoint, a watchpoint or the end of the trace"),
  c("reverse-step", ["rs"], "run", "reverse-step [N]", "back one engine event"),
  c("reverse-next", ["rn"], "run", "reverse-next [N]", "back one whole request"),
  c("reverse-continue", ["rc"], "run", "reverse-continue", "back until a breakpoint, a watchpoint or the start"),
  c("run-to", [], "run", "run-to N", "jump to just after request N (0 = before the first request)", false),
  c(
    "break",
    ["b", "br"],
    "break",
    "break EVENT | OFFSET[+LEN] | offset A[-B] | cluster N | l1 N | l2 L1[:L2] | request N | crash corrupt|data-lost",
    "stop when an engine event happens (cache_miss, qcow2_cache_get_replace_entry, ...), a request touches guest bytes, a host cluster, an L1 entry or an L2 table, at request N, or before a request during which a crash could corrupt the image or lose flushed data",
    false,
  ),
  c("watch", [], "break", "watch cluster N | l2 N | refcount N", "stop when a host cluster's bytes, the L2 table of L1 entry N, or a cluster's refcount change", false),
  c("delete", ["d"], "break", "delete [N...]", "delete breakpoints N (all of them without N)", false),
  c("info", ["i"], "inspect", "info break|cache|l1|l2 N|refcount N|header|snapshots|position", "show the debugger's or the image's state"),
  c("x", [], "inspect", "x/NFU OFFSET", "examine host-file bytes: N units of U (b, h, w, g = 1, 2, 4, 8 bytes) as F (x hex, d decimal); big-endian, like the format"),
  c("where", ["bt"], "inspect", "where", "where the replay stands: request, event, and what stopped it"),
  c("crash", [], "inspect", "crash", "if the power failed during the current step: the verdict of every crash state its host writes allow"),
  c("help", ["h"], "session", "help [COMMAND]", "list commands, or explain one", false),
  c("quit", ["q"], "session", "quit", "leave", false),
];

export const INFO_TOPICS = ["break", "breakpoints", "watchpoints", "cache", "l1", "l2", "refcount", "header", "snapshots", "position"] as const;

export type Resolved = { spec: CommandSpec; error?: undefined } | { spec?: undefined; error: string };

/** Resolves a command word: exact name or alias, `x/...`, then a unique prefix of a name. */
export function resolveCommand(word: string): Resolved {
  const w = word.toLowerCase();
  if (w.startsWith("x/")) return { spec: find("x")! };
  const exact = COMMANDS.find((s) => s.name === w || s.aliases.includes(w));
  if (exact) return { spec: exact };
  const matches = COMMANDS.filter((s) => s.name.startsWith(w));
  if (matches.length === 1) return { spec: matches[0]! };
  if (matches.length > 1) return { error: `Ambiguous command "${word}": ${matches.map((m) => m.name).join(", ")}.` };
  return { error: `Undefined command: "${word}".  Try "help".` };
}

/** Resolves a word against a list of choices by unique prefix (info topics, break kinds). */
export function resolveWord(word: string, choices: readonly string[], what: string, helpTopic: string): string {
  const w = word.toLowerCase();
  if (choices.includes(w)) return w;
  const m = choices.filter((x) => x.startsWith(w));
  if (m.length === 1) return m[0]!;
  if (m.length > 1) throw new SessionError(`Ambiguous ${what} "${word}": ${m.join(", ")}.`);
  throw new SessionError(`Undefined ${what}: "${word}".  Try "help ${helpTopic}".`);
}

export function find(name: string): CommandSpec | undefined {
  return COMMANDS.find((s) => s.name === name);
}

/** Errors a command reports to the user (one line, no stack). */
export class SessionError extends Error {}

/** The help text: every command, or one in detail. */
export function helpText(topic?: string): string[] {
  if (topic) {
    const r = resolveCommand(topic);
    if (!r.spec) return [r.error];
    const s = r.spec;
    const lines = [`${s.usage}`, `  ${s.help}`];
    if (s.aliases.length) lines.push(`  aliases: ${s.aliases.join(", ")}`);
    if (s.name === "info") lines.push(`  topics: ${INFO_TOPICS.join(", ")}`);
    return lines;
  }
  const groups: [CommandGroup, string][] = [
    ["run", "Running (gdb): lower case forward, reverse-* backward"],
    ["break", "Breakpoints"],
    ["inspect", "Inspecting"],
    ["io", "qemu-io I/O (image mode: act on the image, in a shadow layer unless --write)"],
    ["session", "Session"],
  ];
  const out: string[] = [];
  for (const [g, title] of groups) {
    out.push(`${title}:`);
    for (const s of COMMANDS.filter((x) => x.group === g)) {
      const names = [s.name, ...s.aliases].join(", ");
      out.push(`  ${names.padEnd(26)} ${s.help}`);
    }
  }
  out.push('A blank line repeats the last command; unique prefixes work ("cont", "wat", "reverse-c"). "help CMD" for details.');
  return out;
}
