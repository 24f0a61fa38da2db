// qemu-io compatibility: the same command scripts (-c and stdin) through the real qemu-io 7.2 and through
// `qcowdbg repl --write`, on two copies of one image. stdout, stderr, the exit status (or the signal) and the
// resulting image bytes must be equal; only timing figures ("00.01 sec (...)", -C's columns) are normalised,
// and QEMU's coroutine pointers in -T trace lines. AIO requests are drained (aio_flush) before another one that
// does I/O is submitted: the completion order of requests in flight together depends on QEMU's I/O timing.
// Where qcowdbg refuses a qemu-io feature it does not model, the refusal itself is held: one stderr line, exit
// status 1, the image untouched by that command.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";
import { CLI, ROOT, compareWithQemuIo, hasQemu, normalise, runBoth, type Case } from "./qemu-io-compat-harness.js";

const cases: Case[] = [
  {
    name: "read/write patterns, mismatch, unknown command, aliases",
    args: ["-c", "write -P 0x11 0 4k", "-c", "read -P 0x11 0 4k", "-c", "read -P 0x12 0 512", "-c", "foo", "-c", "w -P 7 64k 1k", "-c", "r -P 7 64k 1k", "-c", "l", "-c", "a 0 8k", "-c", "d 0 64k", "-c", "f", "-c", "read -v 60k 40", "IMG"],
  },
  {
    name: "write -s FILE (cyclic), missing and empty files",
    setup: "printf 'abcdefg' > pat.txt; : > empty.txt",
    args: ["-c", "write -s DIR/pat.txt 100 1000", "-c", "read -v 96 48", "-c", "write -s DIR/none.txt 0 1", "-c", "write -s DIR/empty.txt 0 1", "-c", "write -s DIR/pat.txt -P 1 0 1", "IMG"],
  },
  {
    name: "read -l LEN -s SKIP -P, ranges and usage",
    args: ["-c", "write -P 1 0 4k", "-c", "read -l 512 -s 512 -P 1 0 4k", "-c", "read -s 4000 -P 1 0 4k", "-c", "read -l 512 -s 4000 -P 1 0 4k", "-c", "read -l 512 0 4k", "-c", "read -s 1k -l 1k -P 0 2k 4k", "IMG"],
  },
  {
    name: "-p is accepted and ignored; option parsing and argument errors",
    args: ["-c", "read -p -P 0xcd 0 4k", "-c", "write -p 0 4k", "-c", "read -p -P 0xcd 0 4k", "-c", "read -x 0 1", "-c", "read -P", "-c", "read 0", "-c", "read 0 1x", "-c", "read -P 256 0 1", "-c", "write 0 3G", "-c", "writev 0 3G", "-c", "read 0x10 1.5k", "-c", "write 0 4k -P 9", "-c", "read -P 9 0 4k", "-c", "read 0x1k 0x1k", "-c", "alloc 1088 1", "-c", "alloc 1.k 1", "-c", "alloc 99999999999999999999 1", "-c", "alloc 8E 1", "IMG"],
  },
  {
    name: "write -z -u -n -f -c and their conflicts",
    args: ["-c", "write -P 3 0 128k", "-c", "write -z -n 100 1000", "-c", "write -z -n 64k 64k", "-c", "write -z -u 0 64k", "-c", "write -f -P 4 128k 4k", "-c", "write -c -P 5 192k 64k", "-c", "write -u 0 1", "-c", "write -n 0 1", "-c", "write -z -P 1 0 1", "-c", "write -b -z 0 512", "-c", "write -c -f 0 512", "-c", "write -c 1 512", "-c", "map", "IMG"],
  },
  {
    name: "vectored and aio requests, failures as writev/readv failed, aio_flush",
    args: ["-c", "writev -P 2 0 1k 3k", "-c", "readv -P 2 0 2k 2k", "-c", "readv -P 3 0 512", "-c", "writev 1M 512", "-c", "readv 1M 512", "-c", "aio_write -P 6 8k 4k", "-c", "aio_flush", "-c", "aio_read -P 6 8k 4k", "-c", "aio_flush", "-c", "aio_read -P 7 8k 4k", "-c", "aio_flush", "-c", "aio_write -z 8k 4k", "-c", "aio_flush", "-c", "aio_write 2M 512", "-c", "aio_flush", "-c", "aio_write -i 0 1", "IMG"],
  },
  {
    name: "-C statistics and -q",
    args: ["-c", "write -C 0 4k", "-c", "read -C -q 0 4k", "-c", "discard -C 0 64k", "IMG"],
  },
  {
    name: "alloc, map, length over a backing chain, size texts",
    setup: "qemu-img create -q -f qcow2 base.qcow2 3073k && qemu-io -c 'write -P 1 0 192k' -c 'write -z 1M 64k' base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 IMG 3073k",
    create: [],
    // (A zero write over the backing file's data is left to the engine's oracle tests: issue 15 class 2.)
    args: ["-c", "write -P 2 64k 64k", "-c", "write -P 3 2M 1k", "-c", "alloc 0", "-c", "alloc 0 4M", "-c", "alloc 1.5k 1M", "-c", "alloc 5M", "-c", "map", "-c", "length", "-c", "read -P 1 0 64k", "-c", "read -P 2 64k 64k", "IMG"],
  },
  {
    name: "info and help",
    args: ["-c", "info", "-c", "i", "-c", "help", "-c", "?", "-c", "help read", "-c", "help write", "-c", "help open", "-c", "help alloc", "-c", "help nothere", "IMG"],
  },
  {
    name: "info on a v2 image",
    create: ["-o", "compat=0.10", "16M"],
    args: ["-c", "info", "-c", "length", "IMG"],
  },
  {
    name: "open, close and their aliases; no image at start",
    args: ["-c", "read 0 1", "-c", "open IMG", "-c", "w 0 512", "-c", "open IMG", "-c", "c", "-c", "o -r IMG", "-c", "w 0 1", "-c", "c", "-c", "open DIR/none.qcow2", "-c", "o IMG", "-c", "r -P 0xcd 0 512"],
  },
  {
    name: "-r: writes fail on the read-only node",
    args: ["-r", "-c", "write 0 512", "-c", "discard 0 64k", "-c", "read 0 512", "-c", "flush", "IMG"],
  },
  {
    name: "-n, -t/--cache MODE, -f qcow2",
    args: ["-n", "-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "flush", "-c", "read -P 1 0 64k", "IMG"],
  },
  {
    name: "open -t/-n: the reopened image's own cache mode (open's default is writethrough whatever -t said)",
    args: ["-t", "writeback", "-T", "qcow2_cache_flush", "-c", "write 0 64k", "-c", "c", "-c", "open IMG", "-c", "write 64k 64k", "-c", "c", "-c", "open -t writeback IMG", "-c", "write 128k 64k", "-c", "c", "-c", "open -t bogus IMG", "-c", "open -n IMG", "-c", "write 192k 64k", "IMG"],
  },
  {
    name: "open -o with qcow2's cache options",
    args: ["-T", "qcow2_cache_get_replace_entry", "-c", "c", "-c", "open -o driver=qcow2,l2-cache-size=128k IMG", "-c", "write 0 64k", "-c", "write 600M 64k", "-c", "write 64k 64k", "-c", "read -P 0xcd 0 128k", "IMG"],
    create: ["2G"],
  },
  { name: "--cache=writeback", args: ["--cache=writeback", "-c", "write 0 64k", "-c", "flush", "IMG"] },
  { name: "-t unsafe", args: ["-t", "unsafe", "-c", "write 0 64k", "-c", "write 1M 4k", "IMG"] },
  {
    name: "--image-opts",
    args: ["--image-opts", "-c", "write -P 8 0 64k", "-c", "read -P 8 0 64k", "driver=qcow2,file.filename=IMG"],
  },
  {
    // The top node's cache options do not reach the backing node: it keeps QEMU's default L2 cache (whole 64 KiB
    // tables), where inheriting l2-cache-size=8k made qcowdbg load 4 KiB slices of the backing file's L2 table.
    name: "--image-opts cache sizes apply to the top node only, not its backing file",
    setup: "qemu-img create -q -f qcow2 base.qcow2 256M && qemu-io -c 'write -P 1 0 16k' -c 'write -P 2 128M 1M' base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -o cluster_size=4k -b base.qcow2 -F qcow2 IMG 256M",
    args: ["--image-opts", "-T", "qcow2_cache_get", "-c", "read 268434944 512", "-c", "read -P 2 128M 64k", "-c", "write -P 3 4k 4k", "-c", "read -P 1 0 4k", "driver=qcow2,file.filename=IMG,l2-cache-size=8k,refcount-cache-size=16k"],
  },
  {
    // Without BDRV_O_UNMAP a guest discard does nothing (found by the write fuzzer); a zero write still unmaps.
    name: "-d ignore: discards are no-ops, write -z -u still unmaps",
    args: ["-d", "ignore", "-T", "qcow2*", "-c", "write -P 1 0 192k", "-c", "discard 0 64k", "-c", "write -z -u 64k 64k", "-c", "read -P 1 0 64k", "-c", "read -P 0 64k 64k", "-c", "map", "IMG"],
  },
  {
    name: "-T trace patterns on stderr",
    args: ["-t", "writeback", "-T", "qcow2_writev*", "-c", "write 0 4k", "-c", "nope", "-c", "write 64k 4k", "IMG"],
  },
  {
    name: "stdin: the qemu-io> prompt, blank lines, quit",
    stdin: "write -P 5 0 64k\nread -P 5 0 64k\n\nnope\nread -P 6 0 512\nclose\nread 0 1\nopen IMG\nr -P 5 0 1\nq\nread 0 1\n",
    args: ["IMG"],
  },
  { name: "stdin ending without quit", stdin: "write 0 1\nlength", args: ["IMG"] },
  {
    // An AIO request that waits for I/O completes at the next drain (aio_flush, close, exit), after the prompts
    // read meanwhile; one that fails at submission completes in a bottom half when qemu-io next waits for a line.
    name: "stdin: AIO completions print where qemu-io prints them (after the next prompt)",
    stdin: "aio_write -P 3 1M 4k\naio_flush\nread -P 3 1M 4k\naio_write -P 4 64k 64k\nlength\naio_flush\naio_write 8M 4k\nlength\naio_write -P 5 128k 4k\nclose\nopen IMG\naio_write -P 6 192k 4k\nquit\n",
    args: ["IMG"],
  },
  {
    name: "-c: AIO completions print at the next drain",
    args: ["-c", "aio_write -P 3 1M 4k", "-c", "length", "-c", "aio_flush", "-c", "aio_write 8M 4k", "-c", "length", "-c", "aio_write -P 4 0 4k", "-c", "read -P 0 2M 4k", "IMG"],
  },
  {
    name: "sleep, abort, blkdebug commands",
    args: ["-c", "sleep 10", "-c", "sleep x", "-c", "break write_aio a", "-c", "remove_break a", "-c", "resume a", "-c", "write 0 1", "-c", "abort", "-c", "read 0 1", "IMG"],
  },
  { name: "sigraise flushes stdout first", args: ["-c", "write 0 1", "-c", "sigraise 15", "IMG"] },
  {
    // iotest 039: lazy refcounts left the image dirty (qemu-io killed); a read-write open runs the check with
    // repairs first (its messages on stderr, the refcount structure rebuilt), so later allocations see the repaired refcounts.
    name: "a dirty image is repaired when opened read-write, then written",
    setup: "qemu-img create -q -f qcow2 -o compat=1.1,lazy_refcounts=on,cluster_size=4k IMG 8M && (qemu-io -c 'write -P 0x5a 0 512' -c 'write -P 0x5b 1M 12k' -c 'write -P 0x5c 6M 4k' -c 'sigraise 9' IMG >/dev/null 2>&1; true)",
    args: ["-c", "read -P 0x5b 1M 12k", "-c", "write -P 7 2M 8k", "-c", "write 0 512", "-c", "read -P 0x5c 6M 4k", "-c", "map", "IMG"],
    check: true,
  },
  {
    // iotest 137: entries counted in an int, a cache no process can allocate, qemu_strtou64's wrap of -1.
    name: "reopen: cache sizes too big or unallocatable, cache-clean-interval bounds",
    create: ["64M"],
    args: ["-c", "reopen -o refcount-cache-size=256T", "-c", "reopen -o refcount-cache-size=64T", "-c", "reopen -o cache-clean-interval=-1", "-c", "reopen -o cache-clean-interval=4294967296", "-c", "reopen -o cache-clean-interval=18446744073709551616", "-c", "reopen -o cache-clean-interval=abc", "-c", "reopen -o cache-clean-interval=0x1000", "-c", "write 0 4k", "IMG"],
  },
  {
    // iotest 133: node names and the children's drivers may be repeated by a reopen, not changed.
    name: "reopen: node-name and driver of the node and its children, auto-read-only",
    setup: "qemu-img create -q -f qcow2 base.qcow2 1M && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 IMG 1M",
    args: ["-c", "reopen -o file.node-name=foo", "-c", "reopen -o backing.node-name=foo", "-c", "reopen -o node-name=foo", "-c", "reopen -o file.driver=qcow2", "-c", "reopen -o backing.driver=file", "-c", "reopen -o driver=qcow2,file.driver=file,backing.driver=qcow2", "-c", "reopen -o auto-read-only=on", "-c", "reopen -o auto-read-only=x", "-c", "close", "-c", "open -o node-name=top,file.node-name=f,backing.node-name=b IMG", "-c", "reopen -o node-name=top,file.node-name=f,backing.node-name=b", "-c", "reopen", "-c", "reopen -o backing.node-name=c", "-c", "write -P 3 0 4k", "-c", "read -P 3 0 4k", "IMG"],
  },
  {
    name: "a dirty image opened read-only is read as it is, unrepaired",
    setup: "qemu-img create -q -f qcow2 -o compat=1.1,lazy_refcounts=on IMG 1M && (qemu-io -c 'write -P 0x5a 0 512' -c 'sigraise 9' IMG >/dev/null 2>&1; true)",
    args: ["-r", "-c", "read -P 0x5a 0 512", "-c", "write 0 512", "IMG"],
  },
  {
    name: "-C copy-on-read over a backing file (data, zero and unallocated clusters; partial last cluster)",
    setup: "qemu-img create -q -f qcow2 base.qcow2 4100k && qemu-io -c 'write -P 1 0 100k' -c 'write -P 2 1M 64k' -c 'write -z 2M 64k' -c 'write -P 3 4090k 10k' base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 IMG 4100k",
    args: ["-C", "-c", "read -P 1 0 4k", "-c", "read -P 0 200k 4k", "-c", "read 1000k 100k", "-c", "read -P 0 2M 4k", "-c", "readv 3M 4k 4k", "-c", "read -P 3 4090k 10k", "-c", "map", "IMG"],
  },
  {
    // An allocated part of a copy-on-read request is read straight into the guest buffer, at its offset there
    // (add_task's qiov_offset); found by the write fuzzer.
    name: "-C: a read that starts in a cluster to copy and goes on into an allocated one",
    setup: "qemu-img create -q -f raw base.raw 1M && qemu-io -f raw -c 'write -P 7 0 1M' base.raw >/dev/null && qemu-img create -q -f qcow2 -b base.raw -F raw IMG 1M",
    args: ["-C", "-T", "qcow2_add_task", "-c", "write -P 1 256k 64k", "-c", "read -P 7 251k 5k", "-c", "read 257024 34304", "-c", "read -P 1 262144 29184", "-c", "map", "IMG"],
  },
  {
    // O_DIRECT pads the compressed data that ends the file to 512 bytes (found by the write fuzzer).
    name: "-n: compressed writes at the end of the file, padded by O_DIRECT",
    args: ["-n", "-c", "write -P 5 128k 4k", "-c", "write -c -P 3 0 64k", "-c", "write -c -P 4 64k 64k", "-c", "read -P 4 64k 64k", "IMG"],
  },
  {
    // A node with copy-on-read cannot go read-only (bdrv_can_set_read_only); found by the write fuzzer.
    name: "-C: reopen -r is refused, after the node's flush",
    setup: "qemu-img create -q -f raw base.raw 1M && qemu-img create -q -f qcow2 -b base.raw -F raw IMG 1M",
    args: ["-C", "-T", "qcow2_cache_flush", "-c", "write -P 1 0 4k", "-c", "reopen -r", "-c", "write -P 2 4k 4k", "-c", "reopen -w", "IMG"],
  },
  {
    // Turning O_DIRECT on by a reopen probes a 4 KiB request alignment (it is 512 bytes when opened so): a
    // 512-byte cluster written at the end then leaves the file 4 KiB aligned (found by the write fuzzer).
    name: "reopen -c none: 512-byte clusters written at the end pad the file to 4 KiB",
    create: ["-o", "cluster_size=512", "1M"],
    args: ["-c", "reopen -c none", "-c", "write -P 1 0 512", "-c", "write -P 2 64k 512", "-c", "reopen -c writeback", "-c", "write -P 3 128k 512", "-c", "reopen -c directsync", "-c", "write -P 4 192k 512", "IMG"],
  },
  {
    // The block layer pads an O_DIRECT write to whole 4 KiB blocks: an overwrite inside the file's last, partial
    // block grows the file to the boundary although the write itself ends inside it (write fuzzer, seed 60286).
    name: "reopen -c none: an overwrite in the last, partial 4 KiB block pads the file to 4 KiB",
    setup: "qemu-img create -q -f qcow2 -o cluster_size=512 IMG 1M && qemu-io -c 'write -P 1 0 512' -c 'write -P 2 64k 512' -c 'write -P 4 1k 512' IMG >/dev/null",
    args: ["-c", "reopen -c none", "-c", "write -P 3 1k 512", "-c", "read -P 3 1k 512", "IMG"],
  },
  {
    // A reopen that keeps O_DIRECT on probes the alignment again and finds 512 bytes: after `reopen -w` a cluster
    // allocated at the end is no longer padded to 4 KiB (write fuzzer, seed 70279).
    name: "reopen -c none then reopen -w: the alignment is probed again (512 B), writes at the end no longer pad to 4 KiB",
    create: ["-o", "cluster_size=512", "1M"],
    args: ["-c", "reopen -c none", "-c", "write -P 1 0 512", "-c", "reopen -w", "-c", "write -P 2 64k 512", "-c", "write -c -P 3 128k 512", "-c", "reopen -c none", "-c", "write -P 4 192k 512", "IMG"],
  },
  {
    // After `reopen -c none` the file's 4 KiB alignment makes the NO_FALLBACK zero write of a subcluster-sized COW
    // region fail, so QEMU copies on write instead of skipping (found by the write fuzzer, seed 50070).
    name: "reopen -c none on extended L2: COW regions off the 4 KiB alignment are copied, not zeroed",
    create: ["-o", "extended_l2=on", "4M"],
    args: ["-T", "qcow2*", "-c", "reopen -c none", "-c", "write -P 1 1k 1k", "-c", "write -P 2 1M 8k", "-c", "reopen -c writeback", "-c", "write -P 3 2M 1k", "IMG"],
  },
  {
    name: "-C without a backing file, and open -C / open -r -C",
    args: ["-t", "writeback", "-C", "-c", "read 0 64k", "-c", "read 100k 200k", "-c", "c", "-c", "open -r -C IMG", "-c", "open -C IMG", "-c", "read 960k 64k", "-c", "map", "IMG"],
  },
  {
    name: "-r then reopen -w / -r: a read-only node's flush does nothing, its close writes only clean caches back",
    check: true,
    args: ["-r", "-T", "qcow2*", "-c", "read 0 4k", "-c", "flush", "-c", "write 0 4k", "-c", "reopen -w", "-c", "write -P 5 0 4k", "-c", "reopen -r", "-c", "read -P 5 0 4k", "-c", "close", "-c", "open -r IMG", "-c", "reopen -w", "-c", "write 64k 4k", "IMG"],
  },
  { name: "-U with -r: a shared read-only open", args: ["-U", "-r", "-c", "read -P 0 0 512", "-c", "length", "IMG"] },
  {
    name: "truncate: grow within the L1 table and past it, shrink, QEMU's trace line for line",
    check: true,
    args: ["-T", "qcow2*", "-c", "write -P 1 0 4k", "-c", "truncate 128M", "-c", "write -P 2 100M 4k", "-c", "truncate 2G", "-c", "write -P 3 1500M 4k", "-c", "length", "-c", "truncate 1M", "-c", "read -P 1 0 4k", "-c", "t 64M", "-c", "read -P 0 100M 4k", "-c", "map", "IMG"],
  },
  {
    name: "truncate errors and argument handling (exit status 1)",
    check: true,
    args: ["-c", "truncate", "-c", "truncate -m bogus 2M", "-c", "truncate 1x", "-c", "truncate 1000", "-c", "truncate -x 1", "-c", "truncate 1M 2M", "-c", "truncate 8E", "-c", "truncate -m off 1x", "-c", "length", "IMG"],
  },
  {
    name: "truncate over a longer backing file: zero clusters and an unaligned head of zeroes",
    check: true,
    setup: "qemu-img create -q -f qcow2 base.qcow2 4M && qemu-io -c 'write -P 7 0 4M' base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 IMG 1025k",
    args: ["-T", "qcow2*", "-c", "truncate 3M", "-c", "read -P 7 1M 1k", "-c", "read -P 0 1025k 4k", "-c", "truncate 1536k", "-c", "truncate 3073k", "-c", "read -P 0 1536k 1537k", "-c", "map", "IMG"],
  },
  {
    name: "truncate with O_DIRECT (-t none): the new L1 table's write is padded to 512 bytes, as the block layer pads it",
    check: true,
    create: ["-o", "cluster_size=512", "64M"],
    args: ["-t", "none", "-c", "write -P 1 0 4k", "-c", "truncate 67109376", "-c", "write -P 2 64M 512", "-c", "read -P 2 64M 512", "IMG"],
  },
  {
    name: "truncate on extended L2",
    check: true,
    create: ["-o", "extended_l2=on", "1M"],
    args: ["-T", "qcow2*", "-c", "write -P 1 0 4k", "-c", "truncate 2G", "-c", "write -P 2 1500M 4k", "-c", "truncate 5k", "-c", "truncate 1M", "-c", "read -P 1 0 4k", "-c", "read -P 0 4k 4k", "IMG"],
  },
  {
    name: "truncate a v2 image with 512-byte clusters",
    check: true,
    create: ["-o", "compat=0.10,cluster_size=512", "1M"],
    args: ["-T", "qcow2*", "-c", "write 0 4k", "-c", "truncate 6M", "-c", "write 5M 4k", "-c", "truncate 2M", "-c", "length", "IMG"],
  },
  {
    // A read split into chunks runs each in a pooled task; a task reading the qcow2 backing node yields at that
    // node's L2 cache miss, the request goes on with its next chunks (a third one waits for the backing node's
    // lock), and the backing node's get_done comes only when the request waits for its tasks (fuzzer 60190, 80102).
    name: "a pooled read over a qcow2 backing file: the backing node's cache miss yields, QEMU's trace line for line",
    check: true,
    setup: "qemu-img create -q -f qcow2 base.qcow2 1M && qemu-io -c 'write -P 5 0 1M' base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 IMG 1M",
    create: [],
    args: ["-T", "qcow2*", "-c", "write -P 1 64k 64k", "-c", "read 0 192k", "-c", "read -P 5 128k 64k", "IMG"],
  },
  {
    // QEMU reads with O_DIRECT under directsync, leaving a cluster's fallocated (unwritten) part a hole to SEEK_DATA;
    // a buffered read would put zero pages in the host cache and make it data. With metadata preallocation detected
    // (this sparse 2 MiB-cluster file), the last zero write's is_zero asks the file and finds the tail zero, so QEMU
    // looks the cluster up once more before falling back (write fuzzer seed 70226, its first 19 commands).
    name: "directsync: reads leave unwritten extents holes for a later zero write's is_zero, QEMU's trace line for line",
    check: true,
    create: ["-o", "cluster_size=2M,refcount_bits=8,compression_type=zstd", "16M"],
    stdin: "write -c -P 9 8388608 2097152\nwrite -P 159 9698304 1380864\nwrite -c -P 223 6291456 2097152\nwrite -P 246 7024128 275456\nwrite -z -u 4486656 2466816\nwrite -z 11617792 2386944\nwrite -z 1297920 1494016\nwrite -P 148 14602240 1207296\nflush\nwrite -c -P 28 14680064 2097152\nwrite -P 31 16776704 512\nwrite -z 11283968 793088\nread 13314560 1528832\nwrite -P 175 16776704 512\nwrite -c -P 89 14680064 2097152\nwrite -z 16776704 512\nwrite -P 142 4371456 1221632\nwrite -c -P 245 14680064 2097152\nwrite -z -u 12154368 1683968\n",
    args: ["-t", "directsync", "-T", "qcow2*", "--image-opts", "driver=qcow2,file.filename=IMG,l2-cache-size=128k,refcount-cache-size=8M"],
  },
  {
    // The same under directsync with copy-on-read: a buffered read also reads ahead, and the pages it brings in past
    // its range (here the zero-filled, unwritten rest of a cluster whose COW was skipped) make SEEK_DATA call them
    // data. QEMU's O_DIRECT read brings in nothing, so the last zero write's is_zero finds the head's first pages a
    // hole and looks the cluster up a second time before falling back (write fuzzer seed 170193, its first 117
    // commands).
    name: "directsync: reads do not read ahead into unwritten extents, QEMU's trace line for line",
    check: true,
    setup: "qemu-img create -q -f raw base.raw 256M && qemu-io -f raw -c 'write -P 0x5a 0 256k' -c 'write -P 0x6b 128M 1M' base.raw >/dev/null && qemu-img create -q -f qcow2 -o cluster_size=64k,refcount_bits=8,lazy_refcounts=on -b base.raw -F raw IMG 256M",
    create: [],
    stdin: "write -c -P 61 67108864 65536\nwrite -P 103 268216320 1536\nread 268282368 13312\nwrite -P 70 499200 20992\nflush\nwrite -P 162 268367872 512\nwrite -z 134299136 45056\nwrite -z 67322880 12800\nwrite -P 111 268394496 38912\nwrite -P 47 134427648 31744\nwritev -P 153 67565056 512 512\naio_flush\nwritev -P 18 67171840 512 1024\naio_flush\nwrite -P 101 67202560 17920\nwrite -z -u 67302400 512\nwrite -z -u 134713344 27648\ndiscard 134691328 28672\nwrite -P 169 268434944 512\nwrite -P 178 134542336 2048\nwrite -P 147 155136 30208\nwrite -z 67310592 59392\ndiscard 134648320 11776\nread 67476480 6656\nwrite -P 130 268434944 512\nwrite -P 76 134481920 17408\ndiscard 134347776 512\nwrite -P 135 67615232 4096\nwrite -P 65 67568640 21504\nread 67458048 6144\nwrite -P 197 67518976 32768\nread 507904 8192\nflush\nwrite -P 97 134341632 2560\nwrite -c -P 118 268369920 65536\nread 67287552 8704\nwrite -P 145 134309376 17408\nflush\nwrite -P 152 67320320 48640\ndiscard 134263296 10752\nread 134364160 21504\nread 268320768 5632\ntruncate 536870912\nwrite -z 523776 512\nwrite -P 224 268425216 1536\nwrite -z -u 376320 3584\ndiscard 268279296 17408\nwrite -P 73 134276096 512\nwrite -P 155 67603968 24064\nread 268322304 43520\ndiscard 268213248 8192\nwrite -z -u 230400 512\nwrite -P 84 67352064 7680\nwrite -P 184 330240 13312\nwrite -P 213 268434944 512\nwrite -P 99 134144 28160\nwrite -P 19 67220480 512\nwrite -c -P 37 268369920 65536\nwrite -P 32 67508736 34816\nwrite -P 109 370176 15872\nflush\nwrite -P 42 268434944 512\ndiscard 121344 9216\nwrite -P 41 134426624 5120\nflush\nwrite -P 60 268434944 512\nwrite -z -u 268434944 512\nread 67446784 5632\nwrite -c -P 83 134676480 65536\nwrite -P 18 67365888 4608\nwrite -P 118 67458048 10240\nflush\nwrite -P 248 134318592 11264\nreopen -o lazy-refcounts=on\nwrite -P 102 67212288 23552\nread 134600704 3584\nwrite -z -u 134227456 24064\nwrite -P 248 67361280 2560\nwritev -P 29 268337664 6656 7168\naio_flush\nwrite -z 268434944 512\ndiscard 97792 25088\nread 210432 5632\nread 268434944 512\nwrite -z 268368896 512\naio_write -P 104 268434944 512\naio_flush\nwrite -z 189952 3584\nwrite -c -P 6 268369920 65536\nwrite -P 20 134452224 9728\nread 134555136 51712\nread 268199936 36864\nwrite -P 56 152576 40960\nwrite -P 144 40448 5120\nread 337920 51200\nwrite -z -u 7168 25088\nwrite -z 158208 11776\nread 67119104 32256\nwrite -P 143 67212800 8704\nwrite -P 219 134258176 6144\nread 58368 3072\nwrite -P 131 268434944 512\ntruncate 134217728\nwrite -P 24 134331904 16384\nread 134542848 2048\nwrite -P 204 134672384 512\nread 268303872 512\nread 75264 49152\nwrite -P 177 134446592 6656\nread 420352 14336\ndiscard 134360064 31232\nread 268434944 512\nwrite -P 38 134366208 33792\nread 134651904 8704\nreopen -o lazy-refcounts=on\nread 268434944 512\nwrite -z 67472896 3584\n",
    args: ["-t", "directsync", "-C", "-T", "qcow2*", "--image-opts", "driver=qcow2,file.filename=IMG,l2-cache-size=128k,refcount-cache-size=256k"],
  },
  {
    // A write's two chunks both copy on write out of compressed clusters: chunk 1's COW read then waits again for
    // the thread pool's decompression, so chunk 2's data write is submitted and completes first and its link_l2
    // comes before chunk 1's L2 update and the compressed cluster's free (strace of qemu-io; write fuzzer seed 70228).
    name: "COW out of compressed clusters in two chunks: decompression is one more wait, QEMU's trace line for line",
    check: true,
    create: ["-o", "cluster_size=2M,refcount_bits=2,extended_l2=on", "64M"],
    args: ["-t", "writeback", "-T", "qcow2*", "-c", "write -c -P 178 62914560 2097152", "-c", "write -P 135 67108352 512", "-c", "write -c -P 36 65011712 2097152", "-c", "write -P 144 63467520 2088448", "-c", "read -P 178 62914560 552960", "IMG"],
  },
  {
    // A compressed write's overlap check marks the image corrupt (bs->drv NULL); after the truncate, writes past the
    // new end fail with "No medium found", as blk_check_byte_request asks for the medium before the range (write
    // fuzzer seed 130125, its first 74 commands).
    name: "an image made unusable by a corruption: requests past its end fail with ENOMEDIUM, not EIO",
    check: true,
    create: ["-o", "cluster_size=512,refcount_bits=32", "64M"],
    stdin: "write -c -P 19 67106816 512\nflush\nwrite -P 132 67106816 512\nwrite -z 16780288 512\nwrite -z 33555456 512\nwrite -P 14 16777728 512\ntruncate 134217728\nwrite -P 135 16779776 512\nwrite -P 102 0 512\nread 1536 512\nwrite -P 32 16780288 512\nwrite -P 80 16778240 512\nwrite -z -u 16778752 512\nread 67108352 512\nread 33554944 512\nwrite -P 109 67107328 512\nwrite -P 158 3584 512\naio_write -P 56 16778240 512\naio_flush\nwrite -z -u 16778240 512\ndiscard 16780800 512\nwrite -P 239 512 512\ndiscard 33555968 512\nwrite -z 33556992 512\nwrite -z 16778240 512\nwrite -P 109 33556480 512\nwrite -z 1024 512\nflush\nwrite -P 231 33555968 512\nwrite -P 146 16779264 512\nflush\nwrite -P 195 33556992 512\nwrite -z -u 16778240 512\ndiscard 0 512\nread 67108352 512\nwrite -P 224 2048 512\nwrite -P 158 3584 512\nwrite -P 10 2048 512\nwrite -P 26 67106816 512\nwrite -P 185 33554944 512\nwrite -z 16780288 512\nwrite -z -u 3072 512\ndiscard 33555968 512\nwrite -c -P 89 2048 512\ndiscard 1536 512\nwrite -P 146 16779776 512\nwrite -c -P 87 16779776 512\nwrite -P 246 16777216 512\nread 33557504 512\nwrite -z -u 67108352 512\nwrite -P 82 67108352 512\nwrite -P 112 67108352 512\nwrite -P 175 33556992 512\ndiscard 3072 512\nwrite -P 145 67108352 512\nread 3584 512\nread 67108352 512\nflush\nwrite -z 67108352 512\nwrite -z -u 0 512\nwrite -z -u 67108352 512\nwrite -P 89 0 512\nwrite -z -u 67108352 512\nwrite -P 184 16779264 512\nwrite -P 146 67108352 512\nread 16779776 512\nwrite -P 180 67107328 512\nwrite -c -P 139 67107328 512\nwrite -z 16777216 512\ntruncate 33554432\nwrite -c -P 225 2560 512\nwrite -z -u 16777728 512\nwrite -z -u 33555968 512\nwrite -P 64 33556992 512\n",
    args: ["-t", "unsafe", "IMG"],
  },
  {
    // QEMU 7.2 reads and decompresses a compressed cluster on every read (no cache): here a cluster compressed at
    // the host offset of one compressed, read and freed earlier is copied on write by the last zero write, and a
    // decompressed cluster we had kept by host offset put the old data in the image (write fuzzer seed 130007, its
    // first 61 commands).
    name: "a compressed cluster at the host offset of an earlier, freed one: COW copies its own data",
    check: true,
    create: ["-o", "cluster_size=64k,refcount_bits=1,extended_l2=on", "64M"],
    stdin: "write -c -P 158 33619968 65536\ndiscard 33724416 2048\nwrite -P 173 33861120 15360\nwrite -P 46 33845760 14336\nwrite -P 157 67108352 512\nflush\nwrite -P 67 33577472 37376\nflush\nwrite -z -u 66910208 512\nwrite -P 133 34021888 43520\nwrite -P 95 16789504 31232\nread 66894848 8192\nread 33624064 35840\nwrite -z 388096 3584\ndiscard 34011136 1536\nread 17166336 1024\nwrite -z -u 33867776 6656\ndiscard 505856 8704\nwrite -z 33561088 58368\ntruncate 67128832\nwrite -P 85 33848832 30208\nwrite -z -u 66969600 512\ndiscard 17232896 512\nwrite -z 16962560 3584\nread 66854912 32768\nread 67108352 512\nwrite -z -u 66993152 6144\nwrite -P 158 33695744 29184\nwrite -c -P 155 0 65536\nwrite -P 129 33927168 17408\nwrite -z -u 17203200 28672\nwrite -P 242 448512 3584\nwrite -z 16822272 7680\nread 33964032 47616\nwrite -P 94 507904 1536\nwrite -P 222 67106816 512\nread 212992 4608\nwrite -P 207 67106816 512\ndiscard 16887808 4608\nwrite -P 252 33818624 32768\nflush\nflush\nwrite -z 229376 10240\nwrite -c -P 228 66912256 65536\nwrite -P 143 328704 63488\ndiscard 16857088 43008\nwrite -z 461312 3584\nread 231936 18944\nwrite -z 66905600 3072\nwrite -P 121 33657344 4608\nwrite -P 110 67108352 512\nread 66906624 1536\ndiscard 16889856 7680\nwrite -P 98 67090432 9728\nwrite -z -u 67108352 512\nflush\nwrite -c -P 182 17235968 65536\nflush\nwrite -P 135 33965056 31232\ndiscard 283136 42496\nwrite -z -u 17248256 19456\n",
    args: ["-t", "writeback", "IMG"],
  },
  {
    // A pooled compressed read task that fails (its data no longer inflates: the image is corrupt) is seen only
    // when the task finishes, after its read and its decompression: the request coroutine meanwhile looks up and
    // issues its later chunks (write fuzzer seed 140265, its first 15 commands; QEMU's trace has the second
    // chunk's qcow2_add_task before the read fails).
    name: "a failing compressed chunk of a split read: the later chunks are still issued, then EIO",
    setup: "qemu-img create -q -f raw base.raw 16M && qemu-io -f raw -c 'write -P 0x5a 0 8M' -c 'write -P 0x6b 8M 1M' base.raw >/dev/null && qemu-img create -q -f qcow2 -o cluster_size=2M,refcount_bits=2 -b base.raw -F raw IMG 16M",
    create: [],
    stdin: "write -c -P 168 10485760 2097152\nwrite -P 181 12308992 2104320\nflush\nwrite -P 136 16776704 512\nwrite -P 71 10567680 1938432\nwrite -P 80 16776704 512\ndiscard 12537856 3694080\nwrite -P 113 16776704 512\nwrite -z -u 16776704 512\nflush\nwrite -P 141 2871808 269824\nwrite -c -P 251 8388608 2097152\nwrite -z 12835328 3934720\nwrite -z -u 14427136 1133056\nread 9678336 3043840\n",
    args: ["-t", "unsafe", "-T", "qcow2*", "IMG"],
  },
  {
    name: "reopen -o l2-cache-size / -r / -w / -c over a backing chain: caches re-created, QEMU's trace line for line",
    check: true,
    setup: "qemu-img create -q -f qcow2 base.qcow2 1M && qemu-io -c 'write -P 5 0 1M' base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 IMG 1M",
    create: [],
    args: ["-t", "writeback", "-T", "qcow2*", "-c", "write 0 4k", "-c", "read -P 5 64k 4k", "-c", "reopen -o l2-cache-size=128k", "-c", "write 64k 4k", "-c", "reopen -r", "-c", "write 0 1", "-c", "reopen -w", "-c", "write 0 1", "-c", "reopen -c writethrough", "-c", "write 128k 4k", "-c", "reopen -c none", "-c", "write 192k 4k", "-c", "reopen -c unsafe", "-c", "write 256k 4k", "-c", "flush", "-c", "reopen -c directsync", "-c", "write 320k 4k", "-c", "reopen -o cache.no-flush=on", "-c", "write 384k 4k", "IMG"],
  },
  {
    name: "reopen: lazy refcounts turned off mark the image clean, -r marks it clean",
    check: true,
    create: ["-o", "lazy_refcounts=on", "1M"],
    args: ["-T", "qcow2*", "-c", "write 0 4k", "-c", "reopen -o lazy-refcounts=off", "-c", "write 64k 4k", "-c", "reopen -o lazy-refcounts=on", "-c", "write 128k 4k", "-c", "reopen -r", "-c", "read 0 4k", "IMG"],
  },
  {
    name: "reopen errors in qemu-io's words, at QEMU's point (after the node's flush)",
    check: true,
    args: ["-T", "qcow2*", "-c", "write 0 4k", "-c", "reopen -c bogus", "-c", "reopen -r -w", "-c", "reopen x", "-c", "reopen -x", "-c", "reopen -c none -o cache.direct=on", "-c", "reopen -r -o read-only=on", "-c", "reopen -o foo=bar", "-c", "reopen -o l2-cache-size=abc", "-c", "reopen -o l2-cache-size=1M,refcount-cache-size=1M,cache-size=1M", "-c", "reopen -o l2-cache-entry-size=1000", "-c", "reopen -o lazy-refcounts=maybe", "-c", "reopen -o overlap-check=x", "-c", "reopen -o driver=raw", "-c", "reopen -o cache.direct=maybe", "-c", "reopen -o discard=maybe", "-c", "reopen -o detect-zeroes=x", "-c", "reopen -o cache-clean-interval=x", "-c", "reopen -o ,,a=b", "-c", "reopen -o nolazy-refcounts", "-c", "reopen -o encrypt.format=luks", "-c", "reopen -o overlap-check=all,overlap-check.template=none", "-c", "reopen -o overlap-check=none,discard=ignore", "-c", "write 64k 4k", "IMG"],
  },
  {
    name: "stdin: truncate and reopen between writes at the qemu-io> prompt",
    check: true,
    stdin: "write -P 1 0 64k\nreopen -o l2-cache-size=64k\ntruncate 1G\nwrite -P 2 700M 64k\nreopen -r\nwrite 0 1\nreopen -w\ntruncate 64k\nread -P 1 0 64k\nlength\n",
    args: ["-T", "qcow2*", "IMG"],
  },
  { name: "a clean run exits 0", args: ["-c", "write 0 4k", "-c", "read 0 4k", "IMG"] },
];

afterAll(removeTempDirs);

compareWithQemuIo("qcowdbg repl runs qemu-io 7.2 scripts unchanged", cases);

describe.skipIf(!hasQemu)("qcowdbg repl beside qemu-io 7.2: cases that need more than a script", () => {
  it("truncate refuses a v2 image with a snapshot as QEMU does (one image, copied: snapshots carry their time)", () => {
    const dir = tempDir("qcowdbg-compat-");
    const img = path.join(dir, "img.qcow2");
    expect(spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "compat=0.10", img, "1M"]).status).toBe(0);
    expect(spawnSync("qemu-img", ["snapshot", "-c", "s1", img]).status).toBe(0);
    const ours = path.join(dir, "ours.qcow2");
    fs.copyFileSync(img, ours);
    const args = (f: string) => ["-c", "write 0 4k", "-c", "truncate 2M", "-c", "length", f];
    const q = spawnSync("qemu-io", args(img), { encoding: "utf8" });
    const r = spawnSync(process.execPath, [CLI, "repl", "--write", ...args(ours)], { encoding: "utf8" });
    expect(q.stderr).toBe("qemu-io: Can't resize a v2 image which has snapshots\n");
    expect([normalise(r.stdout), r.stderr, r.status]).toEqual([normalise(q.stdout), q.stderr, q.status]);
    expect(fs.readFileSync(ours).equals(fs.readFileSync(img))).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the cases exercise both exit statuses", () => {
    // A guard against a harness in which every run fails (or none does) the same way on both sides.
    const statuses = new Set(cases.slice(0, 3).map((c) => runBoth(c).qemu.status));
    expect(statuses).toEqual(new Set([1]));
    expect(runBoth(cases[cases.length - 1]!).qemu.status).toBe(0);
  });
});

