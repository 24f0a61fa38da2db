// What the request in view touched, read off its engine events: the guest offset the tables pane centres on, the
// L1/L2 entries it wrote (the tables pane marks them), and the host clusters it read or wrote (the map marks them).
import { EventKind } from "../../engine/events/event-kind.js";
import type { EngineEvent } from "../../engine/events/recorder.js";
import type { ImageView } from "../../engine/image/image-view.js";
import type { TimelineApi } from "../../engine/replay/timeline-api.js";
import type { Focus } from "./request-focus.js";

/**
 * Guest offset the tables pane centres on: inside a request, the latest event that names one; after a request,
 * its offset; in image mode, the first one the last command's events name.
 */
export function guestOffsetInView(f: Focus, tl: TimelineApi | null): number {
  if (tl && !f.inProgress) return f.index >= 0 ? tl.request(f.index).offset : 0;
  const events = f.inProgress ? [...f.events].reverse() : f.events;
  for (const e of events) {
    switch (e.kind) {
      case EventKind.HandleCopied:
      case EventKind.HandleAlloc:
      case EventKind.AllocClustersOffset:
      case EventKind.WritevStartReq:
      case EventKind.WritevStartPart:
      case EventKind.PwriteZeroesStartReq:
      case EventKind.DoAllocClustersOffset:
      case EventKind.ZeroCluster:
      case EventKind.DiscardCluster:
        return e.a;
      case EventKind.AddTask:
        return e.b;
    }
  }
  return tl && f.index >= 0 ? tl.request(f.index).offset : 0;
}

/** Table entries the events wrote, as the tables pane keys them ("l1:N", "l2:TABLE:INDEX"). */
export function touchedEntries(events: readonly EngineEvent[], img: ImageView): Set<string> {
  const out = new Set<string>();
  const cs = img.clusterSize;
  for (const e of events) {
    if (e.node !== 0) continue;
    if (e.kind === EventKind.L1Update) out.add(`l1:${e.a}`);
    else if (e.kind === EventKind.L2Update && e.slot >= 0 && e.slot < img.l2Cache.size) {
      const slice = img.l2Cache.offsets[e.slot]!;
      if (!slice) continue;
      const table = slice - (slice % cs);
      out.add(`l2:${table}:${(slice - table) / img.geo.l2EntryBytes + e.a}`);
    }
  }
  return out;
}

/** Host clusters the events read or wrote. */
export function touchedClusters(events: readonly EngineEvent[], cs: number): Set<number> {
  const out = new Set<number>();
  for (const e of events) {
    if (e.node !== 0) continue;
    switch (e.kind) {
      case EventKind.DataWrite:
      case EventKind.DataRead:
      case EventKind.CowWrite:
      case EventKind.MetadataWrite:
      case EventKind.MetadataRead:
        for (let c = Math.floor(e.a / cs); c <= Math.floor((e.a + Math.max(1, e.b) - 1) / cs); c++) out.add(c);
        break;
      case EventKind.ClusterAlloc:
        for (let c = 0; c < e.b; c++) out.add(Math.floor(e.a / cs) + c);
        break;
    }
  }
  return out;
}
