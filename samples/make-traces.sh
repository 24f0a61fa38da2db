#!/usr/bin/env bash
# Regenerates the workload samples in samples/traces with the real tools - fio 3.33, qemu-io 7.2, blkparse 1.2.0 -
# so the parsers in engine/workload are held against what those tools write and read. CI does not run this (it has
# no fio/blkparse): the outputs are committed, all small. tour.qemu-io is not made here (see make-samples.sh).
#
#   fio-randrw.v3.iolog        fio --write_iolog on a file (reads, writes, fsyncs); fio-randrw.v3.counts.json: fio's own
#                              issued counts for that run
#   fio-randrw.v2.iolog        the same log in version 2 (waits instead of timestamps; fio 3.33 only writes v3), and
#                              fio-randrw.v2.counts.json: what fio counts when it replays it with --read_iolog
#   fio-trim.v3.iolog          trims on a loop device (needs root and losetup; kept from an earlier run otherwise)
#   ops.qemu-io                every qemu-io command the parser reads; ops.blk.qemu-trace / ops.bdrv.qemu-trace: the QEMU
#                              trace log qemu-io prints running it (blk_co_* plus qcow2_* noise; bdrv_co_*)
#   synth.blktrace.0/.1        a per-CPU capture written here record by record (remap, split, merge, flush, FUA,
#                              discard, passthrough, notify records); synth.blkparse.txt / synth.blkparse-t.txt: what
#                              the real blkparse prints for it (default and -t); synth.dump: its `blkparse -d` merge
#   capture.blktrace.N         a real blktrace of a loop device, when this machine allows it (root, debugfs, and a
#                              kernel that lets blktrace open its relay files); capture.blkparse.txt beside it
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRACES=$HERE/traces
export LC_ALL=C TZ=UTC

for tool in fio qemu-io qemu-img blkparse jq python3; do
  command -v "$tool" >/dev/null || { echo "make-traces: needs $tool" >&2; exit 1; }
done
case $(qemu-io --version | head -n1) in
  "qemu-io version 7.2."*) ;;
  *) echo "make-traces: need qemu-io 7.2, found: $(qemu-io --version | head -n1)" >&2; exit 1 ;;
esac

WORK=$(mktemp -d)
LOOP=
DEBUGFS=
cleanup() {
  [[ -n $LOOP ]] && losetup -d "$LOOP" 2>/dev/null || true
  [[ -n $DEBUGFS ]] && umount "$DEBUGFS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$TRACES"
cd "$WORK"

# fio's own counts from its JSON report: what the parsed log must contain.
fio_counts() {
  jq '{fio: ."fio version", read: .jobs[0].read.total_ios, write: .jobs[0].write.total_ios,
       trim: .jobs[0].trim.total_ios, sync: .jobs[0].sync.total_ios}' "$1"
}

# ---------------------------------------------------------------- fio iologs
# fio appends to an existing write_iolog: always start from nothing.
rm -f randrw.v3.iolog
fio --name=randrw --filename=data.bin --size=16M --rw=randrw --bs=4k --io_size=2M --fsync=16 --ioengine=psync \
  --write_iolog=randrw.v3.iolog --output-format=json >randrw.json
cp randrw.v3.iolog "$TRACES/fio-randrw.v3.iolog"
fio_counts randrw.json >"$TRACES/fio-randrw.v3.counts.json"

# v2: the v3 timestamps become waits (microseconds since the previous wait), so both logs carry the same times.
awk 'NR == 1 { print "fio version 2 iolog"; next }
     NF == 5 && $1 > prev { print $2 " wait " ($1 - prev) " 0"; prev = $1 }
     { $1 = ""; sub(/^ /, ""); print }' randrw.v3.iolog >randrw.v2.iolog
fio --name=replay --read_iolog=randrw.v2.iolog --ioengine=psync --output-format=json >replay.json
cp randrw.v2.iolog "$TRACES/fio-randrw.v2.iolog"
fio_counts replay.json >"$TRACES/fio-randrw.v2.counts.json"

