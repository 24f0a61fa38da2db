#!/usr/bin/env node
// qcowdbg's entry point: argv -> one command module each. No engine logic here. Only the module of the command
// being run is loaded (all of them for --help), so `qcowdbg check` does not pay for the TUI's start-up.
import { Command } from "commander";
import { createRequire } from "node:module";
import { fail, setDebug } from "./fail.js";

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
    .showHelpAfterError()
    .hook("preAction", (cmd) => setDebug(Boolean(cmd.optsWithGlobals().debug)));
  const args = process.argv.slice(2);
  const name = args.find((a) => !a.startsWith("-"));
  const versionOnly = !name && args.some((a) => a === "-V" || a === "--version");
  const wanted = versionOnly ? [] : name && Object.hasOwn(COMMANDS, name) ? [name] : Object.keys(COMMANDS);
  for (const m of await Promise.all(wanted.map((n) => COMMANDS[n]!()))) m.register(program);
  await program.parseAsync(process.argv);
}

process.on("uncaughtException", (e) => fail(e));
main().catch((e) => fail(e));
