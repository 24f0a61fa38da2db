#!/usr/bin/env python3
"""Byte-level helpers for make-samples.sh: deterministic noise for raw sources, and the two deliberate
qcow2 damages qemu-img cannot make (a leaked cluster, a refcount that is too low).
Only handles what the samples need: standard 8-byte L2 entries, 16-bit refcounts; anything else is refused."""
import hashlib
import struct
import sys


def noise(path, offset, length, seed):
    """sha256 in counter mode: the same bytes on every machine and Python version."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(out[:length])


def header(f):
    f.seek(0)
    h = f.read(104)
    magic, version = struct.unpack(">II", h[:8])
    if magic != 0x514649FB:
        sys.exit("poke: not a qcow2 image")
    cluster_bits = struct.unpack(">I", h[20:24])[0]
    l1_offset = struct.unpack(">Q", h[40:48])[0]
    reftable_offset = struct.unpack(">Q", h[48:56])[0]
    refcount_order = struct.unpack(">I", h[96:100])[0] if version >= 3 else 4
    incompat = struct.unpack(">Q", h[72:80])[0] if version >= 3 else 0
    if incompat & 16:
        sys.exit("poke: extended L2 is not handled")
    return cluster_bits, l1_offset, reftable_offset, refcount_order


def l2_slot(f, guest):
    """Returns (file offset of the L2 entry, entry value) for a guest offset."""
    cluster_bits, l1_offset, _, _ = header(f)
    l2_entries = (1 << cluster_bits) // 8
    cluster = guest >> cluster_bits
    f.seek(l1_offset + 8 * (cluster // l2_entries))
    l2_offset = struct.unpack(">Q", f.read(8))[0] & 0x00FFFFFFFFFFFE00
    if l2_offset == 0:
        sys.exit(f"poke: guest offset {guest} has no L2 table")
    slot = l2_offset + 8 * (cluster % l2_entries)
    f.seek(slot)
    return slot, struct.unpack(">Q", f.read(8))[0]


def drop_l2_entry(path, guest):
    with open(path, "r+b") as f:
        slot, entry = l2_slot(f, guest)
        if entry & 0x00FFFFFFFFFFFE00 == 0 or entry & (1 << 62):
            sys.exit(f"poke: guest offset {guest} is not a normal allocated cluster")
        f.seek(slot)
        f.write(b"\0" * 8)


def set_refcount(path, guest, value):
    with open(path, "r+b") as f:
        slot, entry = l2_slot(f, guest)
        host = entry & 0x00FFFFFFFFFFFE00
        cluster_bits, _, reftable_offset, refcount_order = header(f)
        if host == 0 or refcount_order != 4:
            sys.exit("poke: needs an allocated cluster and 16-bit refcounts")
        per_block = (1 << cluster_bits) * 8 // 16
        cluster = host >> cluster_bits
        f.seek(reftable_offset + 8 * (cluster // per_block))
        block = struct.unpack(">Q", f.read(8))[0] & ~0x1FF
        f.seek(block + 2 * (cluster % per_block))
        f.write(struct.pack(">H", value))


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "noise":
        noise(args[0], int(args[1], 0), int(args[2], 0), args[3])
    elif cmd == "drop-l2-entry":
        drop_l2_entry(args[0], int(args[1], 0))
    elif cmd == "set-refcount":
        set_refcount(args[0], int(args[1], 0), int(args[2], 0))
    else:
        sys.exit(f"poke: unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
