// Compiles native/posix.cc (lseek SEEK_DATA/SEEK_HOLE for hole-aware map and export; OFD byte-range locks for
// QEMU's image locks) into dist/native/posix.node. Optional: without a C++ compiler or Node's headers it prints a
// notice; qcowdbg then treats every file byte as data, as QEMU does when lseek cannot tell, and refuses --write
// (an image is never written without its lock).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = path.join(root, "native", "posix.cc");
const out = path.join(root, "dist", "native", "posix.node");

function notice(why) {
  process.stderr.write(`build-native: skipping native/posix.cc (${why}); holes in image files will be reported as data and --write is refused\n`);
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

if (process.platform === "win32") notice("not supported on Windows");
else if (upToDate()) process.exit(0);
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
