// Deflating a compressed cluster exactly as QEMU 7.2 does (qcow2_zlib_compress): through the system's zlib, which
// QEMU links, by the optional native addon (native/zlib.cc). Node's bundled zlib is another fork whose streams
// differ for the same input, and a cluster's compressed length decides where the next one is stored.
import { createRequire } from "node:module";
import * as zlib from "node:zlib";

interface ZlibAddon {
  deflateRaw(data: Uint8Array, capacity: number): Uint8Array | number;
  version(): string | null;
}

const ENOMEM = 12;

function load(): ZlibAddon | null {
  if (process.platform !== "linux") return null;
  const require = createRequire(import.meta.url);
  // From dist/engine/image the addon is ../../native; from the sources (tests) it is ../../dist/native.
  for (const rel of ["../../native/zlib.node", "../../dist/native/zlib.node"]) {
    try {
      const m = require(rel) as Partial<ZlibAddon>;
      if (typeof m.deflateRaw === "function" && typeof m.version === "function" && m.version() !== null) return m as ZlibAddon;
    } catch {
      // not built here; try the next place
    }
  }
  return null;
}

const addon = load();

/** Which zlib compresses: the system's (as QEMU) or Node's bundled one (the fallback). */
export function deflateLibrary(): string {
  return addon ? `system zlib ${addon.version()!}` : `Node's zlib ${process.versions.zlib ?? "?"}`;
}

/**
 * Raw deflate (window bits 12, memLevel 9, default level) of `data` into at most `capacity` bytes; null when it
 * does not fit (QEMU's -ENOMEM: the cluster is then written uncompressed).
 */
export function qemuDeflate(data: Uint8Array, capacity: number): Uint8Array | null {
  if (addon) {
    const r = addon.deflateRaw(data, capacity);
    if (typeof r !== "number") return r;
    if (r === -ENOMEM) return null;
    throw new Error(`deflate through the system zlib failed (${r})`);
  }
  const out = zlib.deflateRawSync(data, { level: zlib.constants.Z_DEFAULT_COMPRESSION, windowBits: 12, memLevel: 9 });
  return out.length > capacity ? null : out;
}
