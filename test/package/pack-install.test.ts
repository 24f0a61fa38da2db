// The package as a user gets it: `npm pack` in a copy of the sources (prepack cleans dist/, prepare builds it),
// the tarball's file list, `npm install -g` into a temporary prefix, the installed `qcowdbg` command, and the
// README's "Use it from code" example compiled with tsc and run against the installed library.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const NODE_MODULES = fs.realpathSync(path.join(ROOT, "node_modules"));
const IMAGES = path.join(ROOT, "samples/images");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { name: string; version: string };
const SOURCES = ["package.json", "package-lock.json", "tsconfig.json", "cli", "engine", "inspector", "native", "scripts", "bench", "README.md", "LICENSE"];
// npm failing for want of the registry (not our doing); CI has the registry, so there it is a failure.
const OFFLINE = /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|network/;
// The addon sources scripts/build-native.mjs compiles (native/NAME.cc -> dist/native/NAME.node).
const ADDON_SOURCES = spawnSync(process.execPath, [path.join(ROOT, "scripts/build-native.mjs"), "--list"], { encoding: "utf8" }).stdout.trim().split("\n");
const HAVE_CXX = spawnSync("g++", ["--version"]).status === 0;

const tmp = tempDir("qcowdbg-pack-");
afterAll(removeTempDirs);

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
}
const npm = (args: string[], cwd: string) => run("npm", ["--no-audit", "--no-fund", "--no-update-notifier", ...args], cwd);

let tarball = "";
let prefix = "";
let installed = "";
let installLog = "";
let offlineReason = "";

beforeAll(() => {
  const src = path.join(tmp, "src");
  fs.mkdirSync(src);
  for (const f of SOURCES) fs.cpSync(path.join(ROOT, f), path.join(src, f), { recursive: true });
  fs.symlinkSync(NODE_MODULES, path.join(src, "node_modules"));
  const pack = npm(["pack", "--json", "--pack-destination", tmp], src);
  if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
  tarball = path.join(tmp, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);

  prefix = path.join(tmp, "prefix");
  // --foreground-scripts: the install script's output (build-native's notices) comes back in stderr.
  const inst = npm(["install", "-g", "--prefix", prefix, "--prefer-offline", "--foreground-scripts", tarball], tmp);
  installLog = inst.stderr;
  if (inst.status !== 0) {
    if (OFFLINE.test(inst.stderr) && process.env.CI !== "true") offlineReason = inst.stderr.split("\n").find((l) => OFFLINE.test(l)) ?? "no registry";
    else throw new Error(`npm install -g failed:\n${inst.stderr}`);
  }
  installed = path.join(prefix, "lib/node_modules", PKG.name);
}, 300_000);

/** Every addon build-native compiles is in the installed package's dist/native, and its install said no "skipping". */
function expectAllAddons(dir: string, log: string): void {
  expect(log).not.toMatch(/build-native: skipping/);
  for (const src of ADDON_SOURCES) expect(fs.existsSync(path.join(dir, "dist/native", `${path.basename(src, ".cc")}.node`)), `${src} built`).toBe(true);
}

