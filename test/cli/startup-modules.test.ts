// What a small command loads from Node itself (issue 12's start-up): `--version`, `info` and `map` run from the
// bundle without node:child_process, which commander would load for executable subcommands qcowdbg does not have
// (scripts/bundle.mjs makes it lazy), and which brings net and dgram with it. And `info`, which reads no table,
// does not load the engine (the bundle's chunk holding Qcow2Image, a fifth of the code: ~15% of info's time); and
// a replay's worker threads load the bundle's worker entry (scripts/bundle.mjs), not the module build.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const BUNDLE = path.join(ROOT, "dist/bundle/qcowdbg.js");
const IMAGE = path.join(ROOT, "samples/images/cluster-4k.qcow2");

// dist/cli/main.js runs the bundle only when it is at least as new as itself (see cli/main.ts).
const noBundle = !fs.existsSync(BUNDLE) || fs.statSync(BUNDLE).mtimeMs < fs.statSync(CLI).mtimeMs ? "skipped: no fresh dist/bundle (npm run build makes it)" : "";

const dir = tempDir("qcowdbg-startup-");
afterAll(removeTempDirs);
const preload = path.join(dir, "loaded.cjs");
fs.writeFileSync(preload, 'process.on("exit", () => require("fs").writeFileSync(process.env.QCOWDBG_TEST_LOADED, process.moduleLoadList.join("\\n")));\n');

/** Node's own modules loaded by one run of the CLI. */
function loaded(args: string[]): string[] {
  const out = path.join(dir, "loaded.txt");
  const r = spawnSync(process.execPath, ["-r", preload, CLI, ...args], { encoding: "utf8", env: { ...process.env, QCOWDBG_TEST_LOADED: out } });
  expect(r.status, r.stderr).toBe(0);
  return fs.readFileSync(out, "utf8").split("\n");
}

/** Files the CLI's ESM loader loaded in one run (a load hook, registered before the CLI starts, lists them). */
function loadedFiles(args: string[], env: Record<string, string> = {}): string[] {
  const out = path.join(dir, "urls.txt");
  fs.writeFileSync(out, "");
  const hooks = path.join(dir, "hooks.mjs");
  fs.writeFileSync(hooks, 'import * as fs from "node:fs";\nexport async function load(url, context, next) {\n  if (url.startsWith("file:")) fs.appendFileSync(process.env.QCOWDBG_TEST_URLS, url + "\\n");\n  return next(url, context);\n}\n');
  const register = path.join(dir, "register.mjs");
  fs.writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const r = spawnSync(process.execPath, ["--import", pathToFileURL(register).href, CLI, ...args], { encoding: "utf8", env: { ...process.env, ...env, QCOWDBG_TEST_URLS: out } });
  expect(r.status, r.stderr).toBe(0);
  return fs.readFileSync(out, "utf8").split("\n").filter(Boolean).map((u) => fileURLToPath(u));
}

describe("start-up", () => {
  it("qcowdbg info loads no chunk of the engine (Qcow2Image), map does", (ctx) => {
    if (noBundle) ctx.skip(noBundle);
    const engine = (files: string[]) => files.filter((f) => f.startsWith(path.join(ROOT, "dist/bundle")) && /\bvar Qcow2Image = class\b/.test(fs.readFileSync(f, "utf8")));
    const info = loadedFiles(["info", IMAGE]);
    expect(info).toContain(BUNDLE);
    expect(engine(info)).toEqual([]);
    // The probe is real: map, which reads tables, loads it.
    expect(engine(loadedFiles(["map", "--output=json", IMAGE]))).toHaveLength(1);
  });

  it("a replay's worker threads run the bundle's worker entry, not the module build's ~70 files", (ctx) => {
    if (noBundle) ctx.skip(noBundle);
    const files = loadedFiles(["replay", path.join(ROOT, "samples/images/tour.qcow2"), path.join(ROOT, "samples/traces/tour.qemu-io")], { QCOWDBG_WORKERS: "2" });
    expect(files).toContain(path.join(ROOT, "dist/bundle/what-if-worker.js"));
    expect(files.filter((f) => f.startsWith(path.join(ROOT, "dist/engine")))).toEqual([]);
  });

  for (const args of [["--version"], ["info", IMAGE], ["map", "--output=json", IMAGE]]) {
    it(`qcowdbg ${args[0]} loads neither child_process nor dgram`, (ctx) => {
      if (noBundle) ctx.skip(noBundle);
      const mods = loaded(args);
      expect(mods).toContain("NativeModule fs");
      expect(mods.filter((m) => /^NativeModule (child_process|dgram)$/.test(m))).toEqual([]);
    });
  }
});
