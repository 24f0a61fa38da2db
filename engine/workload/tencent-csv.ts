// Tencent CBS block traces: `Timestamp,Offset,Size,IOType,VolumeID`, no header; Timestamp in seconds (epoch),
// Offset and Size in 512-byte sectors, IOType 0 = read, 1 = write.
import { parseCsv, uint, type CsvFormat } from "./csv-trace.js";
import type { GuestRequest } from "./guest-request.js";
import type { ParseContext } from "./trace-error.js";

export const TENCENT: CsvFormat = {
  fields: 5,
  header: /^timestamp,offset,size,iotype,volumeid/i,
  row(f, clock, source) {
    const time = clock.fromUnits(f[0]!, 0);
    if (time === null) return `Timestamp "${f[0]}" is not a count of seconds`;
    const sector = uint(f[1]!), sectors = uint(f[2]!);
    if (sector === null || sectors === null || !Number.isSafeInteger((sector + sectors) * 512)) return `Offset "${f[1]}" / Size "${f[2]}" are not sector counts`;
    const op = f[3] === "0" ? "read" : f[3] === "1" ? "write" : null;
    if (!op) return `IOType "${f[3]}" is neither 0 (read) nor 1 (write)`;
    if (sectors === 0) return null;
    return { time, op, offset: sector * 512, length: sectors * 512, fua: false, preflush: false, source, device: f[4]! };
  },
};

export function parseTencentCsv(ctx: ParseContext): Generator<GuestRequest> {
  return parseCsv(ctx, TENCENT);
}
