#!/usr/bin/env python3
"""Damaged qcow2 images for `check -r leaks|all`: the damage qemu-img 7.2 repairs by rebuilding the refcount
structure (a cluster in use with refcount 0; a refcount table entry with reserved bits, unaligned, or pointing at
a cluster used twice) and by fixing OFLAG_COPIED (an L1 or L2 entry whose COPIED flag disagrees with the refcount),
alone and together, at several cluster sizes and refcount widths, in v2 images, with extended L2 entries and with
compressed clusters (so rebuilds span many refcount blocks and a
refcount table of several clusters). Built with the real qemu-img/qemu-io, then edited in place.

  make-repair-corpus.py DIR          build every mutant into DIR (NAME.qcow2) and print their names
  make-repair-corpus.py DIR NAME...  build only those

Tests (test/check/repair-oracle.test.ts) run the same repair through qemu-img on a copy and compare.
"""
import os
import struct
import subprocess
import sys

COPIED = 1 << 63
L2_OFFSET_MASK = 0x00FFFFFFFFFFFE00


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def create(p, size="16M", cluster=65536, refbits=16, writes=(("0x11", 0, "64k"), ("0x22", "64k", "64k")), opts="", compressed=False):
    o = f"cluster_size={cluster}" + ("" if "compat=0.10" in opts else f",refcount_bits={refbits}") + (f",{opts}" if opts else "")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", o, p, size)
    cmds = []
    for pat, off, ln in writes:
        cmds += ["-c", f"write {'-c ' if compressed else ''}-P {pat} {off} {ln}"]
    run("qemu-io", "-f", "qcow2", *cmds, p)


