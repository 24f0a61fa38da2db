import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { holdCpuIdle, parseCpuIdleMode, withCpuIdle } from "../../engine/replay/cpu-idle-hold.js";
import { parseProfile } from "../../engine/replay/device-profiles.js";
import { formatValidation, type Validation } from "../../cli/commands/replay-validate.js";

const dirs: string[] = [];
function fakeDevice(): string {
  const d = mkdtempSync(path.join(tmpdir(), "qcowdbg-pmqos-"));
  dirs.push(d);
  const f = path.join(d, "cpu_dma_latency");
  // Not zeros: the hold must overwrite it with the 32-bit limit 0.
  writeFileSync(f, Buffer.from([0xff, 0xff, 0xff, 0xff]));
  return f;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("holding CPU idle states while timing (PM QoS)", () => {
  it("writes a 32-bit 0 µs limit and keeps the file open until released", () => {
    const dev = fakeDevice();
    const h = holdCpuIdle("hold", dev);
    expect(h.state).toBe("held");
    expect([...readFileSync(dev)]).toEqual([0, 0, 0, 0]);
    h.release();
    h.release();
  });

  it("holds nothing when asked not to, or when the device is missing (named in the state), and never creates it", () => {
    const dev = fakeDevice();
    expect(holdCpuIdle("free", dev).state).toBe("free");
    expect([...readFileSync(dev)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    const missing = path.join(path.dirname(dev), "none");
    expect(holdCpuIdle("hold", missing).state).toBe(`free (${missing}: ENOENT)`);
    expect(() => readFileSync(missing)).toThrow(/ENOENT/);
  });

  it("releases the hold however the measurement ends", () => {
    const dev = fakeDevice();
    expect(() => withCpuIdle("hold", () => {
      throw new Error("qemu-io failed");
    }, dev)).toThrow(/qemu-io failed/);
    expect(withCpuIdle("hold", (s) => s, dev)).toBe("held");
  });

  it("parses --cpu-idle", () => {
    expect(parseCpuIdleMode(undefined)).toBe("hold");
    expect(parseCpuIdleMode("free")).toBe("free");
    expect(() => parseCpuIdleMode("off")).toThrow(/--cpu-idle must be 'hold' or 'free', not 'off'/);
  });
});

describe("the state in profiles and validation reports", () => {
  const profile = { format: "qcowdbg-device-profile", name: "p", description: "d", readLatencyUs: 1, writeLatencyUs: 1, seqReadLatencyUs: 1, seqWriteLatencyUs: 1, readMiBps: 1, writeMiBps: 1, flushUs: 1, decompressMiBps: 1, decompressUs: 1 };
  const measured = { host: "h", dir: "/d", date: "2026-12-07T00:00:00Z", tool: "qemu-io", seconds: 1 };
  it("a profile records it (optional; older profiles have none) and a bad value names the field", () => {
    expect(parseProfile({ ...profile, measured: { ...measured, cpuIdle: "held" } }, "p.json").measured!.cpuIdle).toBe("held");
    expect(parseProfile({ ...profile, measured }, "p.json").measured!.cpuIdle).toBeUndefined();
    expect(() => parseProfile({ ...profile, measured: { ...measured, cpuIdle: 0 } }, "p.json")).toThrow(/measured\.cpuIdle/);
  });

  it("validation says how it ran, and warns when the profile was timed the other way", () => {
    const v: Validation = { profile: "p", profileSource: "p.json", method: "m", runs: 3, modelledSeconds: 0.05, measuredSeconds: 0.06, untimedFlushes: 0, skippedRequests: 0, cpuIdle: "held", profileCpuIdle: "held", compare: [] };
    const same = formatValidation(v, "cache=none").join("\n");
    expect(same).toMatch(/CPU idle states: held at polling while qemu-io ran \(PM QoS\)/);
    expect(same).not.toMatch(/note: the profile/);
    const other = formatValidation({ ...v, cpuIdle: "free (/dev/cpu_dma_latency: EACCES, not root)" }, "cache=none").join("\n");
    expect(other).toMatch(/CPU idle states: free \(\/dev\/cpu_dma_latency: EACCES, not root\): times include waking halted CPUs/);
    expect(other).toMatch(/note: the profile was calibrated with CPU idle states held and this run left them free/);
  });
});
