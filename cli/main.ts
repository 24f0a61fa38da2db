#!/usr/bin/env node
// qcowdbg's entry point: argv -> one command module each. No engine logic here.
import { Command } from "commander";
import { createRequire } from "node:module";
import { fail, setDebug } from "./fail.js";
// COMMAND IMPORTS (one line per command module; keep this marker)
import { register as registerReplay } from "./commands/replay.js";
import { register as registerWorkload } from "./commands/workload.js";
import { register as registerRepl } from "./commands/repl.js";
import { register as registerCheck } from "./commands/check.js";
import { register as registerDump } from "./commands/dump.js";
import { register as registerInfo } from "./commands/info.js";
import { register as registerMap } from "./commands/map.js";
import { register as registerExport } from "./commands/export.js";

const require = createRequire(import.meta.url);
const pkg = require("../../package.json") as { version: string };

const program = new Command();
program
  .name("qcowdbg")
  .description("An interactive debugger for the internals of qcow2 disk images")
  .version(pkg.version, "-V, --version")
  .option("--debug", "print stack traces on errors")
  .showHelpAfterError()
  .hook("preAction", (cmd) => setDebug(Boolean(cmd.optsWithGlobals().debug)));

// COMMAND REGISTRATIONS (one line per command module; keep this marker)
registerReplay(program);
registerWorkload(program);
registerRepl(program);
registerCheck(program);
registerDump(program);
registerInfo(program);
registerMap(program);
registerExport(program);

process.on("uncaughtException", (e) => fail(e));
program.parseAsync(process.argv).catch((e) => fail(e));
