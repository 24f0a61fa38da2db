// qcowdbg's command line: argv -> one command module each (cli/main.ts starts it). No engine logic here. Only the
// module of the command being run is loaded (all of them for --help), so `qcowdbg check` does not pay for the
// TUI's start-up.
import { Command } from "commander";
import { createRequire } from "node:module";
import { fail, setDebug } from "./fail.js";
import { setForceShare } from "../engine/storage/image-lock.js";

type CommandModule = { register(program: Command): void };

// COMMAND TABLE (one line per command module; keep this marker)
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  info: () => import("./commands/info.js"),
  map: () => import("./commands/map.js"),
  check: () => import("./commands/check.js"),
  dump: () => import("./commands/dump.js"),
  export: () => import("./commands/export.js"),
  repl: () => import("./commands/repl.js"),
  workload: () => import("./commands/workload.js"),
  replay: () => import("./commands/replay.js"),
  tui: () => import("./commands/tui.js"),
  dashboard: () => import("./commands/dashboard.js"),
  completion: () => import("./commands/completion.js"),
  crashtest: () => import("./commands/crashtest.js"),
  calibrate: () => import("./commands/calibrate.js"),
};

const require = createRequire(import.meta.url);
const pkg = require("../../package.json") as { version: string };

async function main(): Promise<void> {
  const program = new Command();
  program
    .name("qcowdbg")
    .description("An interactive debugger for the internals of qcow2 disk images")
    .version(pkg.version, "-V, --version")
    .option("--debug", "print stack traces on errors")
    .option("-U, --force-share", "open images read-only without the shared lock's exclusion of writers (as qemu-img/qemu-io -U)")
    .allowExcessArguments(false)
    .configureOutput({ outputError: (str, write) => write(usageError(str, "")) })
    .showHelpAfterError("Try 'qcowdbg --help' for more information")
    .hook("preAction", (cmd, action) => {
      setDebug(Boolean(cmd.optsWithGlobals().debug));
      setForceShare(Boolean(action.optsWithGlobals().forceShare));
    });
  const args = process.argv.slice(2);
  const name = args.find((a) => !a.startsWith("-"));
  const versionOnly = !name && args.some((a) => a === "-V" || a === "--version");
  // completion describes every command, so it needs them all, as --help does.
  const wanted = versionOnly ? [] : name && name !== "completion" && Object.hasOwn(COMMANDS, name) ? [name] : Object.keys(COMMANDS);
  for (const m of await Promise.all(wanted.map((n) => COMMANDS[n]!()))) m.register(program);
  for (const cmd of program.commands) {
    const face = QEMU_IMG_FACE.has(cmd.name());
    cmd.configureOutput({ outputError: (str, write) => write(usageError(str, face ? cmd.name() : "")) });
    cmd.showHelpAfterError(face ? "Try 'qcowdbg --help' for more information" : `Try 'qcowdbg ${cmd.name()} --help' for more information`);
  }
  await program.parseAsync(process.argv);
}

// Usage errors are one line, in qemu-img's words for the commands that stand in for qemu-img's (scripts and users
// see the same message with the program name changed), followed by where to read more: not the whole usage.
const QEMU_IMG_FACE = new Set(["info", "map", "check"]);
function usageError(commander: string, face: string): string {
  let msg = commander.replace(/^error: /, "").trimEnd();
  msg = msg.replace(/^unknown option/, "unrecognized option").replace(/\n\(Did you mean (.*)\?\)$/, face ? "" : " (did you mean $1?)");
  if (face && /^(missing required argument|too many arguments)/.test(msg)) msg = "Expecting one image file name";
  return `qcowdbg: ${msg}\n`;
}

// A reader that goes away (`qcowdbg map IMG | head -1`) ends the output, not in an error: qemu-img exits 0 there.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  fail(e);
});

process.on("uncaughtException", (e) => fail(e));
main().catch((e) => fail(e));
