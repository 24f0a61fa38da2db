# The issue-3 oracle workloads: how each base image is built (with qemu-img/qemu-io) and the qemu-io commands
# run against it. make-goldens.py runs them through the real qemu-io; test/oracle replays them through qcowdbg.
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def rand_cmds(seed, n, size, mix):
    r = random.Random(seed)
    out = []
    for i in range(n):
        o = r.randrange(0, size // 4096) * 4096
        k = r.random()
        if not mix or k < 0.7:
            out.append(f"write -P {i % 250} {o} 4k")
        elif k < 0.8:
            out.append(f"write -z {o} 4k")
        elif k < 0.88:
            out.append(f"read {o} 4k")
        elif k < 0.94:
            out.append("flush")
        else:
            out.append(f"discard {o // 65536 * 65536} 64k")
    return out


WORKLOADS = [
    {
        "name": "sequential",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 64M"],
        "cmds": [f"write -P {i + 1} {i * 64}k 64k" for i in range(48)] + ["flush"],
    },
    {
        "name": "random-4k-1g",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 1G"],
        "cmds": rand_cmds(1, 400, 1 << 30, False),
    },
    {
        "name": "backing-cow",
        "setup": [
            "qemu-img create -q -f raw back.raw 1M",
            "qemu-io -f raw -c 'write -P 0x77 0 1M' back.raw",
            "qemu-img create -q -f qcow2 -b back.raw -F raw base.qcow2 4M",
        ],
        "files": ["back.raw"],
        "cmds": ["write -P 1 4k 4k", "write -P 2 130k 10k", "write -P 3 900k 200k", "read -P 0x77 64k 4k",
                 "write -P 4 2M 4k", "write -P 5 60k 8k", "flush"],
    },
    {
        "name": "zero-discard",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 64M"],
        "cmds": ["write -P 1 0 256k", "write -z 0 64k", "discard 64k 64k", "write -z 200k 3k", "write -P 3 1M 4k",
                 "write -z -u 1M 64k", "write -P 4 2M 64k", "discard 2M 64k", "write -z 8M 1M", "discard 0 4M",
                 "write -P 5 3M 4k", "flush"],
    },
    {
        "name": "extended-l2",
        "setup": ["qemu-img create -q -f qcow2 -o extended_l2=on base.qcow2 64M"],
        "cmds": ["write -P 1 4k 4k", "write -P 2 130k 10k", "write -z 200k 4k", "write -P 3 66k 2k",
                 "write -z 0 64k", "discard 128k 64k", "write -P 6 1M 100k", "write -z -u 1M 8k", "flush"],
    },
    {
        "name": "cluster-512",
        "setup": ["qemu-img create -q -f qcow2 -o cluster_size=512 base.qcow2 64M"],
        "cmds": [f"write -P {i % 200 + 1} {i * 4099 * 512} 512" for i in range(30)] +
                [f"write -P 9 {24 * 1024 * 1024 + i * 32 * 1024} 512" for i in range(260)] + ["flush"],
    },
    {
        "name": "cluster-512-growth",
        # 20 MiB of 512-byte clusters: the refcount structures grow and the small caches evict dirty L2 slices,
        # each eviction flushing the refcount cache it depends on (an fdatasync). Each write is one L2 slice
        # (64 clusters) long so that it never splits: split requests run as concurrent coroutines, and QEMU's
        # fdatasync count then varied from run to run (a flush waiting for another skips when no write completed
        # in between, which depends on thread-pool timing); serial writes give the same count every run.
        "setup": ["qemu-img create -q -f qcow2 -o cluster_size=512 base.qcow2 64M"],
        "cmds": [f"write -P {i % 200 + 1} {i * 1024 + j * 32}k 32k" for i in range(40) for j in range(16)] + ["flush"],
    },
    {
        "name": "compressed-overwrite",
        "setup": [
            "qemu-img create -q -f raw src.raw 16M",
            "qemu-io -f raw -c 'write -P 5 0 2M' -c 'write -P 6 4M 1M' src.raw",
            "qemu-img convert -c -O qcow2 src.raw base.qcow2",
            "rm -f src.raw",
        ],
        "cmds": ["write -P 2 4k 4k", "write -P 3 512k 64k", "read -P 5 128k 4k", "write -P 7 4M 4k",
                 "write -z 4160k 64k", "discard 1M 64k", "flush"],
    },
    {
        "name": "compressed-write",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M"],
        # One cluster per compressed write: QEMU compresses the clusters of a longer write in a thread pool,
        # and which one is stored first then varies from run to run.
        "cmds": ["write -c -P 0x41 0 64k", "write -P 0x42 64k 64k", "write -c 64k 64k", "write -c -P 3 128k 64k", "write -c -P 6 192k 64k",
                 "write -c 512k 64k", "write -c -P 4 1M 64k", "read -P 0x41 0 64k", "write -P 5 4k 4k",
                 "discard 128k 64k", "flush"],
    },
    {
        "name": "lazy-refcounts",
        "setup": ["qemu-img create -q -f qcow2 -o lazy_refcounts=on base.qcow2 64M"],
        "cmds": ["write -P 1 0 4k", "write -P 2 1M 64k", "flush", "write -P 3 2M 4k", "discard 1M 64k"],
    },
    {
        "name": "snapshot-shared",
        "setup": [
            "qemu-img create -q -f qcow2 base.qcow2 64M",
            "qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 8M 64k' base.qcow2",
            "qemu-img snapshot -c s1 base.qcow2",
        ],
        "cmds": ["write -P 2 4k 4k", "write -P 3 512k 64k", "read -P 1 128k 4k", "write -z 8M 64k", "discard 64k 64k", "flush"],
    },
    {
        "name": "random-mix",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 1G"],
        "cmds": rand_cmds(7, 300, 1 << 30, True),
        "modes": ["writeback", "writethrough", "none", "directsync", "unsafe"],
    },
    {
        "name": "data-file",
        "setup": ["qemu-img create -q -f qcow2 -o data_file=base.data base.qcow2 64M"],
        "files": ["base.data"],
        "cmds": ["write -P 1 0 4k", "write -P 2 1M 64k", "write -z 2M 64k", "write -P 3 3M 8k", "discard 1M 64k",
                 "read -P 3 3M 8k", "flush"],
    },
    # Issue 15, class 1: partial writes into regions that read as zero are zero-filled (qcow2_skip_cow), not
    # copied: zero flags from write -z, ZERO_ALLOC (write -z without -u over data), a discard's zero flag, and
    # multi-cluster writes whose two COW regions both lie in zero clusters.
    {
        "name": "zero-cow",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 64M"],
        "cmds": ["write -P 1 0 256k", "write -z 0 64k", "write -P 2 4k 4k", "write -z -u 64k 64k", "write -P 3 70k 2k",
                 "discard 128k 64k", "write -P 4 130k 1k", "write -z 1M 192k", "write -P 5 1060k 100k",
                 "write -P 6 2M 64k", "write -z 2M 64k", "write -P 7 2M 4k", "write -P 8 2108k 4k",
                 "write -z 3M 64k", "write -P 9 3M 64k", "read -P 0 1M 36k", "read -P 5 1060k 100k", "flush"],
    },
    {
        "name": "zero-cow-extended-l2",
        "setup": ["qemu-img create -q -f qcow2 -o extended_l2=on base.qcow2 64M"],
        "cmds": ["write -z 0 64k", "write -P 2 4k 4k", "write -P 1 128k 64k", "write -z 132k 4k", "write -P 3 133k 1k",
                 "write -z -u 256k 64k", "write -P 4 300k 1k", "write -P 5 512k 8k", "write -z 520k 8k",
                 "write -P 6 522k 2k", "discard 1M 64k", "write -P 7 1M 2k", "flush"],
    },
    # Classes 2 and 5: zero detection through a qcow2 backing file (its block status loads its own L2 slice and
    # scans its refcounts once), and every qcow2 node of the chain traces its cache flushes when closed.
    {
        "name": "backing-qcow2-zero",
        "setup": [
            "qemu-img create -q -f qcow2 back.qcow2 2M",
            "qemu-io -c 'write -P 7 0 64k' -c 'write -z 64k 64k' -c 'write -P 8 256k 64k' back.qcow2",
            "qemu-img create -q -f qcow2 -b back.qcow2 -F qcow2 base.qcow2 4M",
        ],
        "files": ["back.qcow2"],
        "cmds": ["write -P 1 4k 4k", "write -P 2 68k 4k", "write -P 3 1M 4k", "write -z 2M 64k", "write -z 3M 4k",
                 "write -z 0 64k", "write -z 128k 64k", "write -z 200k 4k", "write -z 260k 4k", "write -P 4 3100k 2k",
                 "read -P 8 300k 4k", "read -P 0 128k 64k", "flush"],
    },
    # Class 4: metadata-preallocated images, whose data clusters read as zero where the host file has holes.
    {
        "name": "metadata-prealloc",
        "setup": ["qemu-img create -q -f qcow2 -o preallocation=metadata base.qcow2 4M"],
        "cmds": ["write -z 4k 2k", "write -P 1 70k 4k", "write -z 66k 3k", "write -z 1M 64k", "write -P 2 1M 4k",
                 "discard 2M 64k", "write -P 3 2M 4k", "write -z 3M 1k", "flush"],
        "modes": ["writeback", "writethrough", "none", "directsync", "unsafe"],
    },
    # Class 4 for real: the same kind of image with the holes qemu-img left in the host file ("sparse": every
    # copy, QEMU's and the tests', turns each all-zero 4 KiB block into a hole). QEMU's preallocation probe then
    # compares the refcounted clusters with the file's real allocation (st_blocks) and finds metadata
    # preallocation, so is_zero() follows BDRV_BLOCK_RECURSE down to the host file: a zero write's head and tail
    # read as zero where the host range is a hole. make-goldens.py checks that whole copies give another trace.
    {
        "name": "metadata-prealloc-holes",
        "setup": ["qemu-img create -q -f qcow2 -o preallocation=metadata base.qcow2 4M"],
        "sparse": True,
        "cmds": ["write -z 4k 2k", "write -P 1 70k 4k", "write -z 66k 3k", "write -z 80k 3k", "write -z 200k 100",
                 "write -P 4 300000 10", "write -z 1M 64k", "write -P 2 1M 4k", "write -z 1030k 2k", "discard 2M 64k",
                 "write -z 2052k 1k", "write -P 3 2M 4k", "write -z 3M 1k", "write -z 4095k 1k", "read -P 0 0 64k", "flush"],
        "modes": ["writeback", "writethrough", "none", "directsync", "unsafe"],
    },
    # The decision that changes the image bytes: a zero write into a cluster unallocated in the top image asks the
    # metadata-preallocated backing file, whose host holes read as zero (zero flag) and whose data does not (COW).
    {
        "name": "backing-prealloc-holes",
        "setup": [
            "qemu-img create -q -f qcow2 -o preallocation=metadata back.qcow2 4M",
            "qemu-io -c 'write -P 7 68k 8k' -c 'write -P 8 1M 64k' back.qcow2",
            "qemu-img create -q -f qcow2 -b back.qcow2 -F qcow2 base.qcow2 4M",
        ],
        "files": ["back.qcow2"],
        "sparse": True,
        "cmds": ["write -z 4k 2k", "write -z 66k 3k", "write -z 80k 3k", "write -z 1030k 2k", "write -z 2M 1k",
                 "write -P 3 3M 2k", "read -P 0 0 64k", "read -P 7 68k 8k", "flush"],
        "modes": ["writeback", "writethrough", "none", "directsync", "unsafe"],
    },
    # Class 7: a write into the compressed last cluster of an image whose size is not a multiple of the cluster
    # size reads the whole compressed cluster for COW (perform_cow calls the driver directly, unclamped).
    {
        "name": "compressed-tail",
        "setup": [
            "qemu-img create -q -f raw src.raw 1000k",
            "qemu-io -f raw -c 'write -P 5 0 1000k' src.raw",
            "qemu-img convert -c -O qcow2 src.raw base.qcow2",
            "rm -f src.raw",
        ],
        "cmds": ["write -P 1 962k 4k", "read -P 5 970k 4k", "write -P 2 995k 5k", "write -z 900k 4k", "flush"],
    },
    # Class 8: a flush with nothing written since the last one reaches no disk (write generations); discards and
    # zero writes count as writes; cache=unsafe never syncs.
    {
        "name": "flush-generations",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 64M"],
        "cmds": ["flush", "write -P 1 0 4k", "flush", "flush", "read -P 1 0 4k", "flush", "write -P 2 0 4k", "flush",
                 "discard 0 64k", "flush", "flush", "write -z 1M 64k", "flush", "write -z 1M 64k", "flush",
                 "write -P 3 2M 4k", "write -P 4 2M 4k", "flush", "flush"],
        "modes": ["writeback", "writethrough", "none", "directsync", "unsafe"],
    },
    # Write paths no workload above reached (coverage of engine/image under test/oracle): a request split where a
    # COPIED cluster is not contiguous with the new ones, COW zero-filled inside a concurrent chunk, COW writes not
    # merged with the guest data; zero writes on a compat=0.10 image; zero writes into a raw external data file.
    {
        "name": "split-paths",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 64M"],
        "cmds": ["write -P 1 128k 4k", "write -P 2 0 192k", "write -P 5 3M 64k", "write -z 3136k 64k",
                 "write -P 6 3076k 120k", "write -P 7 4M 64k", "write -P 8 4100k 200k", "flush"],
    },
    {
        "name": "v2-image",
        "setup": ["qemu-img create -q -f qcow2 -o compat=0.10 base.qcow2 64M"],
        "cmds": ["write -P 1 0 128k", "write -z 0 64k", "write -z 70k 2k", "discard 64k 64k", "write -P 2 1M 4k", "flush"],
    },
    {
        "name": "data-file-raw",
        "setup": ["qemu-img create -q -f qcow2 -o data_file=base.data,data_file_raw=on base.qcow2 4M"],
        "files": ["base.data"],
        "cmds": ["write -P 1 0 128k", "write -z 0 64k", "write -z 70k 2k", "discard 64k 64k", "write -P 2 1M 4k",
                 "read -P 0 0 64k", "flush"],
    },
    # Extended L2 COW out of a cluster shared with a snapshot (not COPIED): the allocation bitmap bounds the COW.
    {
        "name": "extended-l2-snapshot",
        "setup": [
            "qemu-img create -q -f qcow2 -o extended_l2=on base.qcow2 64M",
            "qemu-io -c 'write -P 1 0 256k' -c 'write -P 2 1M 8k' -c 'write -P 3 1060k 4k' base.qcow2",
            "qemu-img snapshot -c s1 base.qcow2",
        ],
        "cmds": ["write -P 4 4k 2k", "write -P 5 1030k 2k", "write -P 6 70k 100k", "write -z 1M 2k", "write -P 7 1025k 1k",
                 "read -P 1 128k 4k", "flush"],
    },
    # COW written apart from the guest data (perform_cow without merge_cow): one chunk holds a COPIED cluster and
    # the newly allocated one after it in the host file, so the new cluster's COW region does not border the
    # request's start. Over a raw backing file, so that the COW regions hold data (no qcow2_skip_cow).
    {
        "name": "unmerged-cow",
        "setup": [
            "qemu-img create -q -f raw back.raw 2M",
            "qemu-io -f raw -c 'write -P 0x77 0 2M' back.raw",
            "qemu-img create -q -f qcow2 -b back.raw -F raw base.qcow2 4M",
        ],
        "files": ["back.raw"],
        "cmds": ["write -P 1 0 4k", "write -P 2 60k 8k", "read -P 0x77 68k 60k", "read -P 2 60k 8k", "write -P 3 1M 4k",
                 "write -P 4 1084k 8k", "read -P 0x77 1092k 4k", "flush"],
    },
    # The same with subclusters: the COPIED cluster's own meta (handle_copied) has a head COW and the new
    # cluster's a tail COW, each read and written on its own.
    {
        "name": "unmerged-cow-extended-l2",
        "setup": [
            "qemu-img create -q -f raw back.raw 2M",
            "qemu-io -f raw -c 'write -P 0x77 0 2M' back.raw",
            "qemu-img create -q -f qcow2 -o extended_l2=on -b back.raw -F raw base.qcow2 4M",
        ],
        "files": ["back.raw"],
        "cmds": ["write -P 1 0 2k", "write -P 2 61k 6k", "read -P 0x77 60k 1k", "read -P 0x77 67k 1k", "read -P 2 61k 6k",
                 "read -P 0x77 68k 60k", "flush"],
    },
    # COW that reads as zero inside a chunk of a split request: the chunk's task zero-fills it (handle_alloc_space
    # in qcow2_co_pwritev_task) while the request coroutine allocates the next chunk.
    {
        "name": "zero-cow-concurrent",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 64M"],
        "cmds": ["write -P 3 1M 4k", "write -P 4 1020k 8k", "read -P 0 960k 60k", "write -P 5 3M 64k", "write -P 6 3004k 72k",
                 "read -P 0 2944k 60k", "flush"],
    },
    # Data that deflate cannot shrink is written uncompressed (qcow2_co_pwritev_compressed_task falls back to a
    # normal write), over a fresh cluster and over a compressed one; a compressed write that does not start on a
    # cluster boundary fails with EINVAL (and qemu-io exits 1). QEMU 7.2 itself leaves this image with a refcount
    # error (qemu-img check exits 2: "OFLAG_COPIED data cluster ... refcount=2" once a compressed cluster was
    # overwritten by incompressible data); the engine must decide the same, so the goldens keep that verdict.
    {
        "name": "compressed-fallback",
        "setup": [
            "qemu-img create -q -f qcow2 base.qcow2 4M",
            "python3 -c \"import random; r = random.Random(5); open('rnd.bin', 'wb').write(bytes(r.randrange(256) for _ in range(65536)))\"",
        ],
        "files": ["rnd.bin"],
        "cmds": ["write -c -s rnd.bin 0 64k", "write -c -P 3 64k 64k", "write -c -s rnd.bin 64k 64k", "write -P 4 4k 4k",
                 "read -P 4 4k 4k", "write -c -s rnd.bin 192k 64k", "write -c -P 5 256k 64k", "flush", "write -c -s rnd.bin 4k 64k"],
    },
    # A refcount block allocated where another refcount block counts it (alloc_refcount_block's second case): with
    # 512-byte clusters and 64-bit refcounts a refcount block covers 64 clusters, as many as one L2 slice, so a
    # 64-cluster allocation that starts on a refcount block boundary leaves the next free cluster, where the
    # missing block goes, in the range of the block after it. (24k pads the file to that boundary.)
    {
        "name": "refblock-elsewhere",
        "setup": ["qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 base.qcow2 16M"],
        "cmds": ["write -P 1 0 32k", "write -P 2 1M 512", "write -P 2 1049088 24k", "write -P 3 2M 32k", "write -P 4 3M 32k",
                 "read -P 3 2M 32k", "read -P 2 1M 512", "flush"],
    },
    # Compressed clusters of data deflate only halves (24 KiB random + 40 KiB zero): the stream must be the system
    # zlib's, as QEMU's (Node's bundled zlib yields other lengths), and qcow2_alloc_bytes packs them across host
    # clusters, contiguous (the next cluster is free) or not (a normal write took it).
    {
        "name": "compressed-spanning",
        "setup": [
            "qemu-img create -q -f qcow2 base.qcow2 4M",
            "python3 -c \"import random; r = random.Random(6); open('half.bin', 'wb').write(bytes(r.randrange(256) for _ in range(24576)) + bytes(40960))\"",
        ],
        "files": ["half.bin"],
        "needs": ["compress"],
        "cmds": ["write -c -s half.bin 0 64k", "write -c -s half.bin 64k 64k", "write -P 9 512k 64k", "write -c -s half.bin 128k 64k",
                 "write -c -s half.bin 192k 64k", "write -c -s half.bin 256k 64k", "write -c -s half.bin 320k 64k", "read -P 9 512k 64k",
                 "read -v 64k 32", "write -P 7 130k 4k", "read -P 0 170k 4k", "flush"],
    },
    # A zero write's head and tail over a raw backing file: is_zero() asks the raw file with want_zero, and
    # file-posix answers from its holes (SEEK_HOLE): zero flag over holes, COW over data.
    {
        "name": "backing-raw-holes",
        "setup": [
            "qemu-img create -q -f raw back.raw 2M",
            "qemu-io -f raw -c 'write -P 0x77 64k 8k' -c 'write -P 0x66 1M 64k' back.raw",
            "qemu-img create -q -f qcow2 -b back.raw -F raw base.qcow2 4M",
        ],
        "files": ["back.raw"],
        "sparse": True,
        "cmds": ["write -z 4k 2k", "write -z 66k 3k", "write -z 80k 3k", "write -z 1030k 2k", "write -z 1600k 1k", "write -z 3M 1k",
                 "write -P 3 2M 2k", "read -P 0 0 64k", "read -P 0x77 64k 2k", "read -P 0x66 1M 6k", "flush"],
        "modes": ["writeback", "writethrough", "none"],
    },
    # Zero writes on a compat=0.10 image with a backing file: no zero flag exists, so they fall back to writing
    # zeroes (with COW from the backing file), and a discard leaves the backing data visible.
    {
        "name": "v2-backing",
        "setup": [
            "qemu-img create -q -f raw back.raw 2M",
            "qemu-io -f raw -c 'write -P 0x77 0 2M' back.raw",
            "qemu-img create -q -f qcow2 -o compat=0.10 -b back.raw -F raw base.qcow2 4M",
        ],
        "files": ["back.raw"],
        "cmds": ["write -z 0 64k", "write -z 70k 2k", "discard 128k 64k", "write -z 3M 64k", "read -P 0 0 64k", "read -P 0x77 64k 6k",
                 "read -P 0 70k 2k", "read -P 0x77 128k 64k", "flush"],
    },
    # Split requests whose chunks copy COW data from a backing file: each chunk's task drops s->lock around its COW
    # I/O while the request coroutine and the other chunks take it (the CoMutex hand-off of coroutine-model.ts).
    {
        "name": "cow-concurrent",
        "setup": [
            "qemu-img create -q -f raw back.raw 2M",
            "qemu-io -f raw -c 'write -P 0x77 0 2M' back.raw",
            "qemu-img create -q -f qcow2 -b back.raw -F raw base.qcow2 4M",
        ],
        "files": ["back.raw"],
        "cmds": ["write -P 1 1M 4k", "write -P 2 1020k 72k", "read -P 0x77 960k 60k", "read -P 2 1020k 72k", "read -P 0x77 1092k 60k",
                 "write -P 3 2M 4k", "write -P 4 1980k 200k", "flush"],
    },
    # Corrupt images: qemu-io meets a damaged field, reports it on stderr ("qcow2: Marking image as corrupt: ..."),
    # marks the image corrupt, fails that request with EIO and every later one with ENOMEDIUM. Each workload damages
    # one field (corrupt.py), since QEMU reports only the first corruption event of an image.
    {
        "name": "corrupt-data-offset",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -P 1 0 64k' -c 'write -P 2 1M 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 l2-entry-unaligned 0x100000"],
        "cmds": ["read -P 1 0 4k", "write -P 3 1M 4k", "read -P 2 1M 4k", "write -P 4 2M 4k", "flush"],
    },
    {
        "name": "corrupt-data-offset-read",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -P 1 0 64k' -c 'write -P 2 1M 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 l2-entry-unaligned 0x100000"],
        "cmds": ["read -P 1 0 4k", "read -P 2 1M 4k", "write -P 4 2M 4k"],
    },
    {
        "name": "corrupt-zero-offset",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -P 2 1M 64k' -c 'write -z 1M 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 l2-entry-unaligned 0x100000"],
        "cmds": ["write -P 3 1M 4k", "read -P 0 0 4k"],
    },
    {
        "name": "corrupt-l2-offset",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -P 1 0 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 l1-unaligned"],
        "cmds": ["write -P 3 1M 4k", "read -P 1 0 4k"],
    },
    {
        "name": "corrupt-l2-offset-read",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -P 1 0 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 l1-unaligned"],
        "cmds": ["read -P 1 0 4k", "write -P 3 1M 4k"],
    },
    {
        "name": "corrupt-refblock-offset",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -P 1 0 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 refblock-unaligned"],
        "cmds": ["read -P 1 0 4k", "write -P 1 4k 4k", "write -P 3 1M 4k", "read -P 1 0 4k"],
    },
    {
        "name": "corrupt-v2-zero-flag",
        "setup": ["qemu-img create -q -f qcow2 -o compat=0.10 base.qcow2 4M", "qemu-io -c 'write -P 1 0 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 zero-flag 0"],
        "cmds": ["read -P 1 0 4k", "write -P 3 1M 4k"],
    },
    # Not a corruption to QEMU: an L2 table past the end of the file reads as zeros, and a write stores it there.
    {
        "name": "l2-beyond-eof",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -P 1 0 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 l1-beyond-eof"],
        "cmds": ["read -P 0 0 4k", "write -P 3 4k 4k", "read -P 3 4k 4k", "write -P 4 1M 4k", "flush"],
    },
    # A refcount that would drop below zero is no corruption report either: update_refcount undoes its changes and
    # fails with EINVAL, and qcow2_free_clusters prints the failure on stderr and goes on (the discard succeeds).
    {
        "name": "refcount-underflow",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -P 1 0 64k' -c 'write -P 2 1M 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 refcount-zero 0"],
        "cmds": ["discard 0 64k", "read -P 2 1M 4k", "write -P 3 2M 64k", "write -P 4 0 4k", "read -P 0 4k 4k", "flush"],
    },
    # A zstd image (compression_type=zstd): its compressed clusters are read (and COWed) through the zstd decoder,
    # and written as QEMU's libzstd makes them (ZSTD_compressStream2, default level), packed across host clusters.
    {
        "name": "compressed-zstd",
        "setup": [
            "qemu-img create -q -f raw src.raw 4M",
            "qemu-io -f raw -c 'write -P 5 0 512k' -c 'write -P 6 640k 64k' src.raw",
            "python3 -c \"import random; r = random.Random(9); f = open('src.raw', 'r+b'); f.seek(768 * 1024); f.write(bytes(r.randrange(256) for _ in range(24576)))\"",
            "qemu-img convert -c -O qcow2 -o compression_type=zstd src.raw base.qcow2",
            "rm -f src.raw",
            "python3 -c \"import random; r = random.Random(6); open('half.bin', 'wb').write(bytes(r.randrange(256) for _ in range(24576)) + bytes(40960))\"",
        ],
        "files": ["half.bin"],
        "needs": ["compress"],
        "cmds": ["read -P 5 0 4k", "write -P 2 4k 4k", "read -P 6 640k 64k", "write -P 3 770k 2k", "write -c -s half.bin 2M 64k",
                 "write -c -s half.bin 2112k 64k", "write -c -P 7 2176k 64k", "write -c -s half.bin 2240k 64k", "read -v 2M 16",
                 "write -P 8 2050k 4k", "write -z 128k 4k", "discard 192k 64k", "flush"],
    },
    # Split requests on 512-byte clusters: every chunk is one L2 slice, and the request coroutine allocates the
    # next chunk's L2 table (I/O of its own) while the earlier chunks' tasks are in flight.
    {
        "name": "split-l2-alloc",
        "setup": ["qemu-img create -q -f qcow2 -o cluster_size=512 base.qcow2 16M"],
        "cmds": ["write -P 1 0 64k", "write -P 2 1M 96k", "write -P 3 40k 64k", "read -P 2 1M 96k", "flush"],
    },
    # Found by scripts/fuzz-qemu-io.mjs. Extended L2: a zero write whose head or tail lands in part of a compressed
    # cluster gets -ENOTSUP from zero_l2_subclusters, after any whole clusters before the tail were zeroed, and the
    # block layer writes a buffer of zeros over the whole piece instead (COW out of the compressed cluster).
    {
        "name": "extl2-zero-over-compressed",
        "setup": ["qemu-img create -q -f qcow2 -o extended_l2=on base.qcow2 4M"],
        "needs": ["compress"],
        "cmds": ["write -c -P 34 192k 64k", "write -c -P 5 512k 64k", "write -P 7 448k 64k", "write -z 250000 74752",
                 "read -P 0 250000 74752", "read -P 34 192k 53392", "write -z 448k 96k", "read -P 0 448k 96k", "read -P 5 544k 32k",
                 "flush"],
    },
    # Also from the fuzzer: a write into two clusters that are both allocated, whose subclusters are all normal,
    # needs no L2 update at all (calculate_l2_meta's skip_cow); the second cluster's subcluster index wraps.
    {
        "name": "extl2-keep-two-clusters",
        "setup": ["qemu-img create -q -f qcow2 -o extended_l2=on base.qcow2 4M"],
        "cmds": ["write -P 1 0 128k", "flush", "write -P 2 58k 26k", "write -P 3 126k 4k", "write -P 4 250k 12k", "write -P 5 248k 8k",
                 "read -P 2 58k 26k", "flush"],
    },
    # A compressed cluster whose data does not inflate: a read fails with EIO, and so does a write that must copy the
    # rest of the cluster (perform_cow's read fails; the cluster it allocated is freed again, qcow2_alloc_cluster_abort).
    # The session goes on: it is no corruption report.
    {
        "name": "compressed-garbage-cow",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 4M", "qemu-io -c 'write -c -P 9 64k 64k' -c 'write -P 1 0 64k' base.qcow2",
                  f"python3 {HERE}/corrupt.py base.qcow2 compressed-garbage 0x10000"],
        "needs": ["compress"],
        "cmds": ["read -P 9 64k 4k", "write -P 2 68k 4k", "write -P 3 1M 4k", "write -P 4 64k 64k", "read -P 4 64k 64k",
                 "read -P 1 0 4k", "flush"],
    },
    # Copy-on-read (qemu-io -C): reads of clusters the image does not allocate copy the backing data into it.
    {
        "name": "copy-on-read",
        "setup": [
            "qemu-img create -q -f raw back.raw 2M",
            "qemu-io -f raw -c 'write -P 0x77 0 2M' back.raw",
            "qemu-img create -q -f qcow2 -b back.raw -F raw base.qcow2 4M",
        ],
        "files": ["back.raw"],
        "opts": ["-C"],
        "cmds": ["read -P 0x77 0 4k", "read -P 0x77 100k 200k", "write -P 1 8k 4k", "read -P 0x77 1M 64k", "read -P 0 3M 4k",
                 "read -v 8k 16", "flush"],
    },
    # Resizing (qemu-io truncate): growth inside the L1 table and past it (a new L1 table), writes into the new
    # area, a shrink that discards the cropped clusters and frees their L2 tables, and the caches re-created for
    # every new size.
    {
        "name": "truncate-grow-shrink",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 64M"],
        "cmds": ["write -P 1 0 64k", "write -P 2 40M 4k", "truncate 128M", "write -P 3 100M 4k", "truncate 3G",
                 "write -P 4 2G 64k", "write -P 5 2900M 4k", "read -P 4 2G 64k", "truncate 1G", "write -P 6 900M 4k",
                 "read -P 0 100M 4k", "truncate 48M", "read -P 2 40M 4k", "truncate 64M", "write -P 7 60M 4k", "flush"],
    },
    # Reopening with other cache options (qemu-io reopen -o): the caches are flushed and re-created with the new
    # sizes, entry size and lazy refcounts; reopen -r writes everything and marks the image clean.
    {
        "name": "reopen-cache-options",
        "setup": ["qemu-img create -q -f qcow2 base.qcow2 2G"],
        "cmds": ["write -P 1 0 4k", "write -P 2 600M 4k", "reopen -o l2-cache-size=64k", "write -P 3 1200M 4k",
                 "read -P 1 0 4k", "reopen -o l2-cache-entry-size=4k,refcount-cache-size=256k", "write -P 4 1800M 4k",
                 "read -P 2 600M 4k", "reopen -o lazy-refcounts=on", "write -P 5 64k 4k", "write -P 6 1900M 4k",
                 "reopen -o lazy-refcounts=off", "write -P 7 128k 4k", "reopen -r", "read -P 7 128k 4k", "reopen -w",
                 "truncate 4G", "write -P 8 3G 4k", "flush"],
    },
]