if [[ $(id -u) == 0 ]] && command -v losetup >/dev/null && truncate -s 16M loop.img && LOOP=$(losetup -f --show loop.img 2>/dev/null); then
  rm -f trim.v3.iolog
  fio --name=trim --filename="$LOOP" --direct=1 --size=8M --rw=randtrim --bs=64k --io_size=1M --ioengine=psync \
    --write_iolog=trim.v3.iolog --output-format=json >trim.json
  cp trim.v3.iolog "$TRACES/fio-trim.v3.iolog"
  fio_counts trim.json >"$TRACES/fio-trim.v3.counts.json"
  losetup -d "$LOOP"
  LOOP=
else
  echo "make-traces: no root/loop device: fio-trim.v3.iolog kept as it is" >&2
fi

# ---------------------------------------------------------------- qemu-io script and QEMU trace logs
# Every qemu-io command engine/workload/qemu-io-script.ts reads. No comment lines: qemu-io has none ('#' is
# "command not found") and the script must run under the real one.
cat >"$TRACES/ops.qemu-io" <<'EOF'
write -P 0x5a 0 64k
write -P 0253 64k 4k
write -c 128k 64k
write -z 192k 64k
write -z -u 256k 64k
write -f -P 0x11 320k 4k
writev -P 0x22 384k 4k 4k
aio_write -P 0x33 448k 8k
aio_write -z 512k 64k
aio_flush
read -P 0x5a 0 64k
read -P 171 64k 4k
readv -P 0x22 384k 4k 4k
aio_read -P 0x33 448k 8k
aio_flush
r 0 512
w -P 0x44 0x100000 0x1000
discard 1M 64k
flush
sleep 2
write -P 1 1.5M 512
read -P 1 1536k 512
f
EOF
run_ops() { # qemu-io options...
  qemu-img create -f qcow2 ops.qcow2 4M >/dev/null
  qemu-io "$@" ops.qcow2 <"$TRACES/ops.qemu-io" >ops.out 2>&1
  if grep -q -e 'failed' -e 'not found' -e 'rror' ops.out; then
    echo "make-traces: ops.qemu-io does not run cleanly:" >&2
    cat ops.out >&2
    exit 1
  fi
}
# qcow2_* events are what a user's log is full of: the parser must step over them. Without -f, qemu-io probes the
# format through a throw-away BlockBackend first: a read the guest never asked for. (The last --trace names the file.)
run_ops --trace 'enable=qcow2_*' --trace 'enable=blk_co_*,file=blk.log'
cp blk.log "$TRACES/ops.blk.qemu-trace"
run_ops -f qcow2 --trace 'enable=bdrv_co_*,file=bdrv.log'
cp bdrv.log "$TRACES/ops.bdrv.qemu-trace"

# ---------------------------------------------------------------- a synthesized per-CPU blktrace, printed by blkparse
python3 - synth <<'EOF'
# blktrace v7 records, little-endian, as the kernel forms them (blktrace_api.h): bio events (Q, G, M, A, X) carry
# no FS bit, request events (I, D, C) do; notify records have sequence 0.
import struct, sys
MAGIC = 0x65617407
QUEUE, ISSUE, COMPLETE, FS, PC, NOTIFY = 0x10, 0x40, 0x80, 0x100, 0x200, 0x400
READ, WRITE, FLUSH, SYNC, AHEAD, META, DISCARD, FUA = 0x1, 0x2, 0x4, 0x8, 0x800, 0x1000, 0x2000, 0x8000
A_Q, A_M, A_G, A_D, A_C, A_P, A_U, A_I, A_X, A_A = 1, 2, 4, 7, 8, 9, 10, 12, 13, 15
BASE = {A_Q: QUEUE, A_M: QUEUE, A_G: QUEUE, A_P: QUEUE, A_U: QUEUE, A_X: 0, A_A: QUEUE, A_I: QUEUE | FS, A_D: ISSUE | FS, A_C: COMPLETE | FS}
def dev(ma, mi): return (ma << 20) | mi
SDA, SDA2 = dev(8, 0), dev(8, 2)
T0 = 5_000_000_000_000  # ns since boot
files = {0: [], 1: []}
seq = {0: 0, 1: 0}
def rec(cpu, t_us, code, cats, sector=0, nbytes=0, pid=100, device=SDA, pdu=b"", notify=False):
    s = 0
    if not notify:
        seq[cpu] += 1
        s = seq[cpu]
    action = code | ((cats | (0 if notify else BASE.get(code, 0))) << 16)
    t = T0 + int(t_us * 1000)
    files[cpu].append(struct.pack('<IIQQIIIIIHH', MAGIC, s, t, sector, nbytes, action, pid, device, cpu, 0, len(pdu)) + pdu)
