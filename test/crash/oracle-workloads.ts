// The issue-3 oracle workloads (samples/write-oracle/goldens) unpacked for a crash test: base image, side files
// (backing file, external data file) and the qemu-io script, in a fresh temporary directory.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";

const GOLD = path.resolve(import.meta.dirname, "../../samples/write-oracle/goldens");

export function extract(name: string, files: string[]): { dir: string; img: string; script: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-crash-"));
  const wd = path.join(GOLD, name);
  for (const f of [...files, "base.qcow2"]) fs.writeFileSync(path.join(dir, f), zlib.gunzipSync(fs.readFileSync(path.join(wd, f + ".gz"))));
  fs.copyFileSync(path.join(wd, "commands.qemu-io"), path.join(dir, "commands.qemu-io"));
  return { dir, img: path.join(dir, "base.qcow2"), script: path.join(dir, "commands.qemu-io") };
}