class Img:
    def __init__(self, p):
        self.f = open(p, "r+b")
        self.cs = 1 << self.u32(20)
        self.order = self.u32(96) if self.u32(4) >= 3 else 4
        self.l1 = self.u64(40)
        self.reftable = self.u64(48)

    def u32(self, o):
        self.f.seek(o)
        return struct.unpack(">I", self.f.read(4))[0]

    def u64(self, o):
        self.f.seek(o)
        return struct.unpack(">Q", self.f.read(8))[0]

    def put64(self, o, v):
        self.f.seek(o)
        self.f.write(struct.pack(">Q", v))

    def l2(self, i=0):
        return self.u64(self.l1 + 8 * i) & L2_OFFSET_MASK

    def data(self, i=0, j=0):
        return self.u64(self.l2(i) + 8 * j) & L2_OFFSET_MASK

    def set_refcount(self, cluster, value):
        """Stores `value` as the refcount of `cluster` (any width)."""
        bits = 1 << self.order
        per_block = self.cs * 8 // bits
        block = self.u64(self.reftable + 8 * (cluster // per_block)) & ~0x1FF
        idx = cluster % per_block
        if bits >= 8:
            n = bits // 8
            self.f.seek(block + idx * n)
            self.f.write(value.to_bytes(n, "big"))
        else:
            byte = block + idx * bits // 8
            shift = (idx * bits) % 8
            self.f.seek(byte)
            b = self.f.read(1)[0]
            mask = ((1 << bits) - 1) << shift
            self.f.seek(byte)
            self.f.write(bytes([(b & ~mask) | ((value << shift) & mask)]))

    def close(self):
        self.f.close()


def zero_data(cluster=65536, refbits=16, size="16M", writes=None):
    def make(p):
        create(p, size=size, cluster=cluster, refbits=refbits, **({"writes": writes} if writes else {}))
        im = Img(p)
        im.set_refcount(im.data(0, 1) // im.cs, 0)
        im.close()
    return make


def zero_l2(p, **kw):
    create(p, **kw)
    im = Img(p)
    im.set_refcount(im.l2() // im.cs, 0)
    im.close()


def zero_l2_with(**kw):
    return lambda p: zero_l2(p, **kw)


def reftable_reserved(p):
    create(p)
    im = Img(p)
    im.put64(im.reftable, im.u64(im.reftable) | 0x100)
    im.close()


def refblock_shared(p):
    """An L2 entry pointing at the refcount block: the block is used twice."""
    create(p)
    im = Img(p)
    block = im.u64(im.reftable)
    im.put64(im.l2() + 8 * 2, COPIED | block)
    im.close()


def copied_l2_clear(p):
    create(p)
    im = Img(p)
    e = im.u64(im.l2())
    im.put64(im.l2(), e & ~COPIED)
    im.close()


def copied_l1_clear(p):
    create(p)
    im = Img(p)
    im.put64(im.l1, im.u64(im.l1) & ~COPIED)
    im.close()


def copied_shared_set(p):
    """After a snapshot the clusters are shared (refcount 2): COPIED set again on the active L1 and L2 entries."""
    create(p)
    run("qemu-img", "snapshot", "-c", "s1", p)
    im = Img(p)
    im.put64(im.l1, im.u64(im.l1) | COPIED)
    im.put64(im.l2() + 8, im.u64(im.l2() + 8) | COPIED)
    im.close()


def leak_and_copied(p):
    """A leaked cluster and a cleared COPIED flag: -r leaks fixes the flag only once the leak is gone."""
    create(p, writes=(("0x11", 0, "64k"), ("0x22", "64k", "64k"), ("0x33", "128k", "64k")))
    im = Img(p)
    im.put64(im.l2() + 16, 0)
    im.put64(im.l2(), im.u64(im.l2()) & ~COPIED)
    im.close()


def zero_and_copied(p):
    create(p)
    im = Img(p)
    im.set_refcount(im.data(0, 1) // im.cs, 0)
    im.put64(im.l2(), im.u64(im.l2()) & ~COPIED)
    im.close()


def zero_with_snapshot(p):
    """A rebuild in an image with a snapshot: shared clusters keep refcount 2, COPIED stays as it was."""
    create(p)
    run("qemu-img", "snapshot", "-c", "s1", p)
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x44 0 64k", p)
    im = Img(p)
    im.set_refcount(im.data(0, 0) // im.cs, 0)
    im.close()


# 4096 + 128 data clusters of 512 bytes and their L2 tables: with 64-bit refcounts, 70 refcount blocks, so the
# rebuilt refcount table takes two clusters.
def dirty_lazy(p):
    """lazy_refcounts=on and qemu-io killed after its writes: the dirty bit is set and refcounts are missing."""
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", p, "16M")
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 128k", "-c", "write -P 0x22 1M 64k", "-c", "sigraise 9", p],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


MANY = (("0x5a", 0, "2M"), ("0x5b", "4M", "64k"))

CASES = {
    "zero-data": zero_data(),
    "zero-l2": zero_l2,
    "zero-data-c512-r16": zero_data(cluster=512, refbits=16, size="8M", writes=MANY),
    "zero-data-c512-r1": zero_data(cluster=512, refbits=1, size="8M", writes=MANY),
    "zero-data-c512-r8": zero_data(cluster=512, refbits=8, size="8M", writes=MANY),
    "zero-data-c512-r64": zero_data(cluster=512, refbits=64, size="8M", writes=MANY),
    "zero-data-c4k-r2": zero_data(cluster=4096, refbits=2, size="64M"),
    "reftable-reserved": reftable_reserved,
    "refblock-shared": refblock_shared,
    "copied-l2-clear": copied_l2_clear,
    "copied-l1-clear": copied_l1_clear,
    "copied-shared-set": copied_shared_set,
    "leak-and-copied": leak_and_copied,
    "zero-and-copied": zero_and_copied,
    "zero-with-snapshot": zero_with_snapshot,
    "dirty-lazy": dirty_lazy,
    "zero-l2-v2": zero_l2_with(opts="compat=0.10"),
    "zero-l2-extended": zero_l2_with(opts="extended_l2=on"),
    "zero-l2-compressed": zero_l2_with(compressed=True, writes=(("0x11", 0, "64k"), ("0x22", "3M", "64k"))),
    "zero-l2-c2m": zero_l2_with(cluster=2 << 20, writes=(("0x11", 0, "64k"), ("0x22", "3M", "64k"))),
}


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    names = sys.argv[2:] or list(CASES)
    for name in names:
        p = os.path.join(d, name + ".qcow2")
        if os.path.exists(p):
            os.remove(p)
        CASES[name](p)
        print(name)


if __name__ == "__main__":
    main()
