import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { put32 } from "../../engine/format/bytes.js";
import {
  ClusterKind,
  COMPRESSED_HI,
  compressedDescriptor,
  COPIED_HI,
  encodeCompressed,
  encodeEntry,
  entryOffset,
  isCopied,
  l1Offset,
  l2Kind,
  readBitmap,
  readEntry,
  SubclusterType,
  subclusterType,
} from "../../engine/format/l2-entry.js";

/** Host offsets an entry can hold in a JS number: 512-aligned, below 2^53. */
const hostOffset = fc.integer({ min: 0, max: 2 ** 44 - 1 }).map((n) => n * 512);

describe("standard L1/L2 entries", () => {
  it("encodeEntry and entryOffset round trip (property)", () => {
    fc.assert(
      fc.property(hostOffset, fc.boolean(), fc.boolean(), (off, copied, zero) => {
        const [hi, lo] = encodeEntry(off, copied, zero);
        expect(entryOffset(hi, lo)).toBe(off);
        expect(l1Offset(hi, lo)).toBe(off);
        expect(isCopied(hi)).toBe(copied);
        expect(lo & 1).toBe(zero ? 1 : 0);
        expect(hi & COMPRESSED_HI).toBe(0);
      }),
    );
  });

  it("entryOffset takes bits 9..55 only", () => {
    expect(entryOffset(0xffffffff, 0xffffffff)).toBe(2 ** 56 - 512);
    expect(entryOffset(0x80000000, 0x000501ff)).toBe(0x50000);
  });

  it("kinds as qcow2_get_cluster_type decides them", () => {
    expect(l2Kind(0, 0)).toBe(ClusterKind.Unallocated);
    expect(l2Kind(COPIED_HI, 0)).toBe(ClusterKind.Unallocated);
    expect(l2Kind(0, 0x50000)).toBe(ClusterKind.Normal);
    expect(l2Kind(COPIED_HI, 0x50000)).toBe(ClusterKind.Normal);
    expect(l2Kind(0, 1)).toBe(ClusterKind.ZeroPlain);
    expect(l2Kind(COPIED_HI, 0x50001)).toBe(ClusterKind.ZeroAlloc);
    expect(l2Kind(COMPRESSED_HI, 0x50123)).toBe(ClusterKind.Compressed);
    // External data file: offset 0 with COPIED is a real cluster at offset 0; the zero flag still wins.
    expect(l2Kind(COPIED_HI, 0, true)).toBe(ClusterKind.Normal);
    expect(l2Kind(0, 0, true)).toBe(ClusterKind.Unallocated);
    expect(l2Kind(COPIED_HI, 1, true)).toBe(ClusterKind.ZeroPlain);
    // Extended L2: bit 0 is not a zero flag.
    expect(l2Kind(0, 1, false, true)).toBe(ClusterKind.Unallocated);
    expect(l2Kind(COPIED_HI, 0x50001, false, true)).toBe(ClusterKind.Normal);
  });

  it("readEntry reads 8- and 16-byte tables", () => {
    const t = new Uint8Array(64);
    put32(t, 16, 0x80000000);
    put32(t, 20, 0x00060000);
    expect(readEntry(t, 2, 8)).toEqual([0x80000000, 0x60000]);
    expect(readEntry(t, 1, 16)).toEqual([0x80000000, 0x60000]);
  });
});

