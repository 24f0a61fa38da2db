// MSR Cambridge block traces (SNIA IOTTA): `Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime`,
// no header; Timestamp in Windows FILETIME (100 ns ticks since 1601), Type Read/Write, bytes.
// The device is "Hostname_DiskNumber", as the published files are named (hm_0.csv).
import { parseCsv, uint, type CsvFormat } from "./csv-trace.js";
import type { GuestRequest } from "./guest-request.js";
import type { ParseContext } from "./trace-error.js";

export const MSR: CsvFormat = {
  fields: 6,
  header: /^timestamp,hostname,disknumber,type,offset,size/i,
  row(f, clock, source) {
    const time = clock.fromUnits(f[0]!, 7);
    if (time === null) return `Timestamp "${f[0]}" is not a FILETIME tick count`;
    const type = f[3]!.toLowerCase();
    if (type !== "read" && type !== "write") return `Type "${f[3]}" is neither Read nor Write`;
    const offset = uint(f[4]!), length = uint(f[5]!);
    if (offset === null || length === null || !Number.isSafeInteger(offset + length)) return `Offset "${f[4]}" / Size "${f[5]}" are not byte counts`;
    if (length === 0) return null;
    return { time, op: type, offset, length, fua: false, preflush: false, source, device: `${f[1]}_${f[2]}` };
  },
};

export function parseMsrCsv(ctx: ParseContext): Generator<GuestRequest> {
  return parseCsv(ctx, MSR);
}
