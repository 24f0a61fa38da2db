#!/usr/bin/env node
// qcowdbg's entry point: starts cli/program.ts, from the one-file bundle `npm run build` makes (dist/bundle) when
// that is at least as new as this build, since loading ~50 modules one by one is most of a small command's time.
import * as fs from "node:fs";
import module from "node:module";

// Node 22.1+ keeps compiled code between runs; Node 20 has no such API, and then this does nothing.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

/** The bundle's entry, unless it is missing, older than this file (tsc ran since: it would be stale) or turned off. */
function bundle(): URL | null {
  if (process.env["QCOWDBG_NO_BUNDLE"]) return null;
  const entry = new URL("../bundle/qcowdbg.js", import.meta.url);
  try {
    return fs.statSync(entry).mtimeMs >= fs.statSync(new URL(import.meta.url)).mtimeMs ? entry : null;
  } catch {
    return null;
  }
}

const fast = bundle();
await (fast ? import(fast.href) : import("./program.js"));
