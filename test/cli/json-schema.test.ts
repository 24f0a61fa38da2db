// Every JSON document of qcowdbg's own carries the "schema" that docs/json-output.md lists for it; qemu-img's
// outputs (info/map/check) carry none, being qemu-img's own.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const TOUR = path.join(ROOT, "samples/images/tour.qcow2");
const TRACE = path.join(ROOT, "samples/traces/tour.qemu-io");
const DOC = fs.readFileSync(path.join(ROOT, "docs/json-output.md"), "utf8");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-schema-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const json = (...args: string[]): Record<string, unknown> => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};
const documented = (schema: string) => expect(DOC).toContain(`| \`${schema.replace(/^qcowdbg-dump-\w+/, "qcowdbg-dump-STRUCTURE")}\` |`);

describe("schema versions", () => {
  it("replay, compare, dump and the Chrome trace carry a documented schema", () => {
    const chrome = path.join(tmp, "t.json");
    const report = json("replay", "--output=json", "--no-recommend", "--chrome-trace", chrome, TOUR, TRACE);
    expect(report.schema).toBe("qcowdbg-replay/1");
    expect(Object.keys(report)[0]).toBe("schema");
    const compare = json("replay", "--output=json", TOUR, TRACE, "--compare", "l2-cache-size=4k");
    expect(compare.schema).toBe("qcowdbg-replay-compare/1");
    for (const what of ["header", "refcounts"]) expect(json("dump", "--output=json", TOUR, what).schema).toBe(`qcowdbg-dump-${what}/1`);
    const other = (JSON.parse(fs.readFileSync(chrome, "utf8")) as { otherData: { schema: string } }).otherData;
    expect(other.schema).toBe("qcowdbg-chrome-trace/1");
    for (const s of [report.schema, compare.schema, "qcowdbg-dump-header/1", other.schema, "qcowdbg-workload-jsonl/1", "qcowdbg-events-jsonl/1"]) documented(s as string);
  });

  it("qemu-img's outputs stay qemu-img's: no schema key", () => {
    expect(json("info", "--output=json", TOUR).schema).toBeUndefined();
    expect(json("check", "--output=json", TOUR).schema).toBeUndefined();
  });
});
