// Untrusted text never reaches the terminal raw: a backing file name or snapshot name holding an escape sequence
// and a newline is shown as \xNN by info, dump, open errors, map and the REPL, trace bytes in parse errors and the
// workload listing too, while JSON output keeps the exact string.
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { escapeControl, escapeControlKeepLines } from "../../engine/format/terminal-text.js";
import { fit } from "../../inspector/tui/RowLine.js";

afterAll(removeTempDirs);

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;
const EVIL = "x\x1b]0;pwned\x07\nqcowdbg: forged\x9b2J";
const SHOWN = "x\\x1b]0;pwned\\x07\\x0aqcowdbg: forged\\x9b2J";

function run(args: string[], cwd: string, input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd, input });
}

/** No ESC, BEL, C1 or stray CR anywhere: the only controls left are the line ends. */
function clean(s: string): void {
  // eslint-disable-next-line no-control-regex -- looking for control characters is the test
  expect(s).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
}

/** An overlay whose backing file name is EVIL (written into the header: qemu-img would try to open it). */
function evilOverlay(): { dir: string; img: string } {
  const dir = tempDir("qcowdbg-esc-");
  const img = path.join(dir, "top.qcow2");
  spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "1M"]);
  const name = Buffer.from(EVIL, "utf8");
  const fd = fs.openSync(img, "r+");
  fs.writeSync(fd, name, 0, name.length, 0x200);
  const b = Buffer.alloc(12);
  b.writeUInt32BE(0x200, 4);
  b.writeUInt32BE(name.length, 8);
  fs.writeSync(fd, b, 0, 12, 8);
  fs.closeSync(fd);
  return { dir, img };
}

describe("the escaping function", () => {
  it("turns every control character into \\xNN and leaves other text alone", () => {
    expect(escapeControl(EVIL)).toBe(SHOWN);
    expect(escapeControl("plain näme ✓")).toBe("plain näme ✓");
    expect(escapeControlKeepLines("a\nb\tc\x1b")).toBe("a\nb\tc\\x1b");
  });

  it("is what every TUI pane line and title goes through", () => {
    expect(fit(`backing: ${EVIL}`, 200)).toBe(`backing: ${SHOWN}`);
    expect(fit(EVIL, 6)).toBe("x\\x1b~");
  });
});

describe.skipIf(!hasQemu)("names from images", () => {
  it("info, map, check and repl escape a hostile backing file name; JSON keeps it exact", () => {
    const { dir } = evilOverlay();
    const info = run(["info", "top.qcow2"], dir);
    expect(info.status).toBe(0);
    clean(info.stdout);
    expect(info.stdout).toContain(`backing file: ${SHOWN}`);
    expect(info.stdout.split("\n").filter((l) => l.includes("forged"))).toHaveLength(1);
    const json = run(["info", "--output", "json", "top.qcow2"], dir);
    expect((JSON.parse(json.stdout) as { "backing-filename": string })["backing-filename"]).toBe(EVIL);
    for (const args of [["map", "top.qcow2"], ["repl", "-c", "read 0 512", "top.qcow2"], ["export", "top.qcow2", "o.raw"]]) {
      const r = run(args, dir);
      expect(r.status, args[0]).toBe(1);
      clean(r.stderr);
      expect(r.stderr.trim().split("\n"), args[0]).toHaveLength(1);
      expect(r.stderr, args[0]).toContain(SHOWN);
    }
    const verbose = run(["info", "--verbose", "top.qcow2"], dir);
    clean(verbose.stdout);
  });

  it("dump snapshots and info escape a hostile snapshot name", () => {
    const dir = tempDir("qcowdbg-esc-");
    const img = path.join(dir, "s.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "1M"]);
    expect(spawnSync("qemu-img", ["snapshot", "-c", "snap\x1b[2Jname", img]).status).toBe(0);
    for (const args of [["dump", img, "snapshots"], ["info", img]]) {
      const r = run(args, dir);
      expect(r.status).toBe(0);
      clean(r.stdout);
      expect(r.stdout).toContain("snap\\x1b[2Jname");
    }
    const j = run(["dump", "--output", "json", img, "snapshots"], dir);
    expect((JSON.parse(j.stdout) as { snapshots: { name: string }[] }).snapshots[0]!.name).toBe("snap\x1b[2Jname");
  });
});

describe("bytes from traces", () => {
  it("a parse error quoting trace bytes and the workload listing stay clean", () => {
    const dir = tempDir("qcowdbg-esc-");
    fs.writeFileSync(path.join(dir, "t.qemu-io"), "write 0 4k\nwrite \x1b]0;pwned\x07 4k\n");
    const bad = run(["workload", "--format", "qemu-io", "t.qemu-io"], dir);
    expect(bad.status).toBe(1);
    clean(bad.stdout + bad.stderr);
    expect(bad.stderr).toContain("\\x1b]0;pwned\\x07");
    const piped = run(["workload", "--format", "qemu-io", "-"], dir, "write 0 4k\n");
    clean(piped.stdout);
  });
});
