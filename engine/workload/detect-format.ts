// Guesses a trace's format from its first bytes (and its name, for blktrace's per-CPU files). Pure: the caller
// reads the bytes. Returns null when nothing fits, so the caller can ask for --format.
import type { FormatName } from "./format-name.js";

const BLKPARSE = /^\s*\d+,\d+\s+\d+\s+\d+\s+-?\d+\.\d+\s+\d+\s+[A-Za-z]{1,2}\s+[A-Z]+/;
const QEMU_TRACE = /^(?:\d+@\d+\.\d+:)?(?:virtio_blk_|blk_|bdrv_|qcow2_)[a-z0-9_]*\s+\w+\s+\S+/;
const QEMU_IO_IO = /^(?:read|readv|write|writev|aio_read|aio_write|aio_discard|discard|[rwd])$/;
const QEMU_IO_BARE = /^(?:flush|aio_flush|f)$/;
const SYSTOR_HEADER = /^timestamp,response,iotype,lun,offset,size/i;

export function detectFormat(path: string, firstBytes: Uint8Array): FormatName | null {
  if (firstBytes.length >= 4) {
    const b = firstBytes;
    const le = b[1] === 0x74 && b[2] === 0x61 && b[3] === 0x65 && (b[0] === 7 || b[0] === 8);
    const be = b[0] === 0x65 && b[1] === 0x61 && b[2] === 0x74 && (b[3] === 7 || b[3] === 8);
    if (le || be) return "blktrace";
  }
  if (firstBytes.length === 0) return /\.blktrace\.\d+$/.test(path) ? "blktrace" : null;
  // Binary bytes other than a blktrace magic: not a text trace either.
  for (let i = 0; i < Math.min(firstBytes.length, 4096); i++) {
    const c = firstBytes[i]!;
    if (c < 9 || (c > 13 && c < 32 && c !== 27)) return null;
  }
  const text = Buffer.from(firstBytes).toString("utf8");
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  // The last line may be cut in the middle.
  if (lines.length > 1) lines.pop();
  // Comments, and what blkparse prints on stderr when both streams went to the file.
  const first = lines.find((l) => l.trim() !== "" && !l.trimStart().startsWith("#") && !/^Input file .* added$/.test(l));
  if (first === undefined) return null;
  if (/^fio version [23] iolog/.test(first)) return "fio-iolog";
  if (/^\s*\{.*"op"\s*:/.test(first)) return "jsonl";
  if (BLKPARSE.test(first)) return "blkparse";
  if (lines.some((l) => QEMU_TRACE.test(l))) return "qemu-trace";
  if (looksLikeQemuIo(first.trim())) return "qemu-io";
  if (SYSTOR_HEADER.test(first)) return "systor";
  const rows = lines.filter((l) => l.includes(",")).slice(0, 20);
  // Judge by the last sample row: the first may be a header.
  const row = rows[rows.length > 1 ? 1 : 0];
  if (!row) return null;
  const f = row.split(",").map((s) => s.trim());
  const int = (s: string | undefined): boolean => s !== undefined && /^\d+$/.test(s);
  if (f.length >= 6 && int(f[0]) && /^(read|write)$/i.test(f[3] ?? "") && int(f[4]) && int(f[5])) return "msr";
  if (f.length >= 6 && /^\d+(\.\d+)?$/.test(f[0]!) && /^[RW]$/i.test(f[2] ?? "") && int(f[4]) && int(f[5])) return "systor";
  if (f.length === 5 && /^[RW]$/i.test(f[1] ?? "") && int(f[2]) && int(f[3]) && int(f[4])) return "alibaba";
  if (f.length === 5 && int(f[0]) && int(f[1]) && int(f[2]) && /^[01]$/.test(f[3] ?? "")) return "tencent";
  return null;
}

/** A qemu-io command line: an I/O command with options and sizes, a bare flush, or a sleep. */
function looksLikeQemuIo(line: string): boolean {
  const hash = line.indexOf("#");
  const [cmd, ...rest] = (hash >= 0 ? line.slice(0, hash) : line).trim().split(/\s+/);
  if (QEMU_IO_BARE.test(cmd!)) return rest.length === 0;
  if (cmd === "sleep") return rest.length === 1 && /^\d+$/.test(rest[0]!);
  if (!QEMU_IO_IO.test(cmd!)) return false;
  const operands = rest.filter((w) => !w.startsWith("-"));
  return operands.length >= 2 && operands.slice(-2).every((w) => /^(?:0x[0-9a-f]+|\d+(?:\.\d+)?[bkmgtpe]?)$/i.test(w));
}
