// `qcowdbg check` against the real `qemu-img check` 7.2: images built with qemu-img/qemu-io in a temporary
// directory, some broken on purpose; stdout (human and JSON), stderr and the exit code must be the same.
import { afterAll, describe, expect, it } from "vitest";
import { copyFileSync, existsSync, truncateSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Layout, ourCheck, qemuCheck, qemuImg, qemuIo, Scratch } from "./oracle.js";

const s = new Scratch();
afterAll(() => s.cleanup());

interface Case {
  name: string;
  /** Builds the image and returns its path. */
  build: () => string;
  /** qemu-img options before the file (an encrypted image needs its secret). */
  qemuPre?: string[];
  /** How qemu-img must be pointed at the file when it differs from ours (image-opts). */
  qemuFile?: (file: string) => string;
  withoutKey?: boolean;
  /** Exit code qemu-img gives, so a scenario cannot silently stop testing what it claims to. */
  expectStatus: number;
}

let n = 0;
function img(opts: string[] = [], size = "64M"): string {
  const f = s.path(`i${n++}.qcow2`);
  qemuImg("create", "-f", "qcow2", ...(opts.length ? ["-o", opts.join(",")] : []), f, size);
  return f;
}

function written(opts: string[] = [], size = "64M", cmds = ["write -P 1 0 128k", "write -P 2 1M 64k", "write -P 3 5M 4k"]): string {
  const f = img(opts, size);
  qemuIo(f, cmds);
  return f;
}

function withSnapshots(opts: string[] = [], size = "16M"): string {
  const f = written(opts, size, ["write -P 1 0 96k"]);
  qemuImg("snapshot", "-c", "s1", f);
  qemuIo(f, ["write -P 2 32k 32k", "write -P 3 2M 8k"]);
  qemuImg("snapshot", "-c", "s2", f);
  qemuIo(f, ["write -P 4 0 4k"]);
  return f;
}

/** Builds an image and then edits it. */
function broken(base: () => string, edit: (l: Layout) => void): () => string {
  return () => {
    const f = base();
    edit(new Layout(f));
    return f;
  };
}

const plain = () => written();

/**
 * A LUKS image with secret "abc123": the committed sample when there is one (creating LUKS images is slow, and
 * qemu-img's PBKDF calibration fails now and then on a busy machine), else made here, with retries.
 */
let luksImage: string | undefined;
function luks(): string {
  const sample = fileURLToPath(new URL("../../samples/images/luks.qcow2", import.meta.url));
  if (!luksImage && existsSync(sample)) {
    luksImage = s.path("luks.qcow2");
    copyFileSync(sample, luksImage);
  }
  for (let attempt = 0; !luksImage; attempt++) {
    const f = s.path(`luks${attempt}.qcow2`);
    try {
      qemuImg("create", "-f", "qcow2", "--object", "secret,id=sec0,data=abc123", "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg=aes-128,encrypt.iter-time=100", f, "16M");
      luksImage = f;
    } catch (e) {
      if (attempt >= 4) throw e;
    }
  }
  return luksImage;
}

/** Cuts the first snapshot entry's extra data to `size` bytes (moving the rest of the table), as an old writer would. */
function shrinkFirstSnapshotExtra(l: Layout, size: number): void {
  const table = Number(l.u64(64));
  const nb = l.u32(60);
  let end = 0;
  for (let i = 0; i < nb; i++) {
    end = Math.ceil(end / 8) * 8;
    const h = l.read(table + end, 40);
    end += 40 + h.readUInt32BE(36) + h.readUInt16BE(12) + h.readUInt16BE(14);
  }
  const bytes = l.read(table, end);
  const extra = bytes.readUInt32BE(36);
  const cut = extra - size;
  if (cut % 8 !== 0) throw new Error("the cut must keep the next entries aligned");
  bytes.writeUInt32BE(size, 36);
  const out = Buffer.concat([bytes.subarray(0, 40 + size), bytes.subarray(40 + extra), Buffer.alloc(cut)]);
  l.write(table, out);
}

