#!/usr/bin/env python3
"""The "never destroy a user's file" corpus: qcow2 mutants in the style of QEMU's iotest 060 (an L2 or L1 entry
pointing into the header, an L1 table, the refcount table, a refcount block, an L2 table, the snapshot table, a
snapshot's L1 table; a refcount of 0 for the header; the corrupt bit set) and what the real qemu-io 7.2 does with
a write on each: refuses (with its message and exit status) or accepts, and the resulting file's sha256.

  make-corpus.py DIR              build the mutants into DIR (one NAME.qcow2 each)
  make-corpus.py DIR --verdicts   also run qemu-io on a copy of each and print the verdicts as JSON
  make-corpus.py --golden         rewrite samples/safety/verdicts.json (exit, stdout, stderr; no digests)

Snapshot tables hold dates, so file digests are only comparable within one run (tests run both tools live);
the committed golden keeps what repeats: exit status and messages.
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

CLUSTER = 65536
WRITE = "write -P 0xaa 0 64k"


def run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def u64(f, off):
    f.seek(off)
    return struct.unpack(">Q", f.read(8))[0]


def put64(f, off, v):
    f.seek(off)
    f.write(struct.pack(">Q", v))


def layout(path):
    with open(path, "rb") as f:
        l1 = u64(f, 40)
        reftable = u64(f, 48)
        snapshots = u64(f, 64)
        l2 = u64(f, l1) & 0x00FFFFFFFFFFFE00
        refblock = u64(f, reftable) & 0xFFFFFFFFFFFFFE00
        f.seek(snapshots)
        snap_l1 = struct.unpack(">Q", f.read(8))[0] if snapshots else 0
    return {"l1": l1, "reftable": reftable, "refblock": refblock, "l2": l2, "snapshots": snapshots, "snap_l1": snap_l1}


COPIED = 1 << 63


def base(d, name, size="1M", snapshot=False):
    p = os.path.join(d, name)
    run("qemu-img", "create", "-q", "-f", "qcow2", p, size, cwd=d)
    run("qemu-io", "-c", "write -P 1 0 64k", "-c", "write -P 2 64k 64k", p, cwd=d)
    if snapshot:
        run("qemu-img", "snapshot", "-c", "s1", p, cwd=d)
        run("qemu-io", "-c", "write -P 3 0 64k", p, cwd=d)
    return p


def l2_entry_to(target_key, copied=True, snapshot=False):
    def make(d, name):
        p = base(d, name, snapshot=snapshot)
        lay = layout(p)
        with open(p, "r+b") as f:
            put64(f, lay["l2"], (COPIED if copied else 0) | lay[target_key])
        return p
    return make


def l1_entry_to(target_key):
    def make(d, name):
        p = base(d, name)
        lay = layout(p)
        with open(p, "r+b") as f:
            put64(f, lay["l1"], COPIED | lay[target_key])
        return p
    return make


def header_refcount_zero(d, name):
    """060: cluster 0 has refcount 0, so the next allocation (a new L2 table) lands on the header."""
    p = os.path.join(d, name)
    run("qemu-img", "create", "-q", "-f", "qcow2", p, "1G", cwd=d)
    run("qemu-io", "-c", "write -P 1 0 64k", p, cwd=d)
    lay = layout(p)
    with open(p, "r+b") as f:
        f.seek(lay["refblock"])
        f.write(b"\0\0")
    return p


def corrupt_bit(d, name):
    p = base(d, name)
    with open(p, "r+b") as f:
        put64(f, 72, u64(f, 72) | 2)
    return p


def clean(d, name):
    return base(d, name)


# name -> (builder, guest write, qemu-io -c options beyond the write)
MUTANTS = {
    "clean": (clean, "write -P 0xaa 0 64k"),
    "l2-to-l1": (l2_entry_to("l1"), WRITE),
    "l2-to-reftable": (l2_entry_to("reftable"), WRITE),
    "l2-to-refblock": (l2_entry_to("refblock"), WRITE),
    "l2-to-own-l2": (l2_entry_to("l2"), WRITE),
    "l2-to-l1-not-copied": (l2_entry_to("l1", copied=False), WRITE),
    "l2-to-snapshot-table": (l2_entry_to("snapshots", snapshot=True), WRITE),
    "l2-to-snapshot-l1": (l2_entry_to("snap_l1", snapshot=True), WRITE),
    "l1-to-l1": (l1_entry_to("l1"), WRITE),
    "l1-to-reftable": (l1_entry_to("reftable"), WRITE),
    "header-refcount-zero": (header_refcount_zero, "write -P 0xbb 600M 64k"),
    "corrupt-bit": (corrupt_bit, WRITE),
}

# Mutants also written with another overlap-check mode: (mutant, mode).
MODES = [("l2-to-refblock", "constant"), ("l2-to-l1", "none"), ("l2-to-own-l2", "constant")]


def build(d):
    for name, (make, _) in MUTANTS.items():
        make(d, name + ".qcow2")


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def qemu_verdict(d, name, mode=None):
    """qemu-io on a copy: exit status, stdout (timing lines dropped), stderr, and the resulting file's digest."""
    src = os.path.join(d, name + ".qcow2")
    work = tempfile.mkdtemp(dir=d)
    img = os.path.join(work, name + ".qcow2")
    shutil.copyfile(src, img)
    cmd = MUTANTS[name][1]
    if mode:
        args = ["qemu-io", "--image-opts", "-c", cmd, "-c", "read 0 512", f"driver=qcow2,file.filename={img},overlap-check={mode}"]
    else:
        args = ["qemu-io", "-c", cmd, "-c", "read 0 512", img]
    r = subprocess.run(args, cwd=work, capture_output=True, text=True)
    out = [l for l in r.stdout.splitlines() if "ops/sec" not in l]
    verdict = {"exit": r.returncode, "stdout": out, "stderr": r.stderr.replace(img, "IMG").splitlines(), "sha256": sha(img),
               "command": cmd, "mode": mode or "cached"}
    shutil.rmtree(work)
    return verdict


def verdicts(d):
    out = {}
    for name in MUTANTS:
        out[name] = qemu_verdict(d, name)
    for name, mode in MODES:
        out[f"{name}@{mode}"] = qemu_verdict(d, name, mode)
    return out


def main():
    args = sys.argv[1:]
    if args == ["--golden"]:
        d = tempfile.mkdtemp()
        build(d)
        v = verdicts(d)
        for x in v.values():
            del x["sha256"]
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "verdicts.json"), "w") as f:
            json.dump(v, f, indent=1, sort_keys=True)
            f.write("\n")
        shutil.rmtree(d)
        return
    if not args:
        sys.exit(__doc__)
    d = args[0]
    os.makedirs(d, exist_ok=True)
    build(d)
    if "--verdicts" in args:
        json.dump(verdicts(d), sys.stdout, indent=1, sort_keys=True)


main()