describe("compressed cluster descriptors", () => {
  for (let bits = 9; bits <= 21; bits++) {
    it(`round trip with cluster_bits ${bits} (property)`, () => {
      const x = 62 - (bits - 8);
      const maxOffset = Math.min(2 ** x, 2 ** 53) - 1;
      fc.assert(
        fc.property(fc.integer({ min: 0, max: maxOffset }), fc.integer({ min: 0, max: 2 ** (bits - 8) - 1 }), (off, sectors) => {
          const [hi, lo] = encodeCompressed(off, sectors, bits);
          expect(hi & COMPRESSED_HI).not.toBe(0);
          expect(hi & COPIED_HI).toBe(0);
          expect(l2Kind(hi, lo)).toBe(ClusterKind.Compressed);
          const d = compressedDescriptor(hi, lo, bits);
          expect(d.hostOffset).toBe(off);
          expect(d.sectors).toBe(sectors);
          expect(d.length).toBe((sectors + 1) * 512 - (off % 512));
        }),
        { numRuns: 200 },
      );
    });
  }

  it("places the sector count at bit x = 62 - (cluster_bits - 8)", () => {
    // 64 KiB clusters: x = 54, so 3 additional sectors live at bits 54..61.
    const [hi, lo] = encodeCompressed(0x12345, 3, 16);
    expect(hi).toBe((0x40000000 | (3 << 22)) >>> 0);
    expect(lo).toBe(0x12345);
    // qemu-img wrote this entry for a 4 KiB-cluster image: one sector at 0x6000.
    expect(compressedDescriptor(0x40000000, 0x6000, 12)).toEqual({ hostOffset: 0x6000, sectors: 0, length: 512 });
  });
});

describe("extended L2 subclusters (qcow2_get_subcluster_type)", () => {
  const normal: [number, number] = [COPIED_HI, 0x50000];
  const unalloc: [number, number] = [0, 0];

  it("on an allocated cluster", () => {
    expect(subclusterType(...normal, 0b01, 0, 0, true)).toBe(SubclusterType.Normal);
    expect(subclusterType(...normal, 0b01, 0, 1, true)).toBe(SubclusterType.UnallocatedAlloc);
    expect(subclusterType(...normal, 0, 0b10, 1, true)).toBe(SubclusterType.ZeroAlloc);
    // Any subcluster both allocated and zero makes every subcluster of the entry invalid.
    expect(subclusterType(...normal, 0b100, 0b100, 0, true)).toBe(SubclusterType.Invalid);
  });

  it("on an unallocated cluster", () => {
    expect(subclusterType(...unalloc, 0, 0, 5, true)).toBe(SubclusterType.UnallocatedPlain);
    expect(subclusterType(...unalloc, 0, 1 << 5, 5, true)).toBe(SubclusterType.ZeroPlain);
    expect(subclusterType(...unalloc, 1 << 31, 0, 5, true)).toBe(SubclusterType.Invalid);
  });

  it("compressed clusters and standard entries", () => {
    expect(subclusterType(COMPRESSED_HI, 0x1234, 0, 0, 0, true)).toBe(SubclusterType.Compressed);
    expect(subclusterType(0, 1, 0, 0, 0, false)).toBe(SubclusterType.ZeroPlain);
    expect(subclusterType(0, 0x50001, 0, 0, 0, false)).toBe(SubclusterType.ZeroAlloc);
    expect(subclusterType(0, 0x50000, 0, 0, 0, false)).toBe(SubclusterType.Normal);
    expect(subclusterType(0, 0, 0, 0, 0, false)).toBe(SubclusterType.UnallocatedPlain);
  });

  it("each subcluster's type follows its own two bits on a valid allocated entry (property)", () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (a, z) => {
        const alloc = a >>> 0;
        const zero = (z & ~alloc) >>> 0;
        for (let sc = 0; sc < 32; sc++) {
          const want = (zero >>> sc) & 1 ? SubclusterType.ZeroAlloc : (alloc >>> sc) & 1 ? SubclusterType.Normal : SubclusterType.UnallocatedAlloc;
          expect(subclusterType(...normal, alloc, zero, sc, true)).toBe(want);
        }
      }),
      { numRuns: 100 },
    );
  });

  it("readBitmap: bits 0..31 allocated (low word), 32..63 zero (high word)", () => {
    const t = new Uint8Array(32);
    put32(t, 16 + 8, 0x0000000f);
    put32(t, 16 + 12, 0x00000003);
    expect(readBitmap(t, 1)).toEqual({ zero: 0xf, alloc: 3 });
  });
});
