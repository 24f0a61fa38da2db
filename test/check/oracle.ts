// Test helpers for check: images made by the real qemu-img/qemu-io in a temporary directory, byte edits that
// break them in chosen ways, and a comparison of `qcowdbg check` with `qemu-img check` (stdout, stderr, exit code).
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync, fstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { executeCheck, type CheckCliOptions } from "../../cli/commands/check.js";

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), "qcowdbg-check-"));
  path(name: string): string {
    return join(this.dir, name);
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function qemuImg(...args: string[]): void {
  execFileSync("qemu-img", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** qemu-io commands on an image; "abort" as the last command leaves it as a crash would. */
export function qemuIo(file: string, cmds: string[], extra: string[] = []): void {
  spawnSync("qemu-io", [...extra, ...cmds.flatMap((c) => ["-c", c]), file], { encoding: "utf8" });
}

/** Positional byte access to an image file, for breaking it on purpose. */
export class ImageBytes {
  constructor(readonly file: string) {}

  read(offset: number, length: number): Buffer {
    const fd = openSync(this.file, "r");
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    closeSync(fd);
    return b;
  }
  write(offset: number, bytes: Uint8Array): void {
    const fd = openSync(this.file, "r+");
    writeSync(fd, bytes, 0, bytes.length, offset);
    closeSync(fd);
  }
  size(): number {
    const fd = openSync(this.file, "r");
    const n = fstatSync(fd).size;
    closeSync(fd);
    return n;
  }
  u32(offset: number): number {
    return this.read(offset, 4).readUInt32BE(0);
  }
  u64(offset: number): bigint {
    return this.read(offset, 8).readBigUInt64BE(0);
  }
  setU32(offset: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.write(offset, b);
  }
  setU64(offset: number, v: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt.asUintN(64, v));
    this.write(offset, b);
  }
}

const L2_OFFSET_MASK = 0x00fffffffffffe00n;

/** The metadata layout of a qcow2 image, read from its header: where entries live, for targeted edits. */
export class Layout extends ImageBytes {
  get clusterBits(): number {
    return this.u32(20);
  }
  get clusterSize(): number {
    return 2 ** this.clusterBits;
  }
  get l1Offset(): number {
    return Number(this.u64(40));
  }
  get reftableOffset(): number {
    return Number(this.u64(48));
  }
  get refcountOrder(): number {
    return this.u32(4) === 3 ? this.u32(96) : 4;
  }
  get extendedL2(): boolean {
    return this.u32(4) === 3 && (this.u64(72) & 16n) !== 0n;
  }
  get l2Entries(): number {
    return this.clusterSize / (this.extendedL2 ? 16 : 8);
  }
  /** File offset of L1 entry i. */
  l1EntryAt(i: number): number {
    return this.l1Offset + 8 * i;
  }
  /** File offset of the L2 entry for guest cluster `vc` (its L2 table must exist). */
  l2EntryAt(vc: number): number {
    const l1 = this.u64(this.l1EntryAt(Math.floor(vc / this.l2Entries))) & L2_OFFSET_MASK;
    if (l1 === 0n) throw new Error(`no L2 table for guest cluster ${vc}`);
    return Number(l1) + (vc % this.l2Entries) * (this.extendedL2 ? 16 : 8);
  }
  /** Host cluster index of guest cluster `vc` (standard allocated entry). */
  hostClusterOf(vc: number): number {
    return Number((this.u64(this.l2EntryAt(vc)) & L2_OFFSET_MASK) / BigInt(this.clusterSize));
  }
  /** Rewrites the stored refcount of host cluster k (its refcount block must exist). */
  setRefcount(k: number, value: number): void {
    const order = this.refcountOrder;
    const perBlock = (this.clusterSize * 8) >> order;
    const block = Number(this.u64(this.reftableOffset + 8 * Math.floor(k / perBlock)) & ~0x1ffn);
    if (block === 0) throw new Error(`no refcount block for cluster ${k}`);
    const i = k % perBlock;
    const bits = 1 << order;
    if (bits >= 8) {
      const b = Buffer.alloc(bits / 8);
      let v = BigInt(value);
      for (let j = b.length - 1; j >= 0; j--, v >>= 8n) b[j] = Number(v & 0xffn);
      this.write(block + (i * bits) / 8, b);
    } else {
      const byteAt = block + Math.floor((i * bits) / 8);
      const shift = (i * bits) % 8;
      const mask = ((1 << bits) - 1) << shift;
      const old = this.read(byteAt, 1)[0]!;
      this.write(byteAt, Buffer.from([(old & ~mask) | ((value << shift) & mask)]));
    }
  }
}

export interface RunOutput {
  stdout: string;
  stderr: string;
  status: number;
}

/** qemu-img check as a user runs it; `pre` goes before the file name (e.g. --object for an encrypted image). */
export function qemuCheck(file: string, output: "human" | "json", pre: string[] = [], cwd?: string): RunOutput {
  const r = spawnSync("qemu-img", ["check", ...(output === "json" ? ["--output=json"] : []), ...pre, file], { encoding: "utf8", cwd, maxBuffer: 1 << 28 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

/** qcowdbg check, in process (the CLI's own executeCheck), with qemu-img's program name in its messages. */
export function ourCheck(file: string, output: "human" | "json", opts: Partial<CheckCliOptions> = {}): RunOutput {
  let stdout = "";
  let stderr = "";
  const status = executeCheck(file, { output, ...opts }, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { stdout, stderr: stderr.replaceAll("qcowdbg: ", "qemu-img: "), status };
}
