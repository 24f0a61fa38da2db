// Named fields of an event for `replay --events` JSON lines: QEMU's own names for the events QEMU traces (as in
// its trace log), and the names our text lines use for the rest, instead of the raw columns a/b/c.
import { EventKind, isQemuTraced } from "./event-kind.js";
import { formatQemuEvent } from "./qemu-trace-format.js";
import type { EngineEvent } from "./recorder.js";

type Fields = Record<string, number | string | boolean>;
const TABLES = ["refcount", "L2"];

/** "0x1f" / "12" -> number (when exact); anything else stays a string. */
function value(v: string): number | string {
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^-?\d+$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) ? n : v;
}

/** QEMU's trace line "name co coN key value key value ..." -> {key: value} (the coroutine left out). */
function qemuFields(line: string): Fields {
  const t = line.split(" ").slice(1);
  const out: Fields = {};
  for (let i = 0; i + 1 < t.length; i += 2) if (t[i] !== "co") out[t[i]!] = value(t[i + 1]!);
  return out;
}

export function namedFields(e: EngineEvent): Fields {
  if (isQemuTraced(e.kind)) return qemuFields(formatQemuEvent(e)!);
  switch (e.kind) {
    case EventKind.RequestStart:
      return { offset: e.a, bytes: e.b };
    case EventKind.RequestEnd:
      return { ret: e.a };
    case EventKind.RefcountRead:
      return { cluster: e.a, refcount: e.b };
    case EventKind.RefcountUpdate:
      return { cluster: e.a, refcount_before: e.b, refcount_after: e.c };
    case EventKind.ClusterAlloc:
    case EventKind.ClusterFree:
      return { offset: e.a, clusters: e.b };
    case EventKind.RefblockAlloc:
      return { offset: e.a, reftable_index: e.b };
    case EventKind.ReftableGrow:
    case EventKind.L1Grow:
      return { entries_before: e.a, entries_after: e.b, offset: e.c };
    case EventKind.L1Update:
      return { l1_index: e.a, l2_offset: e.b };
    case EventKind.L2Update:
      return { index: e.a, host_offset: e.b, zero: e.c !== 0 };
    case EventKind.DirtyBit:
      return { dirty: e.a !== 0 };
    case EventKind.ZeroCluster:
      return { guest_offset: e.a, unmap: e.b !== 0 };
    case EventKind.DiscardCluster:
      return { guest_offset: e.a };
    case EventKind.FlushToOs:
    case EventKind.FlushToDisk:
      return {};
    case EventKind.Decompress:
      return { offset: e.a, bytes: e.b, out_bytes: e.c };
    case EventKind.MetadataRead:
    case EventKind.MetadataWrite:
      return e.cache === 0 || e.cache === 1 ? { table: TABLES[e.cache]!, offset: e.a, bytes: e.b } : { offset: e.a, bytes: e.b };
    default:
      return { offset: e.a, bytes: e.b };
  }
}
