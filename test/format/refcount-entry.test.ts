import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { getRefcount, maxRefcount, setRefcount } from "../../engine/format/refcount-entry.js";

const BLOCK = 64;

describe("refcount entries of every width", () => {
  for (let order = 0; order <= 6; order++) {
    const bits = 2 ** order;
    const entries = (BLOCK * 8) / bits;
    const max = maxRefcount(order);

    it(`order ${order} (${bits}-bit): set then get, neighbours untouched (property)`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: BLOCK, maxLength: BLOCK }),
          fc.integer({ min: 0, max: entries - 1 }),
          fc.integer({ min: 0, max: Math.min(max, Number.MAX_SAFE_INTEGER) }),
          (initial, index, value) => {
            const block = initial.slice();
            const all = () => Array.from({ length: entries }, (_, i) => getRefcount(block, i, order));
            const want = all();
            want[index] = value;
            setRefcount(block, index, order, value);
            expect(all()).toEqual(want);
          },
        ),
        { numRuns: 100 },
      );
    });
  }

  it("maximum values", () => {
    expect([0, 1, 2, 3, 4, 5].map(maxRefcount)).toEqual([1, 3, 15, 255, 65535, 4294967295]);
    expect(maxRefcount(6)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("sub-byte widths pack least significant bits first; wider ones are big-endian", () => {
    const b = new Uint8Array(16);
    setRefcount(b, 0, 0, 1);
    setRefcount(b, 7, 0, 1);
    expect(b[0]).toBe(0x81);
    b.fill(0);
    setRefcount(b, 1, 1, 3);
    expect(b[0]).toBe(0b1100);
    b.fill(0);
    setRefcount(b, 1, 2, 0xa);
    expect(b[0]).toBe(0xa0);
    b.fill(0);
    setRefcount(b, 1, 4, 0x1234);
    expect(Array.from(b.subarray(2, 4))).toEqual([0x12, 0x34]);
    b.fill(0);
    setRefcount(b, 0, 5, 0x01020304);
    expect(Array.from(b.subarray(0, 4))).toEqual([1, 2, 3, 4]);
    b.fill(0);
    setRefcount(b, 1, 6, 2 ** 40 + 5);
    expect(Array.from(b.subarray(8, 16))).toEqual([0, 0, 1, 0, 0, 0, 0, 5]);
  });

  it("64-bit refcounts of 2^53 and more read as NaN", () => {
    const b = new Uint8Array(8);
    b[1] = 0x20;
    expect(getRefcount(b, 0, 6)).toBeNaN();
  });
});
