// gdb's `x/NFU ADDR` over the host file: the bytes as the image holds them now (shadow layer included), in
// big-endian units because that is how every qcow2 structure is stored. Reads go straight to the storage, so
// examining never disturbs the caches being debugged.
import type { ReadOnlyFile } from "../../engine/image/image-view.js";
import { SessionError } from "./command-table.js";
import { parseNumber } from "./breakpoint-spec.js";

export interface ExamineFormat {
  count: number;
  /** x (hex) or d (decimal). */
  format: "x" | "d";
  unit: 1 | 2 | 4 | 8;
}

const UNITS: Record<string, 1 | 2 | 4 | 8> = { b: 1, h: 2, w: 4, g: 8 };
/** Bounds one command's output (gdb asks "--Type <RET> for more--"; we stop). */
const MAX_BYTES = 64 * 1024;

/** Parses "x/8g", "x/4xw", "x" (the previous format). */
export function parseExamine(word: string, previous: ExamineFormat): ExamineFormat {
  const slash = word.indexOf("/");
  if (slash < 0) return previous;
  const m = /^(\d*)([a-z]*)$/i.exec(word.slice(slash + 1));
  if (!m) throw new SessionError(`Invalid format "${word.slice(slash + 1)}" (x/NFU: N count, F x|d, U b|h|w|g).`);
  let { format, unit } = previous;
  for (const ch of m[2]!.toLowerCase()) {
    if (ch in UNITS) unit = UNITS[ch]!;
    else if (ch === "x" || ch === "d") format = ch;
    else throw new SessionError(`Undefined output format "${ch}" (x or d; units b h w g).`);
  }
  const count = m[1] ? parseInt(m[1], 10) : previous.count;
  if (count < 1) throw new SessionError("Count must be positive.");
  return { count, format, unit };
}

function word(buf: Uint8Array, o: number, unit: number): number {
  let v = 0;
  for (let i = 0; i < unit; i++) v = v * 256 + buf[o + i]!;
  return v;
}

function render(v: number, hi: number, f: ExamineFormat): string {
  if (f.format === "d") return f.unit === 8 ? (BigInt(hi) * 2n ** 32n + BigInt(v)).toString() : String(v);
  const digits = f.unit * 2;
  if (f.unit === 8) return "0x" + hi.toString(16).padStart(8, "0") + v.toString(16).padStart(8, "0");
  return "0x" + v.toString(16).padStart(digits, "0");
}

/** The lines `x` prints, and the offset after the last unit (where a repeated `x` continues). */
export function examine(file: ReadOnlyFile, address: string | number, f: ExamineFormat): { lines: string[]; next: number } {
  const at = typeof address === "number" ? address : parseNumber(address, "offset");
  const bytes = f.count * f.unit;
  if (bytes > MAX_BYTES) throw new SessionError(`At most ${MAX_BYTES} bytes per x command.`);
  if (at % f.unit !== 0) throw new SessionError(`Offset 0x${at.toString(16)} is not aligned to ${f.unit} bytes.`);
  const size = file.size();
  if (at >= size) throw new SessionError(`Cannot access offset 0x${at.toString(16)}: the host file is 0x${size.toString(16)} bytes.`);
  const buf = new Uint8Array(bytes);
  const inside = file.read(buf, at);
  const perLine = { 1: 8, 2: 8, 4: 4, 8: 2 }[f.unit];
  const lines: string[] = [];
  for (let i = 0; i < f.count; i += perLine) {
    const cells: string[] = [];
    for (let j = i; j < Math.min(f.count, i + perLine); j++) {
      const o = j * f.unit;
      if (o >= inside) {
        cells.push("(past EOF)");
        break;
      }
      const lo = f.unit === 8 ? word(buf, o + 4, 4) : word(buf, o, f.unit);
      const hi = f.unit === 8 ? word(buf, o, 4) : 0;
      cells.push(render(lo, hi, f));
    }
    lines.push(`0x${(at + i * f.unit).toString(16).padStart(8, "0")}:\t${cells.join("\t")}`);
    if (cells[cells.length - 1] === "(past EOF)") break;
  }
  return { lines, next: at + bytes };
}
