// `qcowdbg calibrate` and `replay --validate` as users run them, against the installed qemu-io: a short
// calibration writes a profile that replay takes with --profile (its header says so); --validate measures the
// same trace through qemu-io on a scratch copy (removed after; the user's image untouched) for the baseline and
// each --compare configuration, in text and in --output=json's "validation".
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { qemuImg, tmpDir } from "../format/qemu-images.js";
import { parseQemuIoTimings } from "../../engine/replay/qemu-io-run.js";
import { qemuIoCommand } from "../../engine/replay/validate.js";
import { parseProfile } from "../../engine/replay/device-profiles.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CLI = here("../../dist/cli/main.js");
const tmp = tmpDir("qcowdbg-calibrate-");
afterAll(() => tmp.cleanup());
const hasQemuIo = spawnSync("qemu-io", ["--version"]).status === 0;

function run(...args: string[]) {
  return spawnSync("node", [CLI, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
}
const sha256 = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe("qemu-io scripts and timings", () => {
  it("turns requests into qemu-io commands, leaving out those past the image", () => {
    const r = { time: 0, fua: false, preflush: false, source: "t:1" };
    expect(qemuIoCommand({ ...r, op: "read", offset: 4096, length: 4096 }, 1 << 20)).toBe("read 4096 4096");
    expect(qemuIoCommand({ ...r, op: "write", offset: 0, length: 512, fua: true, pattern: 7 }, 1 << 20)).toBe("write -f -P 7 0 512");
    expect(qemuIoCommand({ ...r, op: "write-zeroes", offset: 0, length: 65536, mayUnmap: true }, 1 << 20)).toBe("write -z -u 0 65536");
    expect(qemuIoCommand({ ...r, op: "discard", offset: 0, length: 65536 }, 1 << 20)).toBe("discard 0 65536");
    expect(qemuIoCommand({ ...r, op: "flush", offset: 0, length: 0 }, 1 << 20)).toBe("flush");
    expect(qemuIoCommand({ ...r, op: "read", offset: (1 << 20) - 512, length: 4096 }, 1 << 20)).toBeNull();
  });

  it("reads each command's time from qemu-io's ops/sec, and fails on a failed command", () => {
    const out = "qemu-io> read 4096/4096 bytes at offset 0\n4 KiB, 1 ops; 00.00 sec (27.137 MiB/sec and 6947.1461 ops/sec)\nqemu-io> qemu-io> wrote 65536/65536 bytes at offset 0\n64 KiB, 1 ops; 00.00 sec (3.9 GiB/sec and 62500.0000 ops/sec)\n";
    const t = parseQemuIoTimings(out);
    expect(t).toHaveLength(2);
    expect(t[0]).toBeCloseTo(1 / 6947.1461, 12);
    expect(t[1]).toBeCloseTo(16e-6, 12);
    expect(() => parseQemuIoTimings("qemu-io> write failed: Input/output error\n")).toThrow(/qemu-io: write failed: Input\/output error/);
  });
});

describe.skipIf(!hasQemuIo)("calibrate and replay --validate (live qemu-io)", () => {
  const profile = tmp.path("profile.json");

  it("calibrates the folder quickly at a small scale, removes its scratch files, and writes a profile that loads", () => {
    const r = run("calibrate", tmp.dir, "--output", profile, "--scale", "0.05", "--runs", "2", "--name", "test-host", "--page-cache", "64M");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^qcowdbg calibrate: .* -> .*profile\.json \(profile test-host\)/);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith(".qcowdbg"))).toEqual([]);
    const p = parseProfile(JSON.parse(readFileSync(profile, "utf8")), profile);
    expect(p.version).toBe(3);
    expect(p.host!.pageCacheBytes).toBe(64 << 20);
    expect(p.readLatencyUs).toBeGreaterThan(0);
    expect(p.host!.cachedRead.us).toBeGreaterThan(0);
    expect(p.measured!.tool).toBe("qemu-io");
    // Idle CPUs held out of halt states while timing when this user may (root), and the profile says which.
    expect(p.measured!.cpuIdle).toMatch(/^(held|free \(.*\))$/);
    expect(r.stdout).toMatch(/ {2}CPU idle states {8}(held at polling while timing \(PM QoS\)|free \(.*\): timings include waking halted CPUs)/);
    // Writes into a freshly zeroed cluster (unwritten extents) and the qcow2 sequences the terms come from (the
    // driver and allocation classes from one qemu-io process that switches images: calibrate-driver.ts).
    expect(p.host!.bufferedUnwrittenWrite!.us).toBeGreaterThan(0);
    expect(p.host!.directUnwrittenWrite!.us).toBeGreaterThan(0);
    for (const k of ["bUnwritten4", "dUnwritten4", "qAlloc4", "qWT4", "sync0", "bFuaAfterAlloc", "rRead4", "rWrite4", "qAllocExt4", "qSubExt4", "syncAllocN1", "syncAllocN32"]) expect(p.measured!.classesUs![k], k).toBeGreaterThan(0);
  });

  it("validates a replay and each --compare configuration against qemu-io, leaving the image as it was", () => {
    const img = tmp.path("v.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "1G");
    const trace = tmp.path("v.qemu-io");
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) lines.push(`write ${((i * 7919) % 16384) * 65536} 4k`, `read ${((i * 7919) % 16384) * 65536} 4k`);
    writeFileSync(trace, lines.join("\n") + "\n");
    const before = sha256(img);
    const j = run("replay", img, trace, "--profile", profile, "--compare", "cache=writethrough", "--validate", "--output", "json");
    expect(j.stderr).toBe("");
    expect(j.status).toBe(0);
    const v = JSON.parse(j.stdout).validation;
    expect(v.profile).toBe("test-host");
    expect(v.modelledSeconds).toBeGreaterThan(0);
    expect(v.measuredSeconds).toBeGreaterThan(0);
    expect(v.compare).toHaveLength(1);
    expect(v.compare[0].config).toBe("cache=writethrough");
    expect(v.compare[0].measuredSeconds).toBeGreaterThan(0);
    expect(v.cpuIdle).toMatch(/^(held|free \(.*\))$/);
    expect(v.profileCpuIdle).toBe(v.cpuIdle);
    // Writethrough syncs after every write: qemu-io takes longer, and so does the model.
    expect(v.compare[0].measuredSeconds).toBeGreaterThan(v.measuredSeconds);
    expect(v.compare[0].modelledSeconds).toBeGreaterThan(v.modelledSeconds);
    const t = run("replay", img, trace, "--profile", profile, "--validate", "--no-recommend");
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/device profile: test-host \(measured by qcowdbg calibrate .* \(from .*profile\.json, measured \d{4}-\d\d-\d\d in /);
    expect(t.stdout).toMatch(/Validation against qemu-io \(profile test-host, from .*profile\.json\)/);
    expect(t.stdout).toMatch(/measured: sum of qemu-io's per-request timings \(start-up and image open excluded\)/);
    expect(t.stdout).toMatch(/baseline +[\d.]+ m?s +[\d.]+ m?s +[\d.]+/);
    expect(sha256(img)).toBe(before);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith(".qcowdbg"))).toEqual([]);
  });

  it("fails in one line when asked to calibrate a missing folder", () => {
    const r = run("calibrate", tmp.path("nope"));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^qcowdbg: calibrate: .*nope: not a folder$/);
  });
});
