// docs/ARCHITECTURE.md is the newcomer's map: every file and folder it names must exist, or the map sends people
// to places that moved. Backticked paths are checked from the repository root; a bare file name (`write-path.ts`,
// said in a step about its folder) must be some file of the repository; the layer diagram's folders are checked too.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DOC = fs.readFileSync(path.join(ROOT, "docs/ARCHITECTURE.md"), "utf8");
const TOP = ["cli", "inspector", "engine", "test", "samples", "native", "scripts", "bench", "docs"];
const EXT = /\.(ts|tsx|cc|sh|py|mjs|js|md|json)$/;

/** Every file name in the repository (sources, tests, samples), for bare names. */
function fileNames(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".")) continue;
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else out.add(e.name);
    }
  };
  for (const t of TOP) if (fs.existsSync(path.join(ROOT, t))) walk(path.join(ROOT, t));
  for (const e of fs.readdirSync(ROOT)) out.add(e);
  return out;
}

/** Backticked words outside the code block that look like a path or a file name. */
function namedPaths(): string[] {
  const prose = DOC.replace(/```[\s\S]*?```/g, "");
  const out: string[] = [];
  for (const m of prose.matchAll(/`([^`\s]+)`/g)) {
    const w = m[1]!;
    if (!/^[\w.-]+(\/[\w.-]*)*$/.test(w)) continue;
    const top = w.split("/")[0]!;
    if (EXT.test(w) || (w.includes("/") && TOP.includes(top))) out.push(w);
  }
  return out;
}

/** The layer diagram's folders: `name/` at the start of a line is a top folder, indented under engine/ it is engine's. */
function diagramFolders(): string[] {
  const block = /```\n([\s\S]*?)```/.exec(DOC)?.[1] ?? "";
  const out: string[] = [];
  for (const line of block.split("\n")) {
    const m = /^( {0,2})([a-z]+)\/\s/.exec(line);
    if (m) out.push(m[1] ? `engine/${m[2]}` : m[2]!);
  }
  return out;
}

describe("docs/ARCHITECTURE.md", () => {
  it("names only files and folders that exist", () => {
    const names = fileNames();
    const paths = namedPaths();
    expect(paths.length).toBeGreaterThan(40);
    const missing = paths.filter((p) => (p.includes("/") ? !fs.existsSync(path.join(ROOT, p)) : !names.has(p)));
    expect(missing).toEqual([]);
  });

  it("draws layers that exist", () => {
    const folders = diagramFolders();
    expect(folders).toEqual(expect.arrayContaining(["cli", "inspector", "engine", "engine/image", "engine/replay"]));
    expect(folders.filter((f) => !fs.statSync(path.join(ROOT, f), { throwIfNoEntry: false })?.isDirectory())).toEqual([]);
  });

  it("says where to add a trace format, an event, a pane and a cache policy", () => {
    for (const h of ["**A trace format.**", "**An event.**", "**A pane.**", "**A cache policy (victim choice).**"]) expect(DOC).toContain(h);
    expect(DOC).toContain("## One request, from trace line to pane");
  });
});