describe.skipIf(!hasQemu)("qemu-io features qcowdbg refuses instead of doing something else", () => {
  const refusals: [string, string[]][] = [
    ["truncate -m full (preallocation)", ["-c", "truncate -m full 2M"]],
    ["wait_break (would wait forever without blkdebug)", ["-c", "wait_break a"]],
  ];
  for (const [name, args] of refusals) {
    it(name, () => {
      const dir = tempDir("qcowdbg-compat-");
      const img = path.join(dir, "img.qcow2");
      spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "1M"]);
      const ref = path.join(dir, "ref.qcow2");
      fs.copyFileSync(img, ref);
      // The reference: the same script without the refused commands, through qemu-io.
      const kept = args.filter((a, i) => a === "-c" ? !/^(truncate|wait_break)/.test(args[i + 1]!) : !/^(truncate|wait_break)/.test(a));
      spawnSync("qemu-io", [...kept, ref]);
      const r = spawnSync(process.execPath, [CLI, "repl", "--write", ...args, img], { encoding: "utf8" });
      expect(r.status).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines.every((l) => /^qcowdbg: .*(not modelled|qemu-io would wait)/.test(l))).toBe(true);
      expect(fs.readFileSync(img).equals(fs.readFileSync(ref))).toBe(true);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  it("-s and --object at start, before anything runs", () => {
    for (const opt of [["-s"], ["--object", "secret,id=sec0,data=x"]]) {
      const r = spawnSync(process.execPath, [CLI, "repl", ...opt, "-c", "write 0 1", path.join(ROOT, "samples/images/tour.qcow2")], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });

  it("startup option errors exit 1 with qemu-io's message after our prefix", () => {
    const img = path.join(tempDir("qcowdbg-compat-"), "img.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "1M"]);
    for (const [args, text] of [
      [["-t", "bogus"], "Invalid cache option: bogus"],
      [["-d", "maybe"], "Invalid discard option: maybe"],
      [["-i", "fast"], "Invalid aio option: fast"],
      [["--image-opts", "-f", "qcow2"], "--image-opts and -f are mutually exclusive"],
      [["-U"], `can't open device ${img}: force-share=on can only be used with read-only images`],
    ] as [string[], string][]) {
      const q = spawnSync("qemu-io", [...args, "-c", "quit", img], { encoding: "utf8" });
      const r = spawnSync(process.execPath, [CLI, "repl", ...args, "-c", "quit", img], { encoding: "utf8" });
      expect(q.stderr).toBe(`qemu-io: ${text}\n`);
      expect(r.stderr).toBe(`qcowdbg: ${text}\n`);
      expect([r.status, q.status]).toEqual([1, 1]);
    }
  });

  it("--image-opts values qemu-io refuses (a size without a unit for its fraction, on/off) in its words and hint", () => {
    const img = path.join(tempDir("qcowdbg-compat-"), "img.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "1M"]);
    for (const opt of ["l2-cache-size=1.5", "refcount-cache-size=4KiB", "cache.direct=maybe", "lazy-refcounts=1"]) {
      const args = ["-c", "quit", "--image-opts", `driver=qcow2,file.filename=${img},${opt}`];
      const q = spawnSync("qemu-io", args, { encoding: "utf8" });
      const r = spawnSync(process.execPath, [CLI, "repl", ...args], { encoding: "utf8" });
      expect(q.stderr.startsWith("qemu-io: can't open: Parameter")).toBe(true);
      expect(r.stderr).toBe(q.stderr.replace(/^qemu-io: /, "qcowdbg: "));
      expect([r.status, q.status]).toEqual([1, 1]);
    }
  });
});
