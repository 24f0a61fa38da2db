// qemu-io compatibility of what the repl learned from QEMU's iotests and the write fuzzer: the VM state
// (write -b, read -b), open's options (backing.driver, a file named by file.filename), a read meeting an invalid
// extended L2 entry, and copy-on-read reads of an image a corruption made unusable. Same harness and checks as
// qemu-io-compat.test.ts.
import { compareWithQemuIo, type Case } from "./qemu-io-compat-harness.js";

const cases: Case[] = [
  {
    // qcow2_save_vmstate/load_vmstate: the driver's own requests at the VM state offset (past the virtual size),
    // the L1 table grown for them (EFBIG past QCOW_MAX_L1_SIZE), writethrough's flush after write -b, an empty
    // write -b as a request start and end, reads of unwritten VM state as zeros (iotests 022, 029).
    name: "write -b / read -b: the VM state past the virtual size, the L1 table grown",
    args: ["-T", "qcow2*", "-c", "write -P 1 0 4k", "-c", "info", "-c", "write -b -P 0x11 0 4k", "-c", "read -b -P 0x11 0 4k", "-c", "read -b -P 0 4k 4k", "-c", "write -b -P 5 60k 136k", "-c", "read -b -P 5 60k 136k", "-c", "write -b 0 0", "-c", "read -b -v 1T 512", "-c", "write -b 4P 4k", "-c", "write -b -P 3 1P 4k", "-c", "read -b -P 3 1P 4k", "-c", "read -P 1 0 4k", "-c", "map", "IMG"],
    check: true,
  },
  {
    name: "write -b / read -b: extended L2 subclusters, writeback, a backing file's VM state not read through, -C",
    setup: "qemu-img create -q -f qcow2 -o cluster_size=128k,extended_l2=on base.qcow2 10M && qemu-io -c 'write -b -P 0x22 0 128k' -c 'write -P 0x33 0 64k' base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -o cluster_size=128k,extended_l2=on -b base.qcow2 -F qcow2 IMG 10M",
    args: ["-t", "writeback", "-C", "-T", "qcow2*", "-c", "read -b -P 0 0 4k", "-c", "read -P 0x33 0 4k", "-c", "write -b -P 7 4k 8k", "-c", "write -b -P 8 2k 1k", "-c", "read -b -P 7 4k 8k", "-c", "read -b -P 8 2k 1k", "-c", "read -b -P 0 0 2k", "-c", "flush", "IMG"],
    check: true,
  },
  {
    // open -o backing.driver= (iotest 114): the backing node's format over the image's record of it. The image
    // says raw while its backing file is qcow2: read as raw (the QFI header), then as qcow2 (its data), a COW
    // from it; an unknown driver and a backing.driver on an image without a backing file fail as in QEMU.
    name: "open -o backing.driver=qcow2|raw overrides the backing format; unknown drivers fail",
    setup: "qemu-img create -q -f qcow2 base.qcow2 1M && qemu-io -c 'write -P 7 0 64k' base.qcow2 >/dev/null && qemu-img create -q -u -f qcow2 -b base.qcow2 -F raw IMG 1M",
    args: ["-c", "read -v 0 16", "-c", "close", "-c", "open -o backing.driver=raw IMG", "-c", "read -v 0 16", "-c", "close", "-c", "open -o backing.driver=bogus IMG", "-c", "open -o backing.driver=qcow2 DIR/base.qcow2", "-c", "read 0 1", "-c", "open -o backing.driver=qcow2 IMG", "-c", "read -P 7 0 4k", "IMG"],
  },
  {
    // The same image opened with backing.driver=qcow2 from the start (QEMU's node pointers after a close are
    // malloc's choice, so the trace starts with this open): reads and a COW through the qcow2 backing node.
    name: "open -o backing.driver=qcow2: reads and a COW through the overridden backing node (QEMU's trace)",
    setup: "qemu-img create -q -f qcow2 base.qcow2 1M && qemu-io -c 'write -P 7 0 64k' base.qcow2 >/dev/null && qemu-img create -q -u -f qcow2 -b base.qcow2 -F raw IMG 1M",
    args: ["-T", "qcow2*", "-c", "open -o backing.driver=qcow2 IMG", "-c", "read -P 7 0 4k", "-c", "write -P 8 4k 512", "-c", "read -P 7 0 4k", "-c", "read -P 8 4k 512", "-c", "read -P 7 8k 56k"],
    check: true,
  },
  {
    // count_contiguous_subclusters stops at an invalid entry past the first and the corruption report names that
    // entry's L2 index (0x1 here), not the request's first (iotest 271: cluster 1's subcluster 0 both zero and
    // allocated, read from cluster 0).
    name: "extended L2: an invalid entry found past the first cluster of a read is the one the report names",
    setup: "qemu-img create -q -f qcow2 -o extended_l2=on IMG 1M && qemu-io -c 'write -q 32k 128k' IMG && printf '\\000\\000\\000\\001' | dd of=IMG bs=1 seek=262168 conv=notrunc 2>/dev/null",
    args: ["-T", "qcow2*", "-c", "read 0 192k", "-c", "read 64k 4k", "IMG"],
  },
  {
    // open without a path: the image named by file.filename in -o, as qemu-io's open_f passes the options alone to
    // bdrv_open; QEMU's messages then name no device. With a path too, or without any file, QEMU's errors.
    name: "open -o driver=qcow2,file.filename=IMG (no path), and the errors around it",
    args: ["-c", "close", "-c", "open -r", "-c", "open -o l2-cache-size=1M", "-c", "open -o driver=qcow2", "-c", "open -o driver=qcow2,file.filename=IMG IMG", "-c", "open -o driver=qcow2,file.filename=DIR/none.qcow2", "-c", "open -o backing.driver=bogus,file.filename=IMG", "-c", "open -o driver=qcow2,file.driver=file,file.filename=IMG,l2-cache-size=1M,file.node-name=f0", "-c", "write -P 3 0 4k", "-c", "close", "-c", "open -C -r -o file.filename=IMG", "-c", "open -r -o file.filename=IMG", "-c", "read -P 3 0 4k", "IMG"],
  },
  {
    // The same with copy-on-read: a guest read of the unusable node fails with ENOMEDIUM too, where -C's path read
    // on (write fuzzer seed 290011 --vmstate, its first 16 commands, then reads).
    name: "an image made unusable by a corruption: -C reads fail with ENOMEDIUM too",
    setup: "qemu-img create -q -f qcow2 base.qcow2 16M && qemu-io -c 'write -P 0x5a 0 16k' -c 'write -P 0x6b 8M 1M' base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -o cluster_size=4096,refcount_bits=16 -b base.qcow2 -F qcow2 IMG 16M",
    stdin: "write -z 4201984 512\nwrite -P 171 16776704 512\nwrite -P 15 25600 512\nwrite -c -P 142 4096 4096\nread 4211200 512\nwrite -P 148 6656 512\nwrite -P 146 16776704 512\nwrite -z 8396288 512\nwrite -P 29 1024 512\ndiscard 5632 1536\nreopen -w\nwrite -z 4200448 512\nwrite -c -P 176 4194304 4096\nwrite -P 217 16776704 512\nread 16776704 512\nread 0 3584\nread 0 0\nread -b 12288 1536\n",
    args: ["-t", "writethrough", "-C", "IMG"],
  },
];

compareWithQemuIo("qcowdbg repl matches qemu-io 7.2: VM state, open's options, invalid and unusable images", cases);
