// QEMU's pretty JSON and printf details the check output depends on: QDict key order, string escapes,
// and "%0.2f" rounding of exact ties.
import { describe, expect, it } from "vitest";
import { printf2f } from "../../cli/commands/check.js";
import { qdictHash, qdictOrder, qemuJsonPretty, qemuJsonString } from "../../engine/check/qemu-json.js";

describe("QDict order", () => {
  it("orders ImageCheck's members as qemu-img check --output=json prints them", () => {
    const members = [
      "filename",
      "format",
      "check-errors",
      "image-end-offset",
      "corruptions",
      "leaks",
      "corruptions-fixed",
      "leaks-fixed",
      "total-clusters",
      "allocated-clusters",
      "fragmented-clusters",
      "compressed-clusters",
    ];
    // Seen from qemu-img 7.2 on images with leaks, corruptions and compressed clusters.
    expect(qdictOrder(members)).toEqual([
      "image-end-offset",
      "compressed-clusters",
      "total-clusters",
      "corruptions",
      "corruptions-fixed",
      "check-errors",
      "leaks",
      "leaks-fixed",
      "allocated-clusters",
      "filename",
      "format",
      "fragmented-clusters",
    ]);
  });

  it("puts the later of two keys sharing a bucket first", () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    const byBucket = new Map<number, string[]>();
    for (const k of keys) byBucket.set(qdictHash(k) % 512, [...(byBucket.get(qdictHash(k) % 512) ?? []), k]);
    const [a, b] = [...byBucket.values()].find((ks) => ks.length >= 2)!;
    const order = qdictOrder([a!, b!]);
    expect(order).toEqual([b, a]);
  });

  it("prints nested values with four-space indentation and skips undefined members", () => {
    expect(qemuJsonPretty({ filename: "x", n: 3, gone: undefined })).toBe('{\n    "n": 3,\n    "filename": "x"\n}');
    expect(qemuJsonPretty([1, true, null])).toBe("[\n    1,\n    true,\n    null\n]");
  });

  it("escapes like to_json_str", () => {
    expect(qemuJsonString('a"b\\c\n\t')).toBe('"a\\"b\\\\c\\n\\t"');
    expect(qemuJsonString("é\u0001\u007f")).toBe('"\\u00E9\\u0001\\u007F"');
    expect(qemuJsonString("😀")).toBe('"\\uD83D\\uDE00"');
  });
});

describe("printf %0.2f", () => {
  it("rounds exact ties to even as glibc does", () => {
    expect(printf2f(0.125)).toBe("0.12");
    expect(printf2f(0.375)).toBe("0.38");
    expect(printf2f(12.625)).toBe("12.62");
    expect(printf2f(2.875)).toBe("2.88");
  });
  it("otherwise rounds to nearest", () => {
    expect(printf2f(0.2)).toBe("0.20");
    expect(printf2f(100)).toBe("100.00");
    expect(printf2f(1.005)).toBe("1.00"); // 1.005 is just below the tie in binary
    expect(printf2f((2 * 100) / 1024)).toBe("0.20");
    expect(printf2f(2 / 3)).toBe("0.67");
  });
});
