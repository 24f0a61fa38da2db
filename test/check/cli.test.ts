// The built `qcowdbg check` as a user runs it: exit codes, stdout/stderr split, -q, --output validation, one-line
// errors (a stack only with --debug), and the limits that keep a huge or hostile image from exhausting memory.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { openSync, closeSync, ftruncateSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { checkImage } from "../../engine/check/check.js";
import { FileStorage } from "../../engine/storage/file-storage.js";
import { Layout, qemuCheck, qemuImg, qemuIo, Scratch } from "./oracle.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const s = new Scratch();
afterAll(() => s.cleanup());

function cli(...args: string[]) {
  const r = spawnSync("node", [CLI, ...args], { encoding: "utf8" });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function image(name: string, opts: string[] = [], size = "64M"): string {
  const f = s.path(name);
  qemuImg("create", "-f", "qcow2", ...(opts.length ? ["-o", opts.join(",")] : []), f, size);
  return f;
}

describe("qcowdbg check (built CLI)", () => {
  it("exits 0 on a clean image and prints qemu-img's report", () => {
    const f = image("clean.qcow2");
    qemuIo(f, ["write -P 1 0 64k"]);
    const r = cli("check", f);
    expect(r).toEqual({ stdout: qemuCheck(f, "human").stdout, stderr: "", status: 0 });
    expect(cli("check", "--output=json", f).stdout).toBe(qemuCheck(f, "json").stdout);
  });

  it("exits 3 for leaks only, 2 for corruptions, with the messages on stderr", () => {
    const f = image("leak.qcow2");
    qemuIo(f, ["write -P 1 0 64k"]);
    const l = new Layout(f);
    l.setRefcount(l.hostClusterOf(0), 2);
    const r2 = cli("check", f);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain("Leaked cluster");
    expect(r2.stderr).toContain("ERROR OFLAG_COPIED data cluster");

    const g = image("leak3.qcow2");
    qemuIo(g, ["write -P 1 0 64k"]);
    const lg = new Layout(g);
    const end = Math.ceil(lg.size() / lg.clusterSize);
    const fd = openSync(g, "r+");
    ftruncateSync(fd, (end + 1) * lg.clusterSize);
    closeSync(fd);
    lg.setRefcount(end, 1);
    const r3 = cli("check", g);
    expect(r3.status).toBe(3);
    expect(r3.stderr).toBe(`Leaked cluster ${end} refcount=1 reference=0\n`);
    expect(cli("check", "-q", g)).toEqual({ stdout: "", stderr: r3.stderr, status: 3 });
  });

  it("exits 1 with one line when the image cannot be opened, and 63 for a file qemu-img probes as raw", () => {
    expect(cli("check", s.path("missing.qcow2"))).toEqual({
      stdout: "",
      stderr: `qcowdbg: Could not open '${s.path("missing.qcow2")}': Could not open '${s.path("missing.qcow2")}': No such file or directory\n`,
      status: 1,
    });
    const junk = s.path("junk.bin");
    writeFileSync(junk, Buffer.alloc(4096, 0x41));
    const r = cli("check", junk);
    // qemu-img check junk.bin: "This image format does not support checks", exit 63.
    expect(r.status).toBe(63);
    expect(r.stderr).toBe("qcowdbg: This image format does not support checks\n");
  });

  it("rejects an unknown --output like qemu-img", () => {
    const r = cli("check", "--output=xml", image("o.qcow2"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("qcowdbg: --output must be used with human or json as argument.\n");
  });

  it("refuses a check that would need more refcount memory than allowed: one line, a stack only with --debug", () => {
    // 512-byte clusters in a sparse 300 GiB file: 629 M clusters, 2.3 GiB of 16-bit refcounts for two arrays.
    const f = image("huge.qcow2", ["cluster_size=512"], "1M");
    const fd = openSync(f, "r+");
    ftruncateSync(fd, 300 * 2 ** 30);
    closeSync(fd);
    const r = cli("check", f);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^qcowdbg: .*huge\.qcow2: 629145600 host clusters need \d+ MiB of refcounts in memory, above the limit of 1024 MiB\n$/);
    const d = cli("--debug", "check", f);
    expect(d.status).toBe(1);
    expect(d.stderr.split("\n").length).toBeGreaterThan(3);
    expect(d.stderr).toMatch(/\n\s+at /);
  });

  it("gives qemu-img's verdict when the file has more than INT_MAX clusters", () => {
    const f = image("toolarge.qcow2", ["cluster_size=512"], "1M");
    const fd = openSync(f, "r+");
    ftruncateSync(fd, 2 ** 31 * 512 + 512);
    closeSync(fd);
    const theirs = qemuCheck(f, "human");
    const r = cli("check", f);
    expect(r).toEqual({ stdout: theirs.stdout, stderr: theirs.stderr.replaceAll("qemu-img: ", "qcowdbg: "), status: theirs.status });
    expect(r.stderr).toBe("qcowdbg: Check failed: File too large\n");
  });

  it("stops walking tables past its entry budget instead of running for hours", () => {
    const f = image("budget.qcow2", [], "64M");
    qemuIo(f, ["write -P 1 0 1M"]);
    const st = new FileStorage(f);
    try {
      expect(() => checkImage(st, f, { maxEntries: 100 })).toThrow(/check aborted: the image's tables reference more than 100 entries/);
      expect(checkImage(st, f).result.checkErrors).toBe(0);
    } finally {
      st.close();
    }
  });
});
