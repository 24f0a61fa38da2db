// What the three numeric payload columns (a, b, c) of each event kind mean, by name: one table, the seed of the
// event schema (issue 10). JSON events (`replay --events`, the library's events) and the args of Chrome/Perfetto
// trace events are named from it; QEMU's own trace lines keep their formatter (qemu-trace-format.ts).
import { EventKind } from "./event-kind.js";
import type { EngineEvent } from "./recorder.js";

/** Names of columns a, b, c in order; a shorter list means the rest are unused. */
export type EventArgNames = readonly string[];

const OFFSET_BYTES = ["offset", "bytes"] as const;

export const EVENT_ARGS: Readonly<Record<number, EventArgNames>> = {
  [EventKind.WritevStartReq]: OFFSET_BYTES,
  [EventKind.WritevDoneReq]: ["ret"],
  [EventKind.WritevStartPart]: [],
  [EventKind.WritevDonePart]: ["cur_bytes"],
  [EventKind.WritevData]: ["host_offset"],
  [EventKind.PwriteZeroesStartReq]: OFFSET_BYTES,
  [EventKind.PwriteZeroes]: OFFSET_BYTES,
  [EventKind.SkipCow]: ["offset", "nb_clusters"],
  [EventKind.AllocClustersOffset]: OFFSET_BYTES,
  [EventKind.HandleCopied]: ["guest_offset", "host_offset", "bytes"],
  [EventKind.HandleAlloc]: ["guest_offset", "host_offset", "bytes"],
  [EventKind.DoAllocClustersOffset]: ["guest_offset", "host_offset", "nb_clusters"],
  [EventKind.ClusterAllocPhys]: [],
  [EventKind.ClusterLinkL2]: ["nb_clusters"],
  [EventKind.L2Allocate]: ["l1_index"],
  [EventKind.L2AllocateGetEmpty]: ["l1_index"],
  [EventKind.L2AllocateWriteL2]: ["l1_index"],
  [EventKind.L2AllocateWriteL1]: ["l1_index"],
  [EventKind.L2AllocateDone]: ["l1_index", "ret"],
  [EventKind.CacheGet]: ["table_offset", "read_from_disk"],
  [EventKind.CacheGetReplaceEntry]: [],
  [EventKind.CacheGetRead]: [],
  [EventKind.CacheGetDone]: [],
  [EventKind.CacheFlush]: [],
  [EventKind.CacheEntryFlush]: [],
  [EventKind.AddTask]: ["file_cluster_offset", "offset", "bytes"],
  [EventKind.RequestStart]: ["offset", "bytes", "op"],
  [EventKind.RequestEnd]: ["ret"],
  [EventKind.RefcountRead]: ["cluster_index", "refcount"],
  [EventKind.RefcountUpdate]: ["cluster_index", "old_refcount", "new_refcount"],
  [EventKind.ClusterAlloc]: ["host_offset", "clusters"],
  [EventKind.ClusterFree]: ["host_offset", "clusters"],
  [EventKind.RefblockAlloc]: ["host_offset", "reftable_index"],
  [EventKind.ReftableGrow]: ["old_entries", "new_entries", "new_offset"],
  [EventKind.L1Update]: ["l1_index", "l2_offset"],
  [EventKind.L1Grow]: ["old_entries", "new_entries", "new_offset"],
  [EventKind.L2Update]: ["l2_index", "host_offset", "zero"],
  [EventKind.CowRead]: ["host_offset", "bytes"],
  [EventKind.CowWrite]: ["host_offset", "bytes"],
  [EventKind.DataRead]: ["host_offset", "bytes"],
  [EventKind.DataWrite]: ["host_offset", "bytes"],
  [EventKind.BackingRead]: ["guest_offset", "bytes"],
  [EventKind.ZeroRead]: ["guest_offset", "bytes"],
  [EventKind.Decompress]: ["host_offset", "compressed_bytes", "bytes"],
  [EventKind.MetadataRead]: ["host_offset", "bytes"],
  [EventKind.MetadataWrite]: ["host_offset", "bytes"],
  [EventKind.FlushToOs]: [],
  [EventKind.FlushToDisk]: [],
  [EventKind.DirtyBit]: ["dirty"],
  [EventKind.ZeroCluster]: ["guest_offset", "unmap"],
  [EventKind.DiscardCluster]: ["guest_offset"],
  [EventKind.CacheHit]: ["table_offset"],
  [EventKind.CacheMiss]: ["table_offset"],
};

/** The event's payload by name (unused columns left out). */
export function eventArgs(e: EngineEvent): Record<string, number> {
  const names = EVENT_ARGS[e.kind] ?? ["a", "b", "c"];
  const cols = [e.a, e.b, e.c];
  const out: Record<string, number> = {};
  names.forEach((n, i) => (out[n] = cols[i]!));
  return out;
}