def comm(cpu, pid, name): rec(cpu, 0, 0, NOTIFY, pid=pid, pdu=name.encode().ljust(16, b"\0"), notify=True)
io = rec
u64be = lambda v: struct.pack('>Q', v)
comm(0, 100, "writer"); comm(1, 200, "reader"); comm(0, 300, "sync")
rec(0, 0, 1, NOTIFY, pdu=struct.pack('<II', 1700000000, 123456789), notify=True)  # wall-clock timestamp
# a write from partition 8,2 (which starts at sector 2048), remapped onto 8,0
io(0, 1, A_A, WRITE | SYNC, 2148, 4096, pdu=struct.pack('>IIQ', SDA2, SDA, 100))
io(0, 2, A_Q, WRITE | SYNC, 2148, 4096)
io(0, 3, A_G, WRITE | SYNC, 2148, 4096)
io(0, 4, A_I, WRITE | SYNC, 2148, 4096)
io(0, 5, A_D, WRITE | SYNC, 2148, 4096)
# a read-ahead read on cpu 1, interleaved in time
io(1, 4.5, A_Q, READ | AHEAD, 90000, 16384, pid=200)
io(1, 6, A_G, READ | AHEAD, 90000, 16384, pid=200)
io(1, 6.5, A_P, READ, 0, 0, pid=200)
io(1, 7, A_U, READ, 0, 0, pid=200, pdu=u64be(1))
io(1, 8, A_D, READ | AHEAD, 90000, 16384, pid=200)
io(0, 40, A_C, WRITE | SYNC, 2148, 4096, pid=0)
io(1, 41, A_C, READ | AHEAD, 90000, 16384, pid=0)
# a flush without data, then a write with preflush and FUA
io(0, 50, A_Q, WRITE | FLUSH | SYNC, 0, 0, pid=300)
io(0, 51, A_D, FLUSH, 0, 0, pid=300)
io(0, 60, A_C, FLUSH, 0, 0, pid=0)
io(0, 61, A_Q, WRITE | FLUSH | FUA | SYNC, 1000, 8192, pid=300)
io(0, 62, A_G, WRITE | FLUSH | FUA | SYNC, 1000, 8192, pid=300)
io(0, 63, A_D, WRITE | FUA | SYNC, 1000, 8192, pid=300)
io(0, 80, A_C, WRITE | FUA | SYNC, 1000, 8192, pid=0)
# a 1 MiB discard on cpu 1
io(1, 81, A_Q, WRITE | DISCARD | SYNC, 10000, 1 << 20, pid=200)
io(1, 82, A_G, WRITE | DISCARD | SYNC, 10000, 1 << 20, pid=200)
io(1, 83, A_D, WRITE | DISCARD | SYNC, 10000, 1 << 20, pid=200)
io(1, 90, A_C, WRITE | DISCARD | SYNC, 10000, 1 << 20, pid=0)
# a 256 KiB write split at 128 KiB: queued whole, split, the remainder queued again, two requests issued
io(0, 100, A_Q, WRITE, 4096, 262144)
io(0, 101, A_X, WRITE, 4096, 131072, pdu=u64be(4352))
io(0, 102, A_Q, WRITE, 4352, 131072)
io(0, 103, A_G, WRITE, 4096, 131072)
io(0, 104, A_G, WRITE, 4352, 131072)
io(0, 105, A_D, WRITE, 4096, 131072)
io(0, 106, A_D, WRITE, 4352, 131072)
io(0, 130, A_C, WRITE, 4096, 131072, pid=0)
io(0, 131, A_C, WRITE, 4352, 131072, pid=0)
# two metadata writes back-merged into one request on cpu 1, a message record between them
io(1, 140, A_Q, WRITE | META, 8000, 4096, pid=200)
io(1, 141, A_G, WRITE | META, 8000, 4096, pid=200)
io(1, 142, A_Q, WRITE | META, 8008, 4096, pid=200)
io(1, 143, A_M, WRITE | META, 8008, 4096, pid=200)
rec(1, 144, 2, NOTIFY, pid=200, pdu=b"hello from make-traces\0", notify=True)
io(1, 145, A_D, WRITE | META, 8000, 8192, pid=200)
io(1, 160, A_C, WRITE | META, 8000, 8192, pid=0)
# a SCSI passthrough command (INQUIRY): not a filesystem request
io(0, 170, A_I, PC | READ, 0, 36, pid=300, pdu=bytes([0x12, 0, 0, 0, 0x24, 0]))
io(0, 171, A_D, PC | READ, 0, 36, pid=300, pdu=bytes([0x12, 0, 0, 0, 0x24, 0]))
io(0, 175, A_C, PC | READ, 0, 36, pid=0, pdu=bytes([0x12, 0, 0, 0, 0x24, 0]))
for cpu, recs in files.items():
    with open(f"{sys.argv[1]}.blktrace.{cpu}", "wb") as f:
        f.write(b"".join(recs))
