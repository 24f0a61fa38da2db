// `prepare`: builds dist/ (tsc, the bundle, the native part, the man page) for npm ci, npm pack and installs from git.
// `npm install -g <git url>` cannot work with npm 9 to 11 (npm/cli#8440; tried up to 11.21.3): the npm that prepares
// the clone inherits --global and the prefix, so it installs no dev dependencies, links the global package to the
// temporary clone (which npm deletes afterwards) and races the outer install on its node_modules. A minimal package
// with any prepare script fails the same way. This says so at once, with what works (npm pack of the git url, then
// npm install -g of the tarball; or npm 12, whose pacote prepares with --global=false), instead of failing minutes
// later with ENOTEMPTY or a dangling link. docs/install-from-git.md has the details.
// Elsewhere, dev dependencies missing are installed into the checkout itself, with scripts off, before building.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { build, TSC as tsc } from "./build.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const run = (cmd, args, env = process.env) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", env });
// npm prepares a git dependency twice in the same clone: once inside the `npm install` it runs there (which sets
// _PACOTE_NO_PREPARE_), then again when it packs the clone (npm_package_resolved is the clone). The first builds and
// leaves this mark, so the second, with nothing changed in between, does not build it all again.
const mark = path.join(root, "dist", ".prepared-in-git-clone");
const realRoot = fs.realpathSync(root);
const packingClone = () => process.env.npm_package_resolved !== undefined && fs.existsSync(process.env.npm_package_resolved) && fs.realpathSync(process.env.npm_package_resolved) === realRoot;
if (!process.env._PACOTE_NO_PREPARE_ && packingClone() && fs.existsSync(mark)) {
  fs.rmSync(mark);
  process.exit(0);
}

if (!fs.existsSync(tsc) && process.env.npm_config_global === "true") {
  process.stderr.write(
    "qcowdbg: npm install -g <git url> cannot build this package with npm < 12 (npm/cli#8440: npm prepares git dependencies as a global install);\n" +
      'install in two steps instead: npm install -g "$(npm pack <git url> | tail -n1)"\n' +
      "(or with npm >= 12: npm install -g --allow-git=all --allow-scripts=<git url> <git url>)\n",
  );
  process.exit(1);
}
if (!fs.existsSync(tsc)) {
  process.stderr.write("prepare: dev dependencies missing (npm install -g from git); installing them into the checkout\n");
  const env = { ...process.env, npm_config_global: "false", npm_config_prefix: root };
  run("npm", ["install", "--global=false", "--prefix", root, "--include=dev", "--ignore-scripts", "--no-save", "--no-audit", "--no-fund"], env);
}
build();
if (process.env._PACOTE_NO_PREPARE_) fs.writeFileSync(mark, `${process.env._PACOTE_NO_PREPARE_}\n`);
