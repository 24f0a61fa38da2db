// Alibaba cloud block traces (2020): `device_id,opcode,offset,length,timestamp`, no header; opcode R/W,
// offset and length in bytes, timestamp in microseconds (epoch).
import { parseCsv, uint, type CsvFormat } from "./csv-trace.js";
import type { GuestRequest } from "./guest-request.js";
import type { ParseContext } from "./trace-error.js";

export const ALIBABA: CsvFormat = {
  fields: 5,
  header: /^device_id,opcode,offset,length,timestamp/i,
  row(f, clock, source) {
    const op = f[1] === "R" || f[1] === "r" ? "read" : f[1] === "W" || f[1] === "w" ? "write" : null;
    if (!op) return `opcode "${f[1]}" is neither R nor W`;
    const offset = uint(f[2]!), length = uint(f[3]!);
    if (offset === null || length === null || !Number.isSafeInteger(offset + length)) return `offset "${f[2]}" / length "${f[3]}" are not byte counts`;
    const time = clock.fromUnits(f[4]!, 6);
    if (time === null) return `timestamp "${f[4]}" is not a count of microseconds`;
    if (length === 0) return null;
    return { time, op, offset, length, fua: false, preflush: false, source, device: f[0]! };
  },
};

export function parseAlibabaCsv(ctx: ParseContext): Generator<GuestRequest> {
  return parseCsv(ctx, ALIBABA);
}