EOF
blkparse -i synth >synth.txt 2>/dev/null
blkparse -t -i synth >synth-t.txt 2>/dev/null
blkparse -i synth -d synth.dump >/dev/null 2>&1
cp synth.blktrace.0 synth.blktrace.1 synth.dump "$TRACES/"
cp synth.txt "$TRACES/synth.blkparse.txt"
cp synth-t.txt "$TRACES/synth.blkparse-t.txt"

# ---------------------------------------------------------------- a real blktrace, where the machine allows it
WHY=
capture_real() {
  [[ $(id -u) == 0 ]] || { WHY="not root"; return 1; }
  command -v blktrace >/dev/null || { WHY="no blktrace"; return 1; }
  command -v losetup >/dev/null || { WHY="no losetup"; return 1; }
  truncate -s 64M capture.img
  LOOP=$(losetup -f --show capture.img) || { WHY="losetup failed"; LOOP=; return 1; }
  local dbg=/sys/kernel/debug
  if [[ ! -d $dbg/block ]]; then
    DEBUGFS=$WORK/debugfs
    mkdir -p "$DEBUGFS"
    mount -t debugfs none "$DEBUGFS" || { WHY="cannot mount debugfs"; DEBUGFS=; return 1; }
    dbg=$DEBUGFS
  fi
  blktrace -d "$LOOP" -r "$dbg" -o capture -w 6 >blktrace.out 2>&1 &
  local bt=$!
  sleep 1
  if ! kill -0 "$bt" 2>/dev/null || grep -q -i -e 'fail' -e 'not permitted' blktrace.out; then
    wait "$bt" || true
    WHY="blktrace cannot trace here: $(head -n1 blktrace.out)"
    return 1
  fi
  fio --name=cap --filename="$LOOP" --direct=1 --rw=randrw --bs=4k --size=16M --io_size=512k --fsync=8 \
    --ioengine=psync >/dev/null
  fio --name=captrim --filename="$LOOP" --direct=1 --rw=randtrim --bs=64k --size=16M --io_size=256k \
    --ioengine=psync >/dev/null
  wait "$bt" || true
  ls capture.blktrace.* >/dev/null 2>&1 || { WHY="blktrace wrote nothing"; return 1; }
  blkparse -i capture >capture.txt 2>/dev/null
  rm -f "$TRACES"/capture.blktrace.*
  cp capture.blktrace.* "$TRACES/"
  cp capture.txt "$TRACES/capture.blkparse.txt"
}
if capture_real; then
  echo "make-traces: real blktrace capture written to traces/capture.*" >&2
else
  echo "make-traces: no real blktrace capture on this machine ($WHY); ../shared/traces holds a real one" >&2
fi
echo "make-traces: done; samples in $TRACES" >&2
