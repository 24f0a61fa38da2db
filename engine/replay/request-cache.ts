// The trace parsed once for a replay and its what-ifs: the baseline's pass keeps its requests column-wise
// (RequestColumns, about 50 bytes each) and the verification pass reads them back instead of parsing the trace
// again. Past a byte budget the columns are dropped and the what-ifs parse the trace again, so memory stays
// bounded whatever the trace's length.
import type { GuestRequest } from "../workload/guest-request.js";
import { RequestColumns } from "./request-columns.js";

/** Default budget: 64 MiB, about 1.3M requests. */
export const REQUEST_CACHE_BYTES = 64 * 2 ** 20;

export class RequestCache {
  private cols: RequestColumns | null = new RequestColumns(4096);
  private finished = false;

  constructor(private readonly maxBytes = REQUEST_CACHE_BYTES) {}

  /** Passes `source` through, keeping each request while the budget lasts. */
  *record(source: Iterable<GuestRequest>): Generator<GuestRequest> {
    this.finished = false;
    for (const r of source) {
      const c = this.cols;
      if (c) {
        c.push(r);
        if ((c.length & 4095) === 0 && c.bytesHeld() > this.maxBytes) this.cols = null;
      }
      yield r;
    }
    this.finished = true;
  }

  /** Requests kept, when the whole trace was kept; null otherwise (parse again). */
  get length(): number | null {
    return this.finished && this.cols ? this.cols.length : null;
  }

  /** The kept requests again, in order (only when `length` is not null). */
  *requests(): Generator<GuestRequest> {
    const c = this.cols;
    if (!c || !this.finished) throw new Error("the request cache does not hold the whole trace");
    for (let i = 0; i < c.length; i++) yield c.get(i);
  }

  /** Frees the columns. */
  drop(): void {
    this.cols = null;
  }
}