describe("npm pack", () => {
  it("ships dist/ (JavaScript, the library's .d.ts, source maps, the man page), README, LICENSE, every native source build-native compiles and its build script, nothing else", () => {
    const list = run("tar", ["tzf", tarball], tmp).stdout.trim().split("\n").map((f) => f.replace(/^package\//, ""));
    // Declarations only for the library (engine/); the CLI's and inspector's modules are the bundle's fallback.
    const allowed = /^(dist\/(bundle|cli|inspector)\/.*\.(js|js\.map)|dist\/engine\/.*\.(js|d\.ts|js\.map)|dist\/man\/qcowdbg\.1|README\.md|LICENSE|package\.json|native\/[a-z0-9-]+\.cc|scripts\/build-native\.mjs)$/;
    expect(list.filter((f) => !allowed.test(f))).toEqual([]);
    // `files` ships exactly the sources build-native compiles, and build-native compiles every source there is.
    expect(ADDON_SOURCES.length).toBeGreaterThanOrEqual(3);
    expect(list.filter((f) => f.startsWith("native/")).sort()).toEqual([...ADDON_SOURCES].sort());
    expect(fs.readdirSync(path.join(ROOT, "native")).filter((f) => f.endsWith(".cc")).map((f) => `native/${f}`).sort()).toEqual([...ADDON_SOURCES].sort());
    for (const f of ["dist/cli/main.js", "dist/bundle/qcowdbg.js", "dist/engine/index.js", "dist/engine/index.d.ts", "dist/engine/index.js.map", "dist/engine/workload/index.d.ts", "dist/man/qcowdbg.1", "LICENSE", "README.md"]) expect(list).toContain(f);
    // Source maps carry their sources: the .ts files are not shipped.
    const map = JSON.parse(run("tar", ["xzOf", tarball, "package/dist/engine/index.js.map"], tmp).stdout) as { sourcesContent?: string[] };
    expect(map.sourcesContent?.[0]).toContain("export function replayFile");
  });
});

describe("npm install -g of the tarball", () => {
  const bin = () => path.join(prefix, "bin", "qcowdbg");

  it("gives a working qcowdbg command: --version and a map equal to qemu-img's", (ctx) => {
    if (offlineReason) ctx.skip(`skipped: npm cannot reach the registry for the dependencies (${offlineReason})`);
    expect(run(bin(), ["--version"], tmp).stdout.trim()).toBe(PKG.version);
    // The install script compiled every addon on this machine (a C++ compiler is here), skipping none.
    if (HAVE_CXX) expectAllAddons(installed, installLog);
    // npm installs the man page beside the command.
    expect(fs.existsSync(path.join(prefix, "share/man/man1/qcowdbg.1"))).toBe(true);
    const map = run(bin(), ["map", "--output=json", "tour.qcow2"], IMAGES);
    expect(map.stderr).toBe("");
    expect(map.status).toBe(0);
    expect(JSON.parse(map.stdout)).toEqual(JSON.parse(fs.readFileSync(path.join(ROOT, "samples/goldens/tour/map.json"), "utf8")));
  });

  it("the README's library example compiles with tsc against the installed .d.ts and runs", (ctx) => {
    if (offlineReason) ctx.skip(`skipped: npm cannot reach the registry for the dependencies (${offlineReason})`);
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Use it from code"));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    const app = path.join(tmp, "app");
    fs.mkdirSync(path.join(app, "node_modules"), { recursive: true });
    fs.symlinkSync(installed, path.join(app, "node_modules", PKG.name));
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ type: "module", private: true }));
    fs.writeFileSync(path.join(app, "example.ts"), code);
    const tsconfig = { compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, skipLibCheck: true, types: ["node"], typeRoots: [path.join(NODE_MODULES, "@types")] }, files: ["example.ts"] };
    fs.writeFileSync(path.join(app, "tsconfig.json"), JSON.stringify(tsconfig));
    const tsc = run(process.execPath, [path.join(NODE_MODULES, "typescript/bin/tsc"), "-p", app], app);
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);

    const trace = path.join(ROOT, "samples/traces/tour.qemu-io");
    const out = run(process.execPath, [path.join(app, "example.js"), "tour.qcow2", trace], IMAGES);
    expect(out.stderr).toBe("");
    expect(out.status).toBe(0);
    const lines = out.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("tour.qcow2: qcow2, 67108864 bytes");
    expect(lines[1]).toMatch(/^\d+ data extents$/);
    expect(lines[2]).toBe("check: 0 leaked clusters");
    expect(lines[3]).toMatch(/tour\.qemu-io: qemu-io, \d+ writes$/);
    // The library's replay is the CLI's: same requests, same modelled time, same cache counters.
    const cli = run(bin(), ["replay", "--output=json", "--no-recommend", "--config", "l2-cache-size=64k,cache=writethrough", "tour.qcow2", trace], IMAGES);
    expect(cli.status).toBe(0);
    const s = (JSON.parse(cli.stdout) as { summary: { requests: number; totalUs: number; caches: { l2: { hits: number; misses: number } } } }).summary;
    expect(lines[4]).toMatch(new RegExp(`^${s.requests} requests, modelled ${s.totalUs.toFixed(0)} µs, [1-9]\\d* cluster allocations$`));
    expect(lines[5]).toBe(`L2 cache hits ${s.caches.l2.hits}, misses ${s.caches.l2.misses}`);
  });
});

