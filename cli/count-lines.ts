// Newlines in a text file, counted in 1 MiB chunks: the denominator of progress figures for long traces.
import * as fs from "node:fs";

/** The number of newlines, or null when the file cannot be read (progress then shows no total). */
export function countLines(p: string): number | null {
  let fd: number;
  try {
    // A pipe or stdin would be consumed by counting: no total for those.
    if (!fs.statSync(p).isFile()) return null;
    fd = fs.openSync(p, "r");
  } catch {
    return null;
  }
  const buf = Buffer.allocUnsafe(1 << 20);
  let n = 0;
  try {
    for (let pos = 0; ; ) {
      const got = fs.readSync(fd, buf, 0, buf.length, pos);
      if (got === 0) break;
      for (let i = buf.indexOf(10, 0); i >= 0 && i < got; i = buf.indexOf(10, i + 1)) n++;
      pos += got;
    }
  } finally {
    fs.closeSync(fd);
  }
  return n;
}
