// `qcowdbg info|map|export` run as users run them (node dist/cli/main.js): output bytes equal qemu-img's, errors
// are one line with a non-zero exit, stacks only with --debug.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { qemuImg, qemuIo, tmpDir } from "../format/qemu-images.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const tmp = tmpDir("qcowdbg-inspect-cli-");
const img = tmp.path("cli.qcow2");
const base = tmp.path("cli-base.raw");

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("node", [CLI, ...args], { encoding: "utf8", cwd: tmp.dir });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  qemuImg("create", "-q", "-f", "raw", base, "1M");
  execFileSync("qemu-io", ["-f", "raw", "-c", "write -P 5 0 64k", base]);
  qemuImg("create", "-q", "-f", "qcow2", "-b", "cli-base.raw", "-F", "raw", img, "4M");
  qemuIo(img, "write -P 1 64k 64k", "write -c -P 2 1M 64k", "write -z 2M 64k");
});
afterAll(() => tmp.cleanup());

describe("qcowdbg info / map / export (CLI)", () => {
  it("info --output=json and --backing-chain print what qemu-img prints", () => {
    for (const args of [["--output=json"], ["--backing-chain"], []]) {
      const ours = run("info", ...args, "cli.qcow2");
      expect(ours.status).toBe(0);
      const want = execFileSync("qemu-img", ["info", ...args, "cli.qcow2"], { cwd: tmp.dir, encoding: "utf8" });
      const strip = (s: string) => s.replace(/^ *"actual-size": \d+,\n|^disk size: .*\n/gm, "");
      expect(strip(ours.stdout)).toBe(strip(want));
    }
  });

  it("info --verbose adds the header fields and extensions", () => {
    const r = run("info", "--verbose", "cli.qcow2");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ +0x18 +size +4194304 \(4 MiB\)$/m);
    expect(r.stdout).toMatch(/0xe2792aca backing format, 3 bytes: "raw"/);
    expect(r.stdout).toMatch(/feature name table/);
  });

  it("map --output=json equals qemu-img map; the human map refuses compressed data as qemu-img does", () => {
    const json = run("map", "--output=json", "cli.qcow2");
    expect(json.status).toBe(0);
    expect(json.stdout).toBe(execFileSync("qemu-img", ["map", "--output=json", "cli.qcow2"], { cwd: tmp.dir, encoding: "utf8" }));
    const human = run("map", "cli.qcow2");
    const q = spawnSync("qemu-img", ["map", "cli.qcow2"], { cwd: tmp.dir, encoding: "utf8" });
    expect(q.status).toBe(1);
    expect(human.status).toBe(1);
    expect(human.stdout).toBe(q.stdout);
    expect(human.stderr).toBe("qcowdbg: cli.qcow2: File contains external, encrypted or compressed clusters.\n");
  });

  it("export writes qemu-img convert's bytes and will not overwrite the backing file", () => {
    const r = run("export", "cli.qcow2", "out.raw");
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toBe("");
    execFileSync("qemu-img", ["convert", "-O", "raw", "cli.qcow2", "want.raw"], { cwd: tmp.dir });
    expect(readFileSync(tmp.path("out.raw")).equals(readFileSync(tmp.path("want.raw")))).toBe(true);
    const before = statSync(base).mtimeMs;
    const bad = run("export", "cli.qcow2", "cli-base.raw");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^qcowdbg: cli-base\.raw: the export output would overwrite a backing file of the image/);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(statSync(base).mtimeMs).toBe(before);
  });

  it("errors are one line without a stack, unless --debug", () => {
    const missing = run("info", "nope.qcow2");
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toBe("qcowdbg: nope.qcow2: No such file or directory (open)\n");
    const debug = run("--debug", "map", "nope.qcow2");
    expect(debug.status).not.toBe(0);
    expect(debug.stderr).toMatch(/\n +at /);
    const badOutput = run("map", "--output=xml", "cli.qcow2");
    expect(badOutput.status).toBe(1);
    expect(badOutput.stderr).toBe("qcowdbg: map: --output must be human or json, not 'xml'\n");
  });
});
