// Systor '17 enterprise VDI traces: header `Timestamp,Response,IOType,LUN,Offset,Size`; Timestamp in seconds
// with a fraction (epoch), IOType R/W, Offset and Size in bytes. The device is the LUN.
import { parseCsv, uint, type CsvFormat } from "./csv-trace.js";
import type { GuestRequest } from "./guest-request.js";
import type { ParseContext } from "./trace-error.js";

export const SYSTOR: CsvFormat = {
  fields: 6,
  header: /^timestamp,response,iotype,lun,offset,size/i,
  row(f, clock, source) {
    const time = clock.fromDecimal(f[0]!);
    if (time === null) return `Timestamp "${f[0]}" is not decimal seconds`;
    const t = f[2]!.toUpperCase();
    const op = t === "R" ? "read" : t === "W" ? "write" : null;
    if (!op) return `IOType "${f[2]}" is neither R nor W`;
    const offset = uint(f[4]!), length = uint(f[5]!);
    if (offset === null || length === null || !Number.isSafeInteger(offset + length)) return `Offset "${f[4]}" / Size "${f[5]}" are not byte counts`;
    if (length === 0) return null;
    return { time, op, offset, length, fua: false, preflush: false, source, device: f[3]! };
  },
};

export function parseSystorCsv(ctx: ParseContext): Generator<GuestRequest> {
  return parseCsv(ctx, SYSTOR);
}
