// The engine's modules form a DAG (issue 10): no runtime import cycle anywhere under engine/. Type-only imports
// are erased by tsc and cannot make a cycle at load time, so they are left out; everything else (a value import,
// a re-export, a bare side-effect import) counts. A cycle found is printed as its chain of files.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const ENGINE = path.join(ROOT, "engine");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.tsx?$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** The relative modules a file loads at run time: `import x`, `import {a, type B}`, `export ... from`, `import "m"`. */
export function runtimeImports(source: string): string[] {
  const out: string[] = [];
  const stmt = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm;
  for (const m of source.matchAll(stmt)) {
    const bare = m[5];
    if (bare !== undefined) {
      out.push(bare);
      continue;
    }
    if (m[2]) continue; // import type / export type
    const clause = m[3] ?? "";
    const spec = m[4] ?? "";
    // `import { type A, type B } from` is erased as a whole (no verbatimModuleSyntax); a default or namespace import is not.
    const braces = /^\{([\s\S]*)\}$/.exec(clause.trim());
    if (braces) {
      const names = (braces[1] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
      if (names.length > 0 && names.every((n) => n.startsWith("type "))) continue;
    }
    out.push(spec);
  }
  return out.filter((s) => s.startsWith("."));
}

function resolve(from: string, spec: string): string | null {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base.replace(/\.js$/, ".ts"), base.replace(/\.js$/, ".tsx"), base, `${base}.ts`, path.join(base, "index.ts")]) if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  return null;
}

/** Every elementary cycle's first sighting by depth-first search, as a list of files (the first repeated at the end). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      const s = state.get(d);
      if (s === 1) cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

function engineGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of sourceFiles(ENGINE)) {
    const deps = runtimeImports(fs.readFileSync(f, "utf8"))
      .map((s) => resolve(f, s))
      .filter((d): d is string => d !== null && d.startsWith(ENGINE + path.sep));
    graph.set(f, [...new Set(deps)]);
  }
  return graph;
}

describe("engine import graph", () => {
  it("finds runtime imports and ignores type-only ones", () => {
    const src = [
      'import { a, type B } from "./a.js";',
      'import type { C } from "./c.js";',
      'import { type D, type E } from "./d.js";',
      'import * as f from "./f.js";',
      'export { g } from "./g.js";',
      'export type { H } from "./h.js";',
      'import "./i.js";',
      "import {\n  j,\n  type K,\n} from './j.js';",
      'import * as path from "node:path";',
    ].join("\n");
    expect(runtimeImports(src)).toEqual(["./a.js", "./f.js", "./g.js", "./i.js", "./j.js"]);
  });

  it("finds a cycle in a small graph", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]],
    ]);
    expect(findCycles(g)).toEqual([["a", "b", "c", "a"]]);
    expect(findCycles(new Map([["a", ["b"]], ["b", []]]))).toEqual([]);
  });

  it("has no runtime import cycle under engine/", () => {
    const graph = engineGraph();
    expect(graph.size).toBeGreaterThan(100);
    const cycles = findCycles(graph).map((c) => c.map((f) => path.relative(ROOT, f)).join(" -> "));
    expect(cycles).toEqual([]);
  });
});
