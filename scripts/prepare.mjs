// `prepare`: builds dist/ (tsc, the bundle, the native part, the man page) for npm ci, npm pack and installs from git.
// `npm install -g <git url>` cannot work (npm 10.9 and 11.19, npm/cli#8440): the npm that prepares the clone
// inherits --global and the prefix, so it installs no dev dependencies, links the global package to the temporary
// clone (which npm deletes afterwards) and races the outer install on its node_modules. A minimal package with any
// prepare script fails the same way. This says so at once, with the two-step install that works (npm pack of the
// git url, then npm install -g of the tarball), instead of failing minutes later with ENOTEMPTY or a dangling link.
// Elsewhere, dev dependencies missing are installed into the checkout itself, with scripts off, before building.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const run = (cmd, args, env = process.env) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", env });

if (!fs.existsSync(tsc) && process.env.npm_config_global === "true") {
  process.stderr.write(
    "qcowdbg: npm install -g <git url> cannot build this package (npm/cli#8440: npm prepares git dependencies as a global install);\n" +
      'install in two steps instead: npm install -g "$(npm pack <git url> | tail -n1)"\n',
  );
  process.exit(1);
}
if (!fs.existsSync(tsc)) {
  process.stderr.write("prepare: dev dependencies missing (npm install -g from git); installing them into the checkout\n");
  const env = { ...process.env, npm_config_global: "false", npm_config_prefix: root };
  run("npm", ["install", "--global=false", "--prefix", root, "--include=dev", "--ignore-scripts", "--no-save", "--no-audit", "--no-fund"], env);
}
run(process.execPath, [tsc, "-p", "tsconfig.json"]);
run(process.execPath, [path.join(root, "scripts", "bundle.mjs")]);
run(process.execPath, [path.join(root, "scripts", "build-native.mjs")]);
run(process.execPath, [path.join(root, "scripts", "make-man.mjs")]);
