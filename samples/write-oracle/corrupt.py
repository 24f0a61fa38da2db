#!/usr/bin/env python3
"""Damages one field of a qcow2 image for the corruption oracle workloads (workloads.py), so that qemu-io meets it
on its first access there: python3 corrupt.py FILE KIND [GUEST_OFFSET]. KINDs: l2-entry-unaligned (the L2 entry
of GUEST_OFFSET points 0x200 past its cluster), zero-flag (sets that entry's zero flag: a v2 image has none),
l1-unaligned (L1[0] points 0x200 past its L2 table), l1-beyond-eof (L1[0] points at 16 MiB, past the end of the
file), refblock-unaligned (refcount table entry 0 likewise), refcount-zero (the refcount of GUEST_OFFSET's data
cluster drops to 0, 16-bit or wider refcounts), compressed-garbage (the first 64 bytes of GUEST_OFFSET's compressed
cluster become 0xff, so the deflate stream is invalid; standard L2 entries)."""
import struct
import sys

OFFSET = 0x00FFFFFFFFFFFE00


def u64(f, off):
    f.seek(off)
    return struct.unpack(">Q", f.read(8))[0]


def put(f, off, v):
    f.seek(off)
    f.write(struct.pack(">Q", v))


def main():
    path, kind = sys.argv[1], sys.argv[2]
    guest = int(sys.argv[3], 0) if len(sys.argv) > 3 else 0
    with open(path, "r+b") as f:
        cluster_bits = struct.unpack(">I", (f.seek(20), f.read(4))[1])[0]
        l1 = u64(f, 40)
        reftable = u64(f, 48)
        cs = 1 << cluster_bits
        if kind == "l1-unaligned":
            put(f, l1, u64(f, l1) + 0x200)
        elif kind == "l1-beyond-eof":
            put(f, l1, (u64(f, l1) & ~OFFSET) | (16 << 20))
        elif kind == "refblock-unaligned":
            put(f, reftable, u64(f, reftable) + 0x200)
        elif kind == "refcount-zero":
            entries = cs // 8
            l2 = u64(f, l1 + (guest // cs // entries) * 8) & OFFSET
            host = u64(f, l2 + (guest // cs % entries) * 8) & OFFSET
            order = struct.unpack(">I", (f.seek(96), f.read(4))[1])[0]
            width = (1 << order) // 8
            block = u64(f, reftable + (host // cs // (cs * 8 >> order)) * 8) & OFFSET
            f.seek(block + (host // cs % (cs * 8 >> order)) * width)
            f.write(bytes(width))
        elif kind == "compressed-garbage":
            entries = cs // 8
            l2 = u64(f, l1 + (guest // cs // entries) * 8) & OFFSET
            e = u64(f, l2 + (guest // cs % entries) * 8)
            if not e & (1 << 62):
                sys.exit("compressed-garbage: the entry is not compressed")
            x = 62 - (cluster_bits - 8)
            f.seek(e & ((1 << x) - 1))
            f.write(b"\xff" * 64)
        elif kind in ("l2-entry-unaligned", "zero-flag"):
            entries = cs // 8
            l2 = u64(f, l1 + (guest // cs // entries) * 8) & OFFSET
            at = l2 + (guest // cs % entries) * 8
            e = u64(f, at)
            put(f, at, e + 0x200 if kind == "l2-entry-unaligned" else e | 1)
        else:
            sys.exit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
