// Compiles each addon of native/ into dist/native/NAME.node: posix.cc (lseek SEEK_DATA/SEEK_HOLE for hole-aware
// map and export; OFD byte-range locks for QEMU's image locks), fallocate.cc (hole punching and zero ranges as
// QEMU's file layer does) and compress.cc (compressed clusters made by the system's zlib and zstd, as QEMU's
// are). Optional: without a C++ compiler or Node's headers it prints a notice and qcowdbg falls back (holes read
// as data, as QEMU does when lseek cannot tell; --write is refused, since an image is never written without its
// lock; discards and zero writes write zeroes; compressed writes use Node's zlib and refuse zstd).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// Each addon: its source, and what qcowdbg does without it.
const ADDONS = [
  ["posix", "holes in image files will be reported as data and --write is refused"],
  ["fallocate", "discards and zero writes will write zeroes instead of punching holes"],
  ["compress", "compressed writes will use Node's zlib, whose output can differ from QEMU's, and refuse zstd"],
];
// `--list` prints the sources this compiles, one a line: the package test holds package.json's `files` and the
// installed addons to it.
if (process.argv.includes("--list")) {
  for (const [name] of ADDONS) process.stdout.write(`native/${name}.cc\n`);
  process.exit(0);
}
let src = "";
let out = "";
let without = "";

function notice(why) {
  process.stderr.write(`build-native: skipping ${path.relative(root, src)} (${why}); ${without}\n`);
}

function findHeaders() {
  const candidates = [
    process.env.NODE_INCLUDE_DIR,
    path.join(path.dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ].filter(Boolean);
  return candidates.find((dir) => fs.existsSync(path.join(dir, "node_api.h")));
}

function findCompiler() {
  for (const cxx of [process.env.CXX, "g++", "c++", "clang++"].filter(Boolean)) {
    try {
      execFileSync(cxx, ["--version"], { stdio: "ignore" });
      return cxx;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

function upToDate() {
  try {
    return fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs;
  } catch {
    return false;
  }
}

for (const [name, effect] of ADDONS) {
  src = path.join(root, "native", `${name}.cc`);
  out = path.join(root, "dist", "native", `${name}.node`);
  without = effect;
  if (process.platform === "win32") notice("not supported on Windows");
  else if (upToDate()) {
    // built already
  }
  else {
    const include = findHeaders();
    const cxx = findCompiler();
    if (!include) notice("Node's headers (node_api.h) were not found; set NODE_INCLUDE_DIR");
    else if (!cxx) notice("no C++ compiler found; set CXX");
    else {
      fs.mkdirSync(path.dirname(out), { recursive: true });
      const tmp = `${out}.${process.pid}.tmp`;
      try {
        const extra = process.platform === "darwin" ? ["-undefined", "dynamic_lookup"] : [];
        execFileSync(cxx, ["-O2", "-shared", "-fPIC", ...extra, `-I${include}`, src, "-o", tmp], { stdio: ["ignore", "inherit", "inherit"] });
        fs.renameSync(tmp, out);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        notice(`compiling failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
      }
    }
  }
}
