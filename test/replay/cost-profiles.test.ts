// Device profiles: the built-ins, the example JSON users copy, inheritance from a base, and one-line errors for
// every way a profile file can be wrong.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { BUILTIN_PROFILES, builtinProfile, loadProfile, parseProfile } from "../../engine/replay/device-profiles.js";

const EXAMPLE = fileURLToPath(new URL("../../samples/profiles/example.json", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "qcowdbg-profiles-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, json: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof json === "string" ? json : JSON.stringify(json));
  return p;
}

describe("device profiles", () => {
  it("has nvme, sata-ssd, hdd and network, ordered by latency, only the disk with a seek model", () => {
    expect(BUILTIN_PROFILES.map((p) => p.name)).toEqual(["nvme", "sata-ssd", "hdd", "network"]);
    expect(builtinProfile("nvme")!.readLatencyUs).toBeLessThan(builtinProfile("sata-ssd")!.readLatencyUs);
    expect(builtinProfile("network")!.writeLatencyUs).toBeGreaterThan(builtinProfile("sata-ssd")!.writeLatencyUs);
    expect(BUILTIN_PROFILES.filter((p) => p.seek).map((p) => p.name)).toEqual(["hdd"]);
    // A copy: callers may change it without changing the built-in.
    builtinProfile("hdd")!.seek!.rpm = 1;
    expect(builtinProfile("hdd")!.seek!.rpm).toBe(7200);
  });

  it("loads the example file, inheriting what it leaves out from its base", () => {
    const p = loadProfile(EXAMPLE);
    expect(p.name).toBe("ceph-rbd-ssd-pool");
    expect(p.readLatencyUs).toBe(350);
    expect(p.decompressMiBps).toBe(builtinProfile("network")!.decompressMiBps);
    expect(p.seek).toBeUndefined();
  });

  it("takes a complete profile without a base, and a disk's seek model", () => {
    const full = { name: "x", readLatencyUs: 1, writeLatencyUs: 2, seqReadLatencyUs: 1, seqWriteLatencyUs: 2, readMiBps: 10, writeMiBps: 10, flushUs: 0, decompressMiBps: 100, decompressUs: 0 };
    expect(loadProfile(file("full.json", full)).flushUs).toBe(0);
    const disk = loadProfile(file("disk.json", { name: "d", base: "hdd", seek: { minMs: 1, maxMs: 9, rpm: 5400, strokeBytes: 2 ** 40 } }));
    expect(disk.seek).toEqual({ minMs: 1, maxMs: 9, rpm: 5400, strokeBytes: 2 ** 40 });
    expect(loadProfile(file("noseek.json", { name: "s", base: "hdd", seek: null })).seek).toBeUndefined();
  });

  it.each([
    ["not JSON", "{", /not JSON/],
    ["an array", [], /'\(root\)' must be a JSON object/],
    ["no name", { base: "nvme" }, /'name' is missing/],
    ["an unknown field", { name: "x", base: "nvme", latency: 3 }, /'latency' is unknown/],
    ["an unknown base", { name: "x", base: "ssd" }, /'base' names no built-in profile/],
    ["a missing number without base", { name: "x" }, /'readLatencyUs' is missing/],
    ["a negative latency", { name: "x", base: "nvme", readLatencyUs: -1 }, /'readLatencyUs' must be a number/],
    ["a string latency", { name: "x", base: "nvme", flushUs: "1ms" }, /'flushUs' must be a number/],
    ["a zero bandwidth", { name: "x", base: "nvme", writeMiBps: 0 }, /'writeMiBps' must be > 0/],
    ["a bad seek", { name: "x", base: "hdd", seek: { minMs: 5, maxMs: 1, rpm: 7200, strokeBytes: 1 } }, /'seek.maxMs' must be >= seek.minMs/],
    ["a zero stroke", { name: "x", base: "hdd", seek: { minMs: 1, maxMs: 2, rpm: 7200, strokeBytes: 0 } }, /'seek.strokeBytes' must be > 0/],
  ])("refuses %s with a message naming the file and field", (name, json, msg) => {
    const p = file(`${name.replace(/\W/g, "_")}.json`, json);
    expect(() => loadProfile(p)).toThrow(msg);
    expect(() => loadProfile(p)).toThrow(p);
  });

  it("says which names exist when the profile is neither built in nor a file", () => {
    expect(() => loadProfile("ssd")).toThrow(/not a built-in profile \(nvme, sata-ssd, hdd, network\) nor a file/);
    expect(() => parseProfile(null, "x.json")).toThrow(/x.json: profile field/);
  });
});
