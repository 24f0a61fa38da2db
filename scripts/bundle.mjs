// Bundles the built CLI (dist/cli/program.js) into dist/bundle/: one file for the program and one chunk per
// lazily loaded command, so a command loads a few files instead of ~50 modules (Node 20 has no compile cache;
// resolving and compiling module by module was a third of a small `info`'s time). dist/cli/main.js runs the
// bundle when it is newer than itself, so a later plain `tsc` falls back to the modules instead of a stale bundle.
// Run by `npm run build` and `prepare` after tsc; without rolldown (a dev dependency) it says so and skips.
// The worker threads' script (engine/replay/what-if-worker.js) is a second entry, sharing the program's chunks: a
// replay's worker then loads a few files too (from its ~70 modules, the worker spent ~0.2 s of CPU less per replay
// with recommendations, measured with --debug), and no chunk is the program's entry (whose code runs the CLI).
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "dist", "bundle");
let rolldown;
try {
  ({ rolldown } = await import("rolldown"));
} catch {
  process.stderr.write("bundle: rolldown is not installed; the CLI runs from its modules (slower start-up)\n");
  process.exit(0);
}
fs.rmSync(out, { recursive: true, force: true });

// commander requires node:child_process when it loads, for executable subcommands (qcowdbg has none). That loads
// child_process, net and dgram on every start-up: 17 of Node's modules, about 3 ms of CPU and, measured on this
// loaded 2-core machine, some 40 ms of wall time for `--version` (interleaved medians). Here commander gets it on
// first use. If a commander release changes that line, the bundle is built as it is and this says so.
const EAGER_CHILD_PROCESS = "const childProcess = require('node:child_process');";
const lazyChildProcess = {
  name: "qcowdbg-lazy-child-process",
  transform(code, id) {
    if (!/[\\/]commander[\\/]lib[\\/]command\.js$/.test(id)) return null;
    if (!code.includes(EAGER_CHILD_PROCESS)) {
      process.stderr.write(`bundle: ${id} no longer starts with "${EAGER_CHILD_PROCESS}"; child_process loads eagerly\n`);
      return null;
    }
    // One line for one line, nothing moves: the source map stays as it is (map: null).
    return { code: code.replace(EAGER_CHILD_PROCESS, "const childProcess = { spawn: (...args) => require('node:child_process').spawn(...args) };"), map: null };
  },
};

const build = await rolldown({
  input: { qcowdbg: path.join(root, "dist", "cli", "program.js"), "what-if-worker": path.join(root, "dist", "engine", "replay", "what-if-worker.js") },
  platform: "node",
  // The terminal UIs' libraries stay as they are (blessed has octal literals a bundler refuses); they load with
  // their commands only.
  external: (id) => id.startsWith("node:") || /^(blessed|blessed-contrib|ink|react|cli-progress)(\/|$)/.test(id),
  plugins: [lazyChildProcess],
  logLevel: "warn",
});
// dist/bundle sits beside dist/cli, so paths relative to import.meta.url resolve from it too: package.json, and
// the native addons through the candidate path the sources use (dist/native).
await build.write({ dir: out, format: "esm", sourcemap: true, chunkFileNames: "[name]-[hash].js" });
await build.close();
