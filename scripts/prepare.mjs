// `prepare`: builds dist/ (tsc, the bundle, the native part, the man page) for npm ci, npm pack and installs from git.
// `npm install -g <git url>` runs prepare without installing the dev dependencies first (npm/cli#8440: the
// preparing npm inherits --global and installs into the global prefix), so tsc is missing there: then this
// installs them into the checkout itself, with scripts off, before building.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const run = (cmd, args, env = process.env) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", env });

if (!fs.existsSync(tsc)) {
  process.stderr.write("prepare: dev dependencies missing (npm install -g from git); installing them into the checkout\n");
  const env = { ...process.env, npm_config_global: "false", npm_config_prefix: root };
  run("npm", ["install", "--global=false", "--prefix", root, "--include=dev", "--ignore-scripts", "--no-save", "--no-audit", "--no-fund"], env);
}
run(process.execPath, [tsc, "-p", "tsconfig.json"]);
run(process.execPath, [path.join(root, "scripts", "bundle.mjs")]);
run(process.execPath, [path.join(root, "scripts", "build-native.mjs")]);
run(process.execPath, [path.join(root, "scripts", "make-man.mjs")]);
