// From device requests to requests an image can take: filters (device, time window, op), the partition offset,
// and "fit": what to do with a request that lies past the image's virtual size.
//
// Fit policies (requests that already fit are left alone by "wrap" and "drop"):
// - wrap:  offset modulo M, where M is the virtual size rounded down to 64 KiB (512 B below 64 KiB) so that the
//          alignment of the original offset survives; a request that would then cross the end is moved back
//          so it ends at M (or starts at 0 and is clipped when it is longer than M).
// - scale: every offset is multiplied by virtualSize / deviceSize and rounded down to the original offset's
//          alignment (at most 4 KiB); the length is kept, the request moved back if it would cross the end.
//          deviceSize is given, or found by a first pass over the trace (largest end offset).
// - drop:  a request that does not end within the virtual size is removed (counted in stats.filtered).
// Flushes have no range and pass every fit.
import type { GuestOp, GuestRequest } from "./guest-request.js";

export type FitMode = "wrap" | "scale" | "drop";

export interface Fit {
  virtualSize: number;
  mode: FitMode;
  /** For "scale": the size of the traced device; found by a first pass when absent. */
  deviceSize?: number;
}

export interface RequestFilter {
  device?: string;
  /** Seconds, inclusive. */
  start?: number;
  /** Seconds, exclusive. */
  end?: number;
  ops?: GuestOp[];
}

/** Whether a request passes the device / time / op filters. */
export function passes(req: GuestRequest, f: RequestFilter, ops: Set<GuestOp> | null): boolean {
  if (f.device !== undefined && req.device !== f.device) return false;
  if (f.start !== undefined && req.time < f.start) return false;
  if (f.end !== undefined && req.time >= f.end) return false;
  if (ops && !ops.has(req.op)) return false;
  return true;
}

/** Moves a request from device offsets to partition offsets; false when it starts before the partition. */
export function applyPartitionOffset(req: GuestRequest, partitionOffset: number): boolean {
  if (req.op === "flush" || partitionOffset === 0) return true;
  if (req.offset < partitionOffset) return false;
  req.offset -= partitionOffset;
  return true;
}

function alignmentOf(offset: number, cap: number): number {
  let a = 1;
  while (a < cap && offset % (a * 2) === 0) a *= 2;
  return a;
}

/** Places a request that is `length` long at or before `offset` so it ends within `size`. */
function clampInto(req: GuestRequest, offset: number, size: number, align: number): void {
  if (req.length >= size) {
    req.offset = 0;
    req.length = size;
    return;
  }
  req.offset = offset + req.length <= size ? offset : Math.floor((size - req.length) / align) * align;
}

/** Applies a fit policy in place; false when the request is dropped. */
export function applyFit(req: GuestRequest, fit: Fit, deviceSize: number): boolean {
  if (req.op === "flush") return true;
  const size = fit.virtualSize;
  switch (fit.mode) {
    case "drop":
      return req.offset + req.length <= size;
    case "wrap": {
      if (req.offset + req.length <= size) return true;
      const m = size >= 65536 ? size - (size % 65536) : Math.max(512, size - (size % 512));
      clampInto(req, req.offset % m, Math.min(m, size), alignmentOf(req.offset, 65536));
      return true;
    }
    case "scale": {
      const align = alignmentOf(req.offset, 4096);
      const scaled = deviceSize > size ? Math.floor((req.offset / deviceSize) * size / align) * align : req.offset;
      clampInto(req, scaled, size, align);
      return true;
    }
  }
}
