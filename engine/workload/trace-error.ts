// Errors in a trace are reported the way compilers do: `file:line: what is wrong`, one line, so the CLI can
// print them as they are. ParseContext carries the strict/lenient choice every parser shares.
import { FormatError } from "../format/format-error.js";

export class TraceError extends Error {
  constructor(
    readonly file: string,
    readonly where: number | string,
    readonly detail: string,
  ) {
    super(`${file}:${where}: ${detail}`);
    this.name = "TraceError";
  }
}

export interface WorkloadStats {
  /** Lines (text formats) or records (binary formats) read so far. */
  lines: number;
  /** Malformed lines/records skipped because `lenient` was set. */
  skipped: number;
  /** Requests handed to the caller. */
  requests: number;
  /** Well-formed requests removed by filters (device, time, op), the partition offset or fit mode "drop". */
  filtered: number;
}

export function emptyStats(): WorkloadStats {
  return { lines: 0, skipped: 0, requests: 0, filtered: 0 };
}

/** How many skipped lines are described one by one before the notices fall silent. */
const SKIP_NOTICES = 5;

export class ParseContext {
  constructor(
    /** The path as the user gave it: error messages name it. */
    readonly path: string,
    /** Short name used in GuestRequest.source. */
    readonly label: string,
    readonly lenient: boolean,
    readonly stats: WorkloadStats,
    readonly notice: (msg: string) => void,
  ) {}

  /** A malformed line: throws in strict mode; in lenient mode counts it and lets the parser go on. */
  bad(where: number | string, detail: string): void {
    if (!this.lenient) throw new TraceError(this.path, where, detail);
    this.stats.skipped++;
    if (this.stats.skipped <= SKIP_NOTICES) this.notice(`${this.path}:${where}: skipped: ${detail}`);
    else if (this.stats.skipped === SKIP_NOTICES + 1) this.notice(`${this.path}: more malformed lines skipped (count in stats)`);
  }

  /** A malformed binary record: FormatError in strict mode (structure, field, byte offset), counted when lenient. */
  badRecord(structure: string, field: string, offset: number, detail: string): void {
    if (!this.lenient) throw new FormatError(structure, field, offset, this.path, detail);
    this.stats.skipped++;
    if (this.stats.skipped <= SKIP_NOTICES) this.notice(`${this.path}: skipped ${structure}.${field} at offset 0x${offset.toString(16)}: ${detail}`);
    else if (this.stats.skipped === SKIP_NOTICES + 1) this.notice(`${this.path}: more malformed records skipped (count in stats)`);
  }
}
