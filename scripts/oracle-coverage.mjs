// Which code of the engine the write-oracle workloads reach. The oracle tests run qcowdbg as child processes,
// which in-process coverage (vitest --coverage) does not see: this runs them with NODE_V8_COVERAGE, maps the
// children's V8 block coverage of dist/ back to the TypeScript sources and prints istanbul's text report.
// Usage: node scripts/oracle-coverage.mjs [--include=engine/image/] [--branches] [vitest test files or -t filters...]
// --branches also lists every branch no workload took, as file:line (kind, which arm); --json=FILE saves the
// merged istanbul coverage map.
// (needs a built dist/ with source maps; uses ast-v8-to-istanbul and istanbul, which @vitest/coverage-v8 brings).
import { spawnSync } from "node:child_process";
import console from "node:console";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as acorn from "acorn";
import convert from "ast-v8-to-istanbul";
import libCoverage from "istanbul-lib-coverage";
import libReport from "istanbul-lib-report";
import reports from "istanbul-reports";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const include = (args.find((a) => a.startsWith("--include="))?.slice(10) ?? "engine/image/").replace(/\/?$/, "/");
const listBranches = args.includes("--branches");
const jsonOut = args.find((a) => a.startsWith("--json="))?.slice(7);
const vitestArgs = args.filter((a) => !a.startsWith("--include=") && !a.startsWith("--json=") && a !== "--branches");
const dist = pathToFileURL(path.join(root, "dist", include)).href;

const raw = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-cov-"));
try {
  const tests = vitestArgs.length ? vitestArgs : ["test/oracle/write-oracle.test.ts"];
  const r = spawnSync("npx", ["vitest", "run", ...tests], { cwd: root, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, NODE_V8_COVERAGE: raw } });
  if (r.status !== 0) console.error(`(vitest exited ${r.status}; reporting the coverage collected anyway)`);
  const map = libCoverage.createCoverageMap({});
  const sources = new Map();
  for (const f of fs.readdirSync(raw)) {
    const { result } = JSON.parse(fs.readFileSync(path.join(raw, f), "utf8"));
    for (const script of result) {
      if (!script.url.startsWith(dist)) continue;
      const file = fileURLToPath(script.url);
      let src = sources.get(file);
      if (!src) {
        const code = fs.readFileSync(file, "utf8");
        const sourceMap = JSON.parse(fs.readFileSync(file + ".map", "utf8"));
        src = { code, sourceMap, ast: acorn.parse(code, { ecmaVersion: "latest", sourceType: "module", locations: true }) };
        sources.set(file, src);
      }
      map.merge(await convert({ code: src.code, sourceMap: src.sourceMap, ast: src.ast, coverage: { url: script.url, functions: script.functions } }));
    }
  }
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(map.toJSON()));
  const context = libReport.createContext({ coverageMap: map, dir: raw });
  reports.create("text", { skipFull: false, maxCols: 200 }).execute(context);
  if (listBranches) {
    for (const file of map.files().sort()) {
      const fc = map.fileCoverageFor(file).toJSON();
      for (const [id, counts] of Object.entries(fc.b)) {
        const b = fc.branchMap[id];
        counts.forEach((n, arm) => {
          if (n === 0) console.log(`${path.relative(root, file)}:${(b.locations[arm] ?? b.loc).start.line} ${b.type} arm ${arm}`);
        });
      }
    }
  }
} finally {
  fs.rmSync(raw, { recursive: true, force: true });
}
