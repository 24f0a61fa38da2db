#!/bin/bash
# Runs QEMU 7.2's own iotests (tests/qemu-iotests) with `qcowdbg repl --write` standing in for qemu-io, and the
# real qemu-img. QEMU's test code is not part of this repository: apt fetches it from the machine's own Debian
# sources (`apt-get source` of the qemu 7.2+dfsg that the installed qemu-utils is built from, its orig tarball
# checked against its sha256) into a cache folder. Without deb-src entries it adds them (root), derived from the
# machine's debian.sources with Types: deb-src, and runs apt-get update.
#
#   scripts/run-iotests.sh                 # the tests that need only qemu-img and qemu-io: 001 002 003 004 008 011 027 032
#   scripts/run-iotests.sh 001 005         # chosen tests
#   scripts/run-iotests.sh wide            # the 81 known to pass (a few minutes to an hour, depending on load)
#   QEMU_IO=/usr/bin/qemu-io scripts/run-iotests.sh   # the same tests with the real qemu-io, for reference
#
# Environment: QEMU_SRC (an unpacked QEMU 7.2 source tree to use instead of fetching), IOTESTS_CACHE (default
# ${TMPDIR:-/tmp}/qcowdbg-iotests), QEMU_IO (the qemu-io to test; default: qcowdbg). Needs `npx tsc` run first.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${IOTESTS_CACHE:-${TMPDIR:-/tmp}/qcowdbg-iotests}
TARBALL_SHA256=91aca71520040edc40b8d437aa3004dae614f58e286cf653ee8996c07af2962f
TESTS=("$@")
[ ${#TESTS[@]} -eq 0 ] && TESTS=(001 002 003 004 008 011 027 032)
# `wide`: every test needing only qemu-img and qemu-io that passed with qcowdbg as well as with qemu-io 7.2 when
# this list was made (of 001-188, then 025 039 187 250 261 272 of 001-313 once truncate, reopen and the repair of
# dirty images at open were modelled, 022 029 once the VM state was, then the 14 of the last line from a sweep
# of the rest (190 and 287 make raw reference images, through the real qemu-io); the others use blkdebug, json:
# filenames, --object, -s or other formats, which qcowdbg refuses with one line on stderr).
if [ "${TESTS[*]}" = wide ]; then
  TESTS=(001 002 003 004 005 007 008 009 010 011 012 013 014 015 017 018 019 021 023 024 027 031 032 034 035 036 037
    038 042 043 047 048 049 050 053 054 062 063 073 074 079 086 090 097 104 105 110 111 112 115 121 122 126 138 150
    159 170 174 103 025 039 187 250 261 272 022 029
    098 154 190 217 243 251 252 265 279 287 290 292 305 313)
fi

for tool in qemu-img python3; do
  command -v "$tool" >/dev/null || { echo "run-iotests: $tool is needed" >&2; exit 2; }
done
[ -f "$ROOT/dist/cli/main.js" ] || { echo "run-iotests: build first (npx tsc -p tsconfig.json)" >&2; exit 2; }

mkdir -p "$CACHE"
if [ -n "${QEMU_SRC:-}" ]; then
  IOTESTS=$QEMU_SRC/tests/qemu-iotests
else
  IOTESTS=$CACHE/qemu-7.2.0/tests/qemu-iotests
  if [ ! -x "$IOTESTS/check" ]; then
    tarball=$CACHE/qemu_7.2+dfsg.orig.tar.xz
    if [ ! -f "$tarball" ]; then
      version=$(dpkg-query -W -f='${source:Version}' qemu-utils)
      echo "run-iotests: apt-get source qemu=$version (only its orig tarball is used)" >&2
      if ! (cd "$CACHE" && apt-get source --download-only -qq "qemu=$version" >/dev/null 2>&1); then
        src=/etc/apt/sources.list.d/qcowdbg-deb-src.sources
        sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$src"
        apt-get update -qq
        (cd "$CACHE" && apt-get source --download-only -qq "qemu=$version" >/dev/null)
      fi
    fi
    echo "$TARBALL_SHA256  $tarball" | sha256sum -c --quiet - || { echo "run-iotests: $tarball: checksum mismatch" >&2; rm -f "$tarball"; exit 2; }
    tar -xJf "$tarball" -C "$CACHE" --wildcards 'qemu-7.2.0/tests/qemu-iotests/*'
  fi
fi
[ -x "$IOTESTS/check" ] || { echo "run-iotests: no $IOTESTS/check" >&2; exit 2; }

# The harness runs "$QEMU_IO_PROG --cache MODE --aio threads -f qcow2 ..."; `qcowdbg repl` takes qemu-io's options.
WRAP=$CACHE/bin
mkdir -p "$WRAP"
if [ -n "${QEMU_IO:-}" ]; then
  ln -sf "$QEMU_IO" "$WRAP/qemu-io"
else
  rm -f "$WRAP/qemu-io"
  # qcowdbg is a qcow2 tool: a test that makes a raw reference image (the last -f is raw, as in 271's
  # "qemu-io -f raw t.raw") gets the real qemu-io for it, when one is installed; every qcow2 command is ours.
  real=$(command -v qemu-io || true)
  {
    printf '#!/bin/sh\nfmt=\nfor a in "$@"; do [ "$prev" = -f ] && fmt=$a; prev=$a; done\n'
    [ -n "$real" ] && printf '[ "$fmt" = raw ] && exec %q "$@"\n' "$real"
    printf 'exec node %q repl --write "$@"\n' "$ROOT/dist/cli/main.js"
  } >"$WRAP/qemu-io"
  chmod +x "$WRAP/qemu-io"
fi

# The chosen tests need no emulator, NBD server or storage daemon, but the harness insists the binaries exist.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/qcowdbg-iotests-run.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
cd "$IOTESTS"
QEMU_PROG=/bin/true QSD_PROG=/bin/true QEMU_NBD_PROG=$(command -v qemu-nbd || echo /bin/true) \
  QEMU_IMG_PROG=$(command -v qemu-img) QEMU_IO_PROG=$WRAP/qemu-io TEST_DIR=$SCRATCH/scratch SOCK_DIR=$SCRATCH/sock \
  python3 ./check -qcow2 "${TESTS[@]}"
