// Images for the info/map/export oracle tests, made by real qemu-img/qemu-io in a temporary directory (plus a few
// byte edits qemu-img cannot make), and qemu-img's own output for each. Recipes run concurrently: the suite
// spends most of its time waiting for QEMU processes.
import { execFile } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

export const SECRET = ["--object", "secret,id=sec0,data=abc123"];
/** How qemu-img opens an encrypted image with its key (map, convert). */
export function withKey(file: string): string[] {
  return [...SECRET, "--image-opts", `driver=qcow2,file.filename=${file},encrypt.key-secret=sec0`];
}

export interface TestImage {
  /** Name as given to qemu-img and to qcowdbg (relative to the directory they run in, unless absolute). */
  name: string;
  /** Compare the --backing-chain variants too. */
  chain?: boolean;
  /** Encrypted: qemu-img needs the key for map/convert; qcowdbg maps without it and refuses to export. */
  key?: boolean;
  /** Holes matter (metadata preallocation, sparse raw): only comparable when SEEK_DATA/SEEK_HOLE is available. */
  holes?: boolean;
  /** Extra map option sets to compare (qemu-img map arguments). */
  mapArgs?: string[][];
}

type Step = [cmd: "qemu-img" | "qemu-io", ...args: string[]] | ((dir: string) => void | Promise<void>);

const io = (file: string, ...cmds: string[]): Step => ["qemu-io", "-f", "qcow2", ...cmds.flatMap((c) => ["-c", c]), file];
const img = (...args: string[]): Step => ["qemu-img", ...args];
/** A qemu-io run that is expected to die (abort): only its effect on the image matters. */
const ioDies = (file: string, ...cmds: string[]): Step => async (dir) => {
  await exec("qemu-io", ["-f", "qcow2", ...cmds.flatMap((c) => ["-c", c]), file], { cwd: dir }).catch(() => undefined);
};

/** Sets bits in a big-endian u64 header field. */
function orHeader64(file: string, offset: number, bits: number): (dir: string) => void {
  return (dir) => {
    const b = readFileSync(join(dir, file));
    b.writeUInt32BE((b.readUInt32BE(offset + 4) | bits) >>> 0, offset + 4);
    writeFileSync(join(dir, file), b);
  };
}

/** Rewrites the type of a header extension (to make it unknown), or appends an unknown one before the end marker. */
function editExtensions(file: string, edit: "drop-backing-format" | "add-unknown"): (dir: string) => void {
  return (dir) => {
    const b = readFileSync(join(dir, file));
    let off = b.readUInt32BE(100);
    for (;;) {
      const type = b.readUInt32BE(off);
      const len = b.readUInt32BE(off + 4);
      if (type === 0) break;
      if (edit === "drop-backing-format" && type === 0xe2792aca) b.writeUInt32BE(0x0badf00d, off);
      off += 8 + Math.ceil(len / 8) * 8;
    }
    if (edit === "add-unknown") {
      const ext = Buffer.alloc(24);
      ext.writeUInt32BE(0x12345678, 0);
      ext.writeUInt32BE(5, 4);
      Buffer.from([1, 2, 3, 4, 5]).copy(ext, 8);
      ext.copy(b, off);
    }
    writeFileSync(join(dir, file), b);
  };
}

/** A sparse file of `size` bytes with `data` written at `at`. */
function sparseFile(file: string, size: number, at: number, data: string): (dir: string) => void {
  return (dir) => {
    const fd = openSync(join(dir, file), "w");
    try {
      writeSync(fd, Buffer.from(data), 0, data.length, at);
      // ftruncate keeps the rest a hole.
      ftruncateSync(fd, size);
    } finally {
      closeSync(fd);
    }
  };
}

interface Recipe {
  images: TestImage[];
  steps: Step[];
}

