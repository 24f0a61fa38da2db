// qemu-io's number parsing and size texts without QEMU at hand: the expected texts were printed by qemu-io 7.2
// (`alloc OFFSET 1` prints cvtstr(OFFSET)); test/cli/qemu-io-compat.test.ts holds the rest against qemu-io live.
import { describe, expect, it } from "vitest";
import { cvtnum, cvtstr, dumpBuffer, getopt, parsePattern, timestr } from "../../inspector/session/qemu-io-format.js";

describe("qemu-io 7.2 formats", () => {
  it("cvtstr: %.3f of the largest unit, .000 trimmed, glibc's round-half-even", () => {
    const cases: [number, string][] = [
      [1088, "1.062 KiB"],
      [1536, "1.500 KiB"],
      [1, "1 bytes"],
      [0, "0 bytes"],
      [1023, "1023 bytes"],
      [1048575, "1023.999 KiB"],
      [3 * 2 ** 30, "3 GiB"],
      [1.5 * 2 ** 40, "1.500 TiB"],
      [1025, "1.001 KiB"],
    ];
    for (const [v, text] of cases) expect(cvtstr(v), String(v)).toBe(text);
  });

  it("cvtnum: qemu_strtosz's decimal, hex, fractions with a unit, and its errors", () => {
    expect(cvtnum("4k")).toBe(4096);
    expect(cvtnum("0x10")).toBe(16);
    expect(cvtnum("1.5k")).toBe(1536);
    expect(cvtnum("1.k")).toBe(1024);
    expect(cvtnum("1.0625k")).toBe(1088);
    expect(cvtnum("+5")).toBe(5);
    expect(cvtnum("512b")).toBe(512);
    expect(cvtnum("1.5")).toBe(-22);
    expect(cvtnum("1e3")).toBe(-22);
    expect(cvtnum("-1")).toBe(-22);
    expect(cvtnum("1x")).toBe(-22);
    expect(cvtnum("8E")).toBe(-34);
    expect(cvtnum("99999999999999999999")).toBe(-34);
    const warned: string[] = [];
    expect(cvtnum("0x1k", (l) => warned.push(l))).toBe(1024);
    expect(warned).toEqual(["qemu-io: warning: Using a multiplier suffix on hex numbers is deprecated: 0x1k"]);
  });

  it("timestr, parse_pattern, dump_buffer, getopt", () => {
    expect(timestr(12_345_678n, false)).toBe("00.01 sec");
    expect(timestr(3_725_500_000_000n, false)).toBe("1:02:05.50");
    expect(timestr(12_345_678n, true)).toBe("0:00:00.01");
    expect([parsePattern("0xcd"), parsePattern("017"), parsePattern("255"), parsePattern("256"), parsePattern("1x")]).toEqual([0xcd, 15, 255, null, null]);
    expect(dumpBuffer(new Uint8Array([0x41, 0x20, 0x7a, 0x30]), 0x200)).toEqual(["00000200:  41 20 7a 30  A.z0"]);
    expect(getopt(["read", "0", "-P", "1", "512", "-q"], "P:q")).toEqual({ opts: [["P", "1"], ["q", ""]], rest: ["0", "512"] });
    expect(getopt(["read", "-x", "0"], "P:q").error).toBe("read: invalid option -- 'x'");
    expect(getopt(["read", "-P"], "P:q").error).toBe("read: option requires an argument -- 'P'");
  });
});
