// Test helpers: real images made by qemu-img/qemu-io in a temporary directory (the oracle), and the format
// decoders wired to a file the way the engine reads it.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ReadAt } from "../../engine/format/bytes.js";
import { decodeExtensions, type Extensions } from "../../engine/format/extensions.js";
import { decodeHeader, type Qcow2Header } from "../../engine/format/header.js";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";

export interface TmpDir {
  dir: string;
  path(name: string): string;
  cleanup(): void;
}

export function tmpDir(prefix = "qcowdbg-format-"): TmpDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function qemuImg(...args: string[]): string {
  return execFileSync("qemu-img", args, { encoding: "utf8" });
}

/** Runs qemu-io commands (-c each) on an image. */
export function qemuIo(file: string, ...cmds: string[]): void {
  execFileSync("qemu-io", ["-f", "qcow2", ...cmds.flatMap((c) => ["-c", c]), file], { encoding: "utf8" });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export function infoJson(file: string, ...extra: string[]): Json {
  return JSON.parse(qemuImg("info", "--output=json", ...extra, file));
}

export interface LoadedImage {
  bytes: Uint8Array;
  storage: MemoryStorage;
  read: ReadAt;
  header: Qcow2Header;
  ext: Extensions;
}

/** Loads a (small) image into memory and decodes its header and extensions as the engine does. */
export function loadImage(file: string, bytes: Uint8Array = new Uint8Array(readFileSync(file))): LoadedImage {
  const storage = new MemoryStorage(file, bytes);
  const header = decodeHeader(bytes.subarray(0, Math.min(bytes.length, 2 ** 21)), file);
  const cs = 2 ** header.clusterBits;
  const ext = decodeExtensions(bytes.subarray(0, cs), header.headerLength, header.backingFileOffset || cs, file);
  return { bytes, storage, read: (b, o) => storage.read(b, o), header, ext };
}

/**
 * A 16 MiB LUKS-encrypted qcow2 (secret "abc123"); `opts` adds ",key=value" create options. QEMU 7.2 benchmarks
 * PBKDF2 by CPU time and gives up with "Unable to get accurate CPU usage" when a round measures 0 ms (coarse
 * clocks, fast hashes): that is QEMU's flakiness, not ours, so such runs are retried.
 */
export async function createLuks(file: string, opts = ""): Promise<void> {
  const run = promisify(execFile);
  for (let attempt = 1; ; attempt++) {
    try {
      await run("qemu-img", [
        "create", "-q", "-f", "qcow2",
        "--object", "secret,id=sec0,data=abc123",
        "-o", `encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10${opts}`,
        file, "16M",
      ]);
      return;
    } catch (e) {
      if (attempt >= 10 || !String((e as { stderr?: string }).stderr).includes("accurate CPU usage")) throw e;
    }
  }
}