/** Every image: what it exercises is in its name and its recipe. */
export function recipes(absDir: string): Recipe[] {
  return [
    { images: [{ name: "v2.qcow2" }], steps: [img("create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4k", "v2.qcow2", "4M"), io("v2.qcow2", "write -P 1 0 12k", "write -z 16k 4k", "write -P 2 1M 4k", "write -z 4k 4k")] },
    {
      images: [{ name: "default.qcow2", mapArgs: [["--start-offset", "4096", "--max-length", "100000"], ["--start-offset", "100", "--max-length", "1000"], ["--start-offset", "64M"]] }],
      steps: [img("create", "-q", "-f", "qcow2", "default.qcow2", "64M"), io("default.qcow2", "write -P 0x5a 0 48k", "write -P 0x5b 52k 8k", "write -c -P 0x5c 32M 64k", "write -z 2M 128k", "write -P 1 40M 1k")],
    },
    {
      images: [{ name: "base.raw" }, { name: "sub/mid.qcow2", chain: true }, { name: "top.qcow2", chain: true }, { name: "./top.qcow2", chain: true }, { name: `${absDir}/top.qcow2`, chain: true }],
      steps: [
        (dir) => mkdirSync(join(dir, "sub"), { recursive: true }),
        sparseFile("base.raw", 100001, 0, "base data at zero"),
        ["qemu-io", "-f", "raw", "-c", "write -P 6 50000 3000", "base.raw"],
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "-b", "../base.raw", "-F", "raw", "sub/mid.qcow2", "1M"),
        io("sub/mid.qcow2", "write -P 7 4k 4k", "write -P 8 96k 8k", "write -z 8k 4k"),
        img("create", "-q", "-f", "qcow2", "-b", "sub/mid.qcow2", "-F", "qcow2", "top.qcow2", "2M"),
        io("top.qcow2", "write -P 9 1536k 4k", "discard 0 64k", "write -P 10 200k 1k"),
      ],
    },
    {
      images: [{ name: "abs-backing.qcow2", chain: true }, { name: "no-backing-format.qcow2", chain: true }],
      steps: [
        sparseFile("odd.raw", 99999, 99990, "abcdef"),
        img("create", "-q", "-f", "qcow2", "-b", `${absDir}/odd.raw`, "-F", "raw", "abs-backing.qcow2", "1M"),
        io("abs-backing.qcow2", "write -P 1 512 512"),
        img("create", "-q", "-f", "qcow2", "-b", "abs-backing.qcow2", "-F", "qcow2", "no-backing-format.qcow2", "1M"),
        editExtensions("no-backing-format.qcow2", "drop-backing-format"),
      ],
    },
    {
      images: [{ name: "snapshots.qcow2" }],
      steps: [
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "snapshots.qcow2", "16M"),
        io("snapshots.qcow2", "write -P 0xe1 0 16k"),
        img("snapshot", "-c", "s1", "snapshots.qcow2"),
        io("snapshots.qcow2", "write -P 0xe2 4k 4k"),
        img("snapshot", "-c", "a rather long snapshot name, longer than sixteen", "snapshots.qcow2"),
      ],
    },
    {
      images: [{ name: "bitmaps.qcow2" }],
      steps: [
        img("create", "-q", "-f", "qcow2", "bitmaps.qcow2", "16M"),
        img("bitmap", "--add", "bitmaps.qcow2", "b0"),
        img("bitmap", "--add", "-g", "512", "bitmaps.qcow2", "tiny"),
        img("bitmap", "--add", "--disable", "-g", "1M", "bitmaps.qcow2", "off"),
        io("bitmaps.qcow2", "write -P 1 0 64k"),
      ],
    },
    {
      images: [{ name: "data-file.qcow2" }, { name: "data-file-raw.qcow2" }],
      steps: [
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k,data_file=data-file.data", "data-file.qcow2", "1M"),
        io("data-file.qcow2", "write -P 1 0 8k", "write -z 12k 4k", "write -P 2 33792 2k"),
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k,data_file=data-file-raw.data,data_file_raw=on", "data-file-raw.qcow2", "1M"),
        io("data-file-raw.qcow2", "write -P 1 4k 8k", "write -P 2 33000 100"),
      ],
    },
    {
      images: [{ name: "extended-l2.qcow2" }, { name: "extended-l2-backing.qcow2", chain: true }],
      steps: [
        img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=64k", "extended-l2.qcow2", "4M"),
        io("extended-l2.qcow2", "write -P 1 0 2k", "write -P 2 8k 3k", "write -z 32k 4k", "write -P 3 1M 64k", "write -c -P 4 2M 64k"),
        sparseFile("small.raw", 65536, 0, "small raw backing"),
        img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=64k", "-b", "small.raw", "-F", "raw", "extended-l2-backing.qcow2", "4M"),
        io("extended-l2-backing.qcow2", "write -P 1 4k 2k", "write -z 40k 2k", "write -P 2 70k 2k"),
      ],
    },
    {
      images: [{ name: "zstd.qcow2" }],
      steps: [img("create", "-q", "-f", "qcow2", "-o", "compression_type=zstd,cluster_size=16k", "zstd.qcow2", "4M"), io("zstd.qcow2", "write -c -P 1 0 16k", "write -c -P 2 32k 32k", "write -P 3 64k 16k")],
    },
    {
      images: [{ name: "lazy-dirty.qcow2" }],
      // qemu-io's abort leaves the dirty bit set: lazy refcounts were not written back.
      steps: [img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=4k", "lazy-dirty.qcow2", "1M"), ioDies("lazy-dirty.qcow2", "write -P 1 0 4k", "abort")],
    },
    {
      images: [{ name: "aes.qcow2", key: true }],
      steps: [
        img("create", "-q", "-f", "qcow2", ...SECRET, "-o", "encrypt.format=aes,encrypt.key-secret=sec0,cluster_size=4k", "aes.qcow2", "1M"),
        ["qemu-io", ...withKey("aes.qcow2"), "-c", "write -P 1 0 8k", "-c", "write -P 2 100k 512"],
      ],
    },
    {
      images: [{ name: "prealloc-metadata.qcow2", holes: true }, { name: "prealloc-falloc.qcow2" }, { name: "prealloc-full.qcow2" }],
      steps: [
        img("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata,cluster_size=4k", "prealloc-metadata.qcow2", "8M"),
        io("prealloc-metadata.qcow2", "write -P 3 64k 8k", "write -P 4 5M 4k"),
        img("create", "-q", "-f", "qcow2", "-o", "preallocation=falloc,cluster_size=4k", "prealloc-falloc.qcow2", "1M"),
        img("create", "-q", "-f", "qcow2", "-o", "preallocation=full,cluster_size=4k", "prealloc-full.qcow2", "1M"),
      ],
    },
    {
      images: [{ name: "sparse.raw", holes: true }, { name: "over-sparse.qcow2", holes: true, chain: true }],
      steps: [sparseFile("sparse.raw", 10 * 1024 * 1024, 5000000, "x"), img("create", "-q", "-f", "qcow2", "-b", "sparse.raw", "-F", "raw", "over-sparse.qcow2", "12M"), io("over-sparse.qcow2", "write -P 1 6M 64k")],
    },
    {
      images: [{ name: "empty.qcow2" }, { name: "odd-size.qcow2" }, { name: "cluster-512.qcow2" }, { name: "cluster-2m.qcow2" }, { name: "refcount-1.qcow2" }, { name: "refcount-64.qcow2" }],
      steps: [
        img("create", "-q", "-f", "qcow2", "empty.qcow2", "0"),
        img("create", "-q", "-f", "qcow2", "odd-size.qcow2", "1000"),
        io("odd-size.qcow2", "write -P 1 0 512"),
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "cluster-512.qcow2", "1M"),
        io("cluster-512.qcow2", "write -P 1 1000 3000", "write -z 8k 1k"),
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=2M", "cluster-2m.qcow2", "64M"),
        io("cluster-2m.qcow2", "write -P 1 3M 1M", "write -z 10M 2M"),
        img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=1,cluster_size=4k", "refcount-1.qcow2", "1M"),
        io("refcount-1.qcow2", "write -P 1 0 8k"),
        img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=64,cluster_size=4k", "refcount-64.qcow2", "1M"),
        io("refcount-64.qcow2", "write -P 1 0 8k"),
      ],
    },
    {
      images: [{ name: "corrupt.qcow2" }, { name: "unknown-extension.qcow2" }, { name: "name with space é.qcow2" }],
      steps: [
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "corrupt.qcow2", "1M"),
        io("corrupt.qcow2", "write -P 1 0 4k"),
        orHeader64("corrupt.qcow2", 72, 2),
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "unknown-extension.qcow2", "1M"),
        editExtensions("unknown-extension.qcow2", "add-unknown"),
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "name with space é.qcow2", "1M"),
        io("name with space é.qcow2", "write -P 1 4k 4k"),
      ],
    },
  ];
}

async function runRecipe(dir: string, r: Recipe): Promise<void> {
  for (const s of r.steps) {
    if (typeof s === "function") await s(dir);
    else await exec(s[0], s.slice(1), { cwd: dir });
  }
}

/** Builds every image in `dir` (absolute); a few recipes at a time. */
export async function buildImages(dir: string, extra: Recipe[] = []): Promise<TestImage[]> {
  const all = [...recipes(dir), ...extra];
  const queue = [...all];
  const workers = Array.from({ length: 4 }, async () => {
    for (let r = queue.shift(); r; r = queue.shift()) await runRecipe(dir, r);
  });
  await Promise.all(workers);
  return all.flatMap((r) => r.images);
}

export interface QemuRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a QEMU tool in `cwd`, returning its output and exit code instead of throwing. */
export async function qemu(cwd: string, cmd: string, args: string[]): Promise<QemuRun> {
  try {
    const r = await exec(cmd, args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : 1, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}
