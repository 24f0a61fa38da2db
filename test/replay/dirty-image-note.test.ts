// A replay of a dirty image (lazy refcounts, the writer killed) repairs it first, as QEMU's read-write open does,
// on its shadow layer: the user is told so once (replay on stderr, the TUI and a repl trace session in their
// output), the file stays as it was, and a clean image gets no note.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openTraceSession } from "../../inspector/session/open-session.js";
import { tmpDir } from "../format/qemu-images.js";

const hasQemu = spawnSync("qemu-io", ["--version"]).status === 0 && spawnSync("qemu-img", ["--version"]).status === 0;
const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const TRACE = fileURLToPath(new URL("../../samples/traces/synth.blkparse.txt", import.meta.url));

describe.skipIf(!hasQemu)("replays of a dirty image", () => {
  const tmp = tmpDir("qcowdbg-dirty-");
  afterAll(() => tmp.cleanup());
  const dirty = tmp.path("dirty.qcow2");
  const clean = tmp.path("clean.qcow2");
  spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "compat=1.1,lazy_refcounts=on,cluster_size=4k", dirty, "64M"]);
  spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", clean, "64M"]);
  // Killed before it closes: the dirty bit stays set and the refcounts were never written.
  spawnSync("qemu-io", ["-c", "write -P 0x5a 0 512", "-c", "write -P 0x5b 1M 12k", "-c", "sigraise 9", dirty]);
  const before = readFileSync(dirty);

  it("is really dirty (qemu-img check finds the unwritten refcounts)", () => {
    expect(spawnSync("qemu-img", ["check", dirty]).status).toBe(2);
  });

  it("replay says once that it repairs the image on its shadow layer, and leaves the file alone", () => {
    const r = spawnSync(process.execPath, [CLI, "replay", "--no-recommend", "--fit", "scale", "--output", "json", dirty, TRACE], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const notes = r.stderr.split("\n").filter((l) => l.includes("is marked dirty"));
    const note = `${dirty} is marked dirty (lazy refcounts, not closed cleanly): as QEMU does when it opens it read-write, the replay first repairs it (check -r all) on its shadow layer; the file is not changed. \`qcowdbg check ${dirty}\` lists what is repaired`;
    expect(notes).toEqual([`qcowdbg: note: ${note}`]);
    const report = JSON.parse(r.stdout) as { notes: string[]; summary: { requests: number } };
    expect(report.notes).toEqual([note]);
    expect(report.summary.requests).toBeGreaterThan(0);
    expect(readFileSync(dirty).equals(before)).toBe(true);
  });

  it("a clean image gets no note", () => {
    const r = spawnSync(process.execPath, [CLI, "replay", "--no-recommend", "--fit", "scale", clean, TRACE], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain("dirty");
  });

  it("a trace session (TUI, repl IMAGE TRACE) prints the note in its output", () => {
    const out: string[] = [];
    const s = openTraceSession(dirty, TRACE, { fit: "scale", out: (l) => out.push(l) });
    try {
      expect(out.filter((l) => l.startsWith(`note: ${dirty} is marked dirty`))).toHaveLength(1);
      expect(s.log).toEqual(out);
    } finally {
      s.close();
    }
    expect(readFileSync(dirty).equals(before)).toBe(true);
  });
});