const cases: Case[] = [
  { name: "empty image", build: () => img(), expectStatus: 0 },
  { name: "plain writes", build: plain, expectStatus: 0 },
  { name: "writes, zero writes and discards", build: () => written([], "64M", ["write 0 1M", "write -z 64k 128k", "discard 512k 128k", "write -z -u 768k 64k"]), expectStatus: 0 },
  { name: "internal snapshots (shared clusters)", build: () => withSnapshots(), expectStatus: 0 },
  {
    name: "deleted snapshot",
    build: () => {
      const f = withSnapshots();
      qemuImg("snapshot", "-d", "s1", f);
      return f;
    },
    expectStatus: 0,
  },
  { name: "compressed writes", build: () => written([], "16M", ["write -c -P 7 0 64k", "write -c -P 8 64k 64k", "write -P 9 4k 4k"]), expectStatus: 0 },
  {
    name: "convert -c (compressed clusters sharing host clusters)",
    build: () => {
      const src = written(["cluster_size=4096"], "4M", ["write -P 5 0 1M", "write -P 6 2M 512k"]);
      const f = s.path(`i${n++}.qcow2`);
      qemuImg("convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096", src, f);
      return f;
    },
    expectStatus: 0,
  },
  {
    name: "extended L2 with subcluster writes",
    build: () => written(["extended_l2=on", "cluster_size=65536"], "16M", ["write -P 1 0 4k", "write -P 2 70k 6k", "write -z 256k 2k", "write -z 512k 64k", "write -P 3 1M 64k"]),
    expectStatus: 0,
  },
  ...[0, 1, 2, 3, 4, 5, 6].map(
    (order): Case => ({
      name: `refcount width ${1 << order}`,
      build: () =>
        order === 0
          ? written([`refcount_bits=1`, "cluster_size=4096"], "4M")
          : withSnapshots([`refcount_bits=${1 << order}`, "cluster_size=4096"], "4M"),
      expectStatus: 0,
    }),
  ),
  { name: "512-byte clusters", build: () => withSnapshots(["cluster_size=512"], "2M"), expectStatus: 0 },
  { name: "2 MiB clusters", build: () => written(["cluster_size=2M"], "64M", ["write -P 1 0 4k", "write -P 2 10M 4k"]), expectStatus: 0 },
  { name: "compat 0.10 (v2) with a snapshot", build: () => withSnapshots(["compat=0.10"]), expectStatus: 0 },
  { name: "virtual size past 2^53 (9 PiB, 2 MiB clusters)", build: () => written(["cluster_size=2M"], "9P", ["write -P 1 8P 64k"]), expectStatus: 0 },
  { name: "preallocation=metadata", build: () => img(["preallocation=metadata"], "8M"), expectStatus: 0 },
  { name: "preallocation=falloc", build: () => img(["preallocation=falloc"], "4M"), expectStatus: 0 },
  {
    name: "lazy refcounts, dirty after a crash",
    build: () => {
      const f = img(["lazy_refcounts=on"]);
      qemuIo(f, ["write -P 1 0 64k", "write -P 2 1M 4k", "abort"]);
      return f;
    },
    expectStatus: 2,
  },
  {
    name: "external data file",
    build: () => written([`data_file=${s.path(`d${n}.raw`)}`]),
    expectStatus: 0,
  },
  {
    name: "external raw data file",
    build: () => written([`data_file=${s.path(`d${n}.raw`)}`, "data_file_raw=on"]),
    expectStatus: 0,
  },
  {
    name: "persistent bitmaps",
    build: () => {
      const f = img([], "16M");
      qemuImg("bitmap", "--add", f, "b0");
      qemuImg("bitmap", "--add", "-g", "64k", f, "b1");
      qemuIo(f, ["write -P 1 0 64k", "write -P 2 4M 1M"]);
      qemuImg("bitmap", "--disable", f, "b1");
      return f;
    },
    expectStatus: 0,
  },
  {
    name: "bitmap left in use by a crash",
    build: () => {
      const f = img([], "16M");
      qemuImg("bitmap", "--add", f, "b0");
      qemuIo(f, ["write -P 1 0 64k"]);
      qemuIo(f, ["write -P 2 1M 64k", "abort"]);
      return f;
    },
    expectStatus: 0,
  },
  {
    name: "bitmaps written by a program without bitmap support",
    build: broken(
      () => {
        const f = img([], "16M");
        qemuImg("bitmap", "--add", f, "b0");
        qemuIo(f, ["write -P 1 0 64k"]);
        return f;
      },
      (l) => l.setU64(88, 0n),
    ),
    expectStatus: 3,
  },
  {
    name: "LUKS encryption (qemu-img with the secret, ours without the key)",
    build: luks,
    qemuPre: ["--object", "secret,id=sec0,data=abc123", "--image-opts"],
    qemuFile: (f) => `driver=qcow2,file.filename=${f},encrypt.key-secret=sec0`,
    withoutKey: true,
    expectStatus: 0,
  },
  { name: "LUKS without a key: refused like qemu-img", build: luks, expectStatus: 1 },

  // Refcounts broken on purpose.
  { name: "leaked cluster (refcount raised on a data cluster)", build: broken(plain, (l) => l.setRefcount(l.hostClusterOf(0), 2)), expectStatus: 2 },
  {
    name: "leaked cluster past the last reference",
    build: broken(plain, (l) => {
      const k = Math.ceil(l.size() / l.clusterSize);
      truncateSync(l.file, (k + 1) * l.clusterSize);
      l.setRefcount(k, 1);
    }),
    expectStatus: 3,
  },
  { name: "refcount error (data cluster refcount zeroed)", build: broken(plain, (l) => l.setRefcount(l.hostClusterOf(1), 0)), expectStatus: 2 },
  { name: "L2 table refcount 2 (OFLAG_COPIED on the L1 entry)", build: broken(plain, (l) => l.setRefcount(Number(l.u64(l.l1EntryAt(0)) & 0xfffffffe00n) / l.clusterSize, 2)), expectStatus: 2 },
  { name: "L1 entry without COPIED", build: broken(plain, (l) => l.setU64(l.l1EntryAt(0), l.u64(l.l1EntryAt(0)) & ~(1n << 63n))), expectStatus: 2 },
  { name: "L2 entry without COPIED", build: broken(plain, (l) => l.setU64(l.l2EntryAt(1), l.u64(l.l2EntryAt(1)) & ~(1n << 63n))), expectStatus: 2 },
  { name: "L2 entry beyond the end of the file", build: broken(plain, (l) => l.setU64(l.l2EntryAt(1), (1n << 63n) | 0x100000000n)), expectStatus: 2 },
  { name: "L1 entry beyond the end of the file", build: broken(plain, (l) => l.setU64(l.l1EntryAt(0), (1n << 63n) | 0x40000000000n)), expectStatus: 2 },
  { name: "L1 entry with reserved bits", build: broken(plain, (l) => l.setU64(l.l1EntryAt(0), l.u64(l.l1EntryAt(0)) | 1n)), expectStatus: 2 },
  { name: "L2 entry with reserved bits", build: broken(plain, (l) => l.setU64(l.l2EntryAt(0), l.u64(l.l2EntryAt(0)) | 2n)), expectStatus: 2 },
  { name: "unaligned L2 table offset", build: broken(plain, (l) => l.setU64(l.l1EntryAt(0), l.u64(l.l1EntryAt(0)) + 0x200n)), expectStatus: 2 },
  { name: "unaligned data cluster offset", build: broken(plain, (l) => l.setU64(l.l2EntryAt(0), l.u64(l.l2EntryAt(0)) + 0x200n)), expectStatus: 2 },
  {
    name: "unaligned preallocated zero cluster",
    build: broken(
      () => written([], "64M", ["write 0 64k", "write -z 0 64k"]),
      (l) => l.setU64(l.l2EntryAt(0), l.u64(l.l2EntryAt(0)) + 0x200n),
    ),
    expectStatus: 2,
  },
  {
    name: "compressed entry with COPIED",
    build: broken(
      () => written([], "16M", ["write -c -P 7 0 64k"]),
      (l) => l.setU64(l.l2EntryAt(0), l.u64(l.l2EntryAt(0)) | (1n << 63n)),
    ),
    expectStatus: 2,
  },
  {
    name: "refcount overflow (1-bit refcounts, a cluster referenced twice)",
    build: broken(
      () => written(["refcount_bits=1"], "16M", ["write -P 1 0 128k"]),
      (l) => l.setU64(l.l2EntryAt(1), l.u64(l.l2EntryAt(0))),
    ),
    expectStatus: 2,
  },
  { name: "unaligned refcount block", build: broken(plain, (l) => l.setU64(l.reftableOffset, l.u64(l.reftableOffset) + 0x200n)), expectStatus: 1 },
  { name: "refcount block outside the image", build: broken(plain, (l) => l.setU64(l.reftableOffset, 0x10000000000n)), expectStatus: 2 },
  { name: "refcount table entry with reserved bits", build: broken(plain, (l) => l.setU64(l.reftableOffset, l.u64(l.reftableOffset) | 1n)), expectStatus: 2 },
  { name: "refcount block referenced twice", build: broken(plain, (l) => l.setU64(l.reftableOffset + 8, l.u64(l.reftableOffset))), expectStatus: 2 },
  { name: "no refcount table", build: broken(plain, (l) => l.setU32(56, 0)), expectStatus: 2 },
  { name: "truncated in the middle of the data", build: broken(plain, (l) => truncateSync(l.file, Math.floor(l.size() / 2))), expectStatus: 2 },
  { name: "truncated after the header cluster", build: broken(plain, (l) => truncateSync(l.file, l.clusterSize)), expectStatus: 2 },
  { name: "dirty and corrupt bits set", build: broken(plain, (l) => l.setU64(72, 3n)), expectStatus: 0 },

  // Snapshot tables broken on purpose.
  { name: "snapshot L1 table not aligned", build: broken(() => withSnapshots(), (l) => l.setU64(Number(l.u64(64)), l.u64(Number(l.u64(64))) + 0x200n)), expectStatus: 2 },
  { name: "snapshot L1 table too large", build: broken(() => withSnapshots(), (l) => l.setU32(Number(l.u64(64)) + 8, 0x800000)), expectStatus: 2 },
  { name: "snapshot with too much extra data", build: broken(() => withSnapshots(), (l) => l.setU32(Number(l.u64(64)) + 36, 2000)), expectStatus: 1 },
  { name: "snapshot entry incomplete for v3", build: broken(() => withSnapshots(), (l) => shrinkFirstSnapshotExtra(l, 8)), expectStatus: 2 },
  { name: "too many snapshots", build: broken(() => withSnapshots(), (l) => l.setU32(60, 70000)), expectStatus: 1 },
  { name: "snapshot table not aligned", build: broken(plain, (l) => l.setU64(64, 0x200n)), expectStatus: 1 },
  { name: "snapshot table past the end of the file", build: broken(() => withSnapshots(), (l) => l.setU64(64, 0x100000000n)), expectStatus: 2 },

  // Images qemu-img refuses to open.
  { name: "unsupported version", build: broken(plain, (l) => l.setU32(4, 4)), expectStatus: 1 },
  { name: "cluster bits out of range", build: broken(plain, (l) => l.setU32(20, 22)), expectStatus: 1 },
  { name: "unknown incompatible feature", build: broken(plain, (l) => l.setU64(72, 0x100n)), expectStatus: 1 },
  { name: "refcount order above 6", build: broken(plain, (l) => l.setU32(96, 7)), expectStatus: 1 },
  { name: "L1 table too small", build: broken(plain, (l) => l.setU32(36, 0)), expectStatus: 1 },
  { name: "L1 table not aligned", build: broken(plain, (l) => l.setU64(40, BigInt(l.l1Offset + 512))), expectStatus: 1 },
  { name: "refcount table not aligned", build: broken(plain, (l) => l.setU64(48, BigInt(l.reftableOffset + 512))), expectStatus: 1 },
  { name: "unknown encryption method", build: broken(plain, (l) => l.setU32(32, 3)), expectStatus: 1 },
  { name: "header length below 104", build: broken(plain, (l) => l.setU32(100, 96)), expectStatus: 1 },
  {
    name: "missing backing file",
    build: () => {
      const f = s.path(`i${n++}.qcow2`);
      qemuImg("create", "-f", "qcow2", "-u", "-b", s.path("gone.qcow2"), "-F", "qcow2", f, "16M");
      return f;
    },
    expectStatus: 1,
  },
  {
    name: "backing file present",
    build: () => {
      const base = written([], "16M");
      const f = s.path(`i${n++}.qcow2`);
      qemuImg("create", "-f", "qcow2", "-b", base, "-F", "qcow2", f);
      qemuIo(f, ["write -P 9 64k 4k"]);
      return f;
    },
    expectStatus: 0,
  },
];

describe("qcowdbg check matches qemu-img check 7.2", () => {
  for (const c of cases) {
    it(c.name, () => {
      const file = c.build();
      for (const output of ["human", "json"] as const) {
        const theirs = qemuCheck(c.qemuFile ? c.qemuFile(file) : file, output, c.qemuPre ?? []);
        const ours = ourCheck(file, output, { withoutKey: c.withoutKey });
        if (c.qemuFile) theirs.stdout = theirs.stdout.replace(JSON.stringify(c.qemuFile(file)), JSON.stringify(file));
        expect(theirs.status, `qemu-img exit code (${output})\n${theirs.stderr}`).toBe(c.expectStatus);
        expect({ ...ours, output }).toEqual({ ...theirs, output });
      }
    });
  }
});
