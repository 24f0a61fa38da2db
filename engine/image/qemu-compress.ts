// Compressing a cluster exactly as QEMU 7.2 does (qcow2_co_compress): through the libraries QEMU links, by the
// optional native addon (native/compress.cc): the system's zlib for deflate, libzstd for zstd. Node's bundled
// zlib is another fork whose streams differ for the same input, and a cluster's compressed length decides where
// the next one is stored; without the addon deflate falls back to it, and zstd is refused.
import { createRequire } from "node:module";
import * as zlib from "node:zlib";

interface CompressAddon {
  deflateRaw(data: Uint8Array, capacity: number): Uint8Array | number;
  zstd(data: Uint8Array, capacity: number): Uint8Array | number;
  hasZstd(): boolean;
  version(): string | null;
}

const ENOMEM = 12;

function load(): CompressAddon | null {
  if (process.platform !== "linux") return null;
  const require = createRequire(import.meta.url);
  // From dist/engine/image the addon is ../../native; from the sources (tests) it is ../../dist/native.
  for (const rel of ["../../native/compress.node", "../../dist/native/compress.node"]) {
    try {
      const m = require(rel) as Partial<CompressAddon>;
      if (typeof m.deflateRaw === "function" && typeof m.zstd === "function" && typeof m.version === "function") return m as CompressAddon;
    } catch {
      // not built here; try the next place
    }
  }
  return null;
}

const addon = load();
const systemZlib = addon !== null && addon.version() !== null;

/** Whether zstd clusters can be written (the addon found libzstd.so.1). */
export function zstdAvailable(): boolean {
  return addon !== null && addon.hasZstd();
}

function result(r: Uint8Array | number, what: string): Uint8Array | null {
  if (typeof r !== "number") return r;
  if (r === -ENOMEM) return null;
  throw new Error(`${what} failed (${r})`);
}

/**
 * One cluster compressed into at most `capacity` bytes (compression type 0: raw deflate with window bits 12,
 * memLevel 9, default level; 1: zstd at its default level); null when it does not fit (QEMU's -ENOMEM: the cluster
 * is then written uncompressed).
 */
export function qemuCompress(type: number, data: Uint8Array, capacity: number): Uint8Array | null {
  if (type === 1) {
    if (!zstdAvailable()) throw new Error("zstd compression needs the native addon (node scripts/build-native.mjs) and libzstd.so.1");
    return result(addon!.zstd(data, capacity), "zstd compression");
  }
  if (systemZlib) return result(addon!.deflateRaw(data, capacity), "deflate through the system zlib");
  const out = zlib.deflateRawSync(data, { level: zlib.constants.Z_DEFAULT_COMPRESSION, windowBits: 12, memLevel: 9 });
  return out.length > capacity ? null : out;
}
