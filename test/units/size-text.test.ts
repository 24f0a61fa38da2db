// The size texts side by side: one number, each face's words. The qemu-io and qemu-img forms are also held
// against the real tools in test/cli/qemu-io-format.test.ts and test/inspect/units.test.ts.
import { describe, expect, it } from "vitest";
import { cvtstr, exactBytes, formatBytes, formatOptionSize, hex, shortBytes, sizeToStr } from "../../engine/units/size-text.js";
import { parseSize } from "../../engine/units/sizes.js";

describe("size texts", () => {
  it("1536 bytes in every face", () => {
    expect(cvtstr(1536)).toBe("1.500 KiB");
    expect(sizeToStr(1536)).toBe("1.5 KiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(exactBytes(1536)).toBe("1536 B");
    expect(shortBytes(1536)).toBe("1536B");
    expect(formatOptionSize(1536)).toBe("1.5K");
  });

  it("a GiB in every face", () => {
    expect(cvtstr(2 ** 30)).toBe("1 GiB");
    expect(sizeToStr(2 ** 30)).toBe("1 GiB");
    expect(formatBytes(2 ** 30)).toBe("1 GiB");
    expect(exactBytes(2 ** 30)).toBe("1 GiB");
    expect(shortBytes(2 ** 30)).toBe("1024M");
    expect(formatOptionSize(2 ** 30)).toBe("1G");
  });

  it("option sizes read back to the same number", () => {
    for (const n of [512, 4096, 12.5 * 2 ** 20, 3 * 2 ** 30, 1000]) expect(parseSize(formatOptionSize(n))).toBe(n);
  });

  it("hex: lower case with 0x; a negative as QEMU's PRIx64 prints an int64", () => {
    expect(hex(0x50000)).toBe("0x50000");
    expect(hex(0)).toBe("0x0");
    expect(hex(-1)).toBe("0xffffffffffffffff");
    expect(hex(2n ** 63n)).toBe("0x8000000000000000");
  });
});