// From git, as a user installs it: a bare repository holding the commit under test (HEAD), `npm pack <git url>`
// (npm clones it, installs the dev dependencies and runs prepare) and `npm install -g` of that tarball. The
// one-step `npm install -g <git url>` cannot work with npm 9 to 11 (npm/cli#8440; see scripts/prepare.mjs): it must
// either work (a fixed npm) or stop at once with prepare's one-line advice, leaving nothing in the prefix. npm 12
// prepares git dependencies with --global=false, and there the one step must work, every addon built.
describe("from a git url", () => {
  const noGit = spawnSync("git", ["--version"]).status !== 0 ? "git is not installed" : "";
  let repo = "";
  let gitPrefix = "";
  let gitOffline = "";
  let gitLog = "";
  const url = () => `git+file://${repo}`;

  beforeAll(() => {
    if (noGit) return;
    repo = path.join(tmp, "qcowdbg.git");
    expect(run("git", ["init", "-q", "--bare", repo], tmp).status).toBe(0);
    const push = run("git", ["push", "-q", repo, "HEAD:refs/heads/main"], ROOT);
    expect(push.status, push.stderr).toBe(0);
    expect(run("git", ["--git-dir", repo, "symbolic-ref", "HEAD", "refs/heads/main"], tmp).status).toBe(0);
    const dest = path.join(tmp, "gitpack");
    fs.mkdirSync(dest);
    const pack = npm(["pack", "--prefer-offline", url()], dest);
    if (pack.status !== 0) {
      if (OFFLINE.test(pack.stderr) && process.env.CI !== "true") {
        gitOffline = pack.stderr.split("\n").find((l) => OFFLINE.test(l)) ?? "no registry";
        return;
      }
      throw new Error(`npm pack <git url> failed:\n${pack.stderr}`);
    }
    gitPrefix = path.join(tmp, "git-prefix");
    const file = path.join(dest, pack.stdout.trim().split("\n").pop()!);
    const inst = npm(["install", "-g", "--prefix", gitPrefix, "--prefer-offline", "--foreground-scripts", file], tmp);
    gitLog = inst.stderr;
    if (inst.status !== 0) throw new Error(`npm install -g of the packed git url failed:\n${inst.stderr}`);
  }, 600_000);

  it('npm install -g "$(npm pack <git url> | tail -n1)" gives a working qcowdbg: --version and a map', (ctx) => {
    if (noGit || gitOffline) ctx.skip(`skipped: ${noGit || `npm cannot reach the registry (${gitOffline})`}`);
    const bin = path.join(gitPrefix, "bin", "qcowdbg");
    expect(run(bin, ["--version"], tmp).stdout.trim()).toBe(PKG.version);
    if (HAVE_CXX) expectAllAddons(path.join(gitPrefix, "lib/node_modules", PKG.name), gitLog);
    const map = run(bin, ["map", "--output=json", "tour.qcow2"], IMAGES);
    expect(map.stderr).toBe("");
    expect(map.status).toBe(0);
    expect(JSON.parse(map.stdout)).toEqual(JSON.parse(fs.readFileSync(path.join(ROOT, "samples/goldens/tour/map.json"), "utf8")));
  });

  it("npm install -g <git url> works, or stops at once with the two-step advice and leaves the prefix empty", (ctx) => {
    if (noGit || gitOffline) ctx.skip(`skipped: ${noGit || `npm cannot reach the registry (${gitOffline})`}`);
    const direct = path.join(tmp, "direct-prefix");
    const r = npm(["install", "-g", "--prefix", direct, "--prefer-offline", url()], tmp);
    const bin = path.join(direct, "bin", "qcowdbg");
    if (r.status === 0) {
      expect(run(bin, ["--version"], tmp).stdout.trim()).toBe(PKG.version);
      return;
    }
    expect(r.stderr).toContain('install in two steps instead: npm install -g "$(npm pack <git url> | tail -n1)"');
    expect(fs.existsSync(path.join(direct, "lib", "node_modules", PKG.name))).toBe(false);
    expect(fs.existsSync(bin)).toBe(false);
  }, 300_000);

  // The system npm when it is 12 or later, else npm 12 from the registry through npx. npm 12 asks for Node >= 22.22
  // and warns on Node 20 (EBADENGINE), but installs the same way. It refuses git dependencies without --allow-git
  // and runs no install script (no native addons) unless --allow-scripts names the package by its git url.
  it("with npm >= 12, npm install -g --allow-git=all --allow-scripts=<git url> <git url> gives a working qcowdbg in one step", (ctx) => {
    if (noGit || gitOffline) ctx.skip(`skipped: ${noGit || `npm cannot reach the registry (${gitOffline})`}`);
    const systemMajor = Number(run("npm", ["--version"], tmp).stdout.split(".")[0]);
    const npm12 = systemMajor >= 12 ? ["npm"] : ["npx", "-y", "npm@12"];
    const direct = path.join(tmp, "npm12-prefix");
    const args = ["install", "-g", "--prefix", direct, "--prefer-offline", "--foreground-scripts", "--no-audit", "--no-fund", "--allow-git=all", `--allow-scripts=${url()}`, url()];
    const r = run(npm12[0]!, [...npm12.slice(1), ...args], tmp);
    if (r.status !== 0 && OFFLINE.test(r.stderr) && process.env.CI !== "true") ctx.skip(`skipped: npm 12 is not reachable (${r.stderr.split("\n").find((l) => OFFLINE.test(l))})`);
    expect(r.status, r.stderr).toBe(0);
    const bin = path.join(direct, "bin", "qcowdbg");
    expect(run(bin, ["--version"], tmp).stdout.trim()).toBe(PKG.version);
    if (HAVE_CXX) expectAllAddons(path.join(direct, "lib/node_modules", PKG.name), r.stdout + r.stderr);
    const map = run(bin, ["map", "--output=json", "tour.qcow2"], IMAGES);
    expect(map.status).toBe(0);
    expect(JSON.parse(map.stdout)).toEqual(JSON.parse(fs.readFileSync(path.join(ROOT, "samples/goldens/tour/map.json"), "utf8")));
  }, 900_000);
});
