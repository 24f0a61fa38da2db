// The event taxonomy: every engine decision a user could ask "why?" about. Kinds that QEMU 7.2 traces carry
// QEMU's trace-event name so a formatter can print QEMU's log line for line; the rest are ours.

export const enum EventKind {
  // --- QEMU-traced (block/trace-events, qcow2*) ---
  WritevStartReq = 1,
  WritevDoneReq,
  WritevStartPart,
  WritevDonePart,
  WritevData,
  PwriteZeroesStartReq,
  PwriteZeroes,
  SkipCow,
  AllocClustersOffset,
  HandleCopied,
  HandleAlloc,
  DoAllocClustersOffset,
  ClusterAllocPhys,
  ClusterLinkL2,
  L2Allocate,
  L2AllocateGetEmpty,
  L2AllocateWriteL2,
  L2AllocateWriteL1,
  L2AllocateDone,
  CacheGet,
  CacheGetReplaceEntry,
  CacheGetRead,
  CacheGetDone,
  CacheFlush,
  CacheEntryFlush,
  AddTask,
  // --- ours (QEMU has blkdebug events for most, but no trace line) ---
  RequestStart,
  RequestEnd,
  RefcountRead,
  RefcountUpdate,
  ClusterAlloc,
  ClusterFree,
  RefblockAlloc,
  ReftableGrow,
  L1Update,
  L1Grow,
  L2Update,
  CowRead,
  CowWrite,
  DataRead,
  DataWrite,
  BackingRead,
  ZeroRead,
  Decompress,
  MetadataRead,
  MetadataWrite,
  FlushToOs,
  FlushToDisk,
  DirtyBit,
  ZeroCluster,
  DiscardCluster,
  CacheHit,
  CacheMiss,
}

/** Number of kinds (for typed-array counters indexed by kind). */
export const EVENT_KIND_COUNT = EventKind.CacheMiss + 1;

export const EVENT_NAMES: Record<number, string> = {
  [EventKind.WritevStartReq]: "qcow2_writev_start_req",
  [EventKind.WritevDoneReq]: "qcow2_writev_done_req",
  [EventKind.WritevStartPart]: "qcow2_writev_start_part",
  [EventKind.WritevDonePart]: "qcow2_writev_done_part",
  [EventKind.WritevData]: "qcow2_writev_data",
  [EventKind.PwriteZeroesStartReq]: "qcow2_pwrite_zeroes_start_req",
  [EventKind.PwriteZeroes]: "qcow2_pwrite_zeroes",
  [EventKind.SkipCow]: "qcow2_skip_cow",
  [EventKind.AllocClustersOffset]: "qcow2_alloc_clusters_offset",
  [EventKind.HandleCopied]: "qcow2_handle_copied",
  [EventKind.HandleAlloc]: "qcow2_handle_alloc",
  [EventKind.DoAllocClustersOffset]: "qcow2_do_alloc_clusters_offset",
  [EventKind.ClusterAllocPhys]: "qcow2_cluster_alloc_phys",
  [EventKind.ClusterLinkL2]: "qcow2_cluster_link_l2",
  [EventKind.L2Allocate]: "qcow2_l2_allocate",
  [EventKind.L2AllocateGetEmpty]: "qcow2_l2_allocate_get_empty",
  [EventKind.L2AllocateWriteL2]: "qcow2_l2_allocate_write_l2",
  [EventKind.L2AllocateWriteL1]: "qcow2_l2_allocate_write_l1",
  [EventKind.L2AllocateDone]: "qcow2_l2_allocate_done",
  [EventKind.CacheGet]: "qcow2_cache_get",
  [EventKind.CacheGetReplaceEntry]: "qcow2_cache_get_replace_entry",
  [EventKind.CacheGetRead]: "qcow2_cache_get_read",
  [EventKind.CacheGetDone]: "qcow2_cache_get_done",
  [EventKind.CacheFlush]: "qcow2_cache_flush",
  [EventKind.CacheEntryFlush]: "qcow2_cache_entry_flush",
  [EventKind.AddTask]: "qcow2_add_task",
  [EventKind.RequestStart]: "request_start",
  [EventKind.RequestEnd]: "request_end",
  [EventKind.RefcountRead]: "refcount_read",
  [EventKind.RefcountUpdate]: "refcount_update",
  [EventKind.ClusterAlloc]: "cluster_alloc",
  [EventKind.ClusterFree]: "cluster_free",
  [EventKind.RefblockAlloc]: "refblock_alloc",
  [EventKind.ReftableGrow]: "reftable_grow",
  [EventKind.L1Update]: "l1_update",
  [EventKind.L1Grow]: "l1_grow",
  [EventKind.L2Update]: "l2_update",
  [EventKind.CowRead]: "cow_read",
  [EventKind.CowWrite]: "cow_write",
  [EventKind.DataRead]: "data_read",
  [EventKind.DataWrite]: "data_write",
  [EventKind.BackingRead]: "backing_read",
  [EventKind.ZeroRead]: "zero_read",
  [EventKind.Decompress]: "decompress",
  [EventKind.MetadataRead]: "metadata_read",
  [EventKind.MetadataWrite]: "metadata_write",
  [EventKind.FlushToOs]: "flush_to_os",
  [EventKind.FlushToDisk]: "flush_to_disk",
  [EventKind.DirtyBit]: "dirty_bit",
  [EventKind.ZeroCluster]: "zero_cluster",
  [EventKind.DiscardCluster]: "discard_cluster",
  [EventKind.CacheHit]: "cache_hit",
  [EventKind.CacheMiss]: "cache_miss",
};

export function isQemuTraced(kind: EventKind): boolean {
  return kind >= EventKind.WritevStartReq && kind <= EventKind.AddTask;
}

/** Which cache an event concerns: QEMU's is_l2_cache flag (1 = L2, 0 = refcount), -1 for none. */
export const CACHE_NONE = -1;
export const CACHE_REFCOUNT = 0;
export const CACHE_L2 = 1;
/** AddTask events use the cache column to say which task it is (QEMU prints "read"/"write"). */
export const ADD_TASK_READ = CACHE_NONE;
export const ADD_TASK_WRITE = 2;
/** A read task of a compressed cluster: slot = hi word, a = lo word of the raw L2 entry. */
export const ADD_TASK_COMPRESSED = 3;

/**
 * Field meaning per kind (a, b, c are the three numeric payload columns):
 *  WritevStartReq/PwriteZeroesStartReq/PwriteZeroes/AllocClustersOffset: a=guest offset, b=bytes
 *  WritevDoneReq: a=ret; WritevDonePart: a=cur_bytes; WritevData: a=host offset
 *  SkipCow: a=guest offset, b=nb_clusters; ClusterLinkL2: a=nb_clusters
 *  HandleCopied/HandleAlloc: a=guest offset, b=host offset (-1 = none), c=bytes
 *  DoAllocClustersOffset: a=guest offset, b=host offset (-1), c=nb_clusters
 *  L2Allocate*: a=l1 index; L2AllocateDone: b=ret
 *  CacheGet: a=table offset, b=read_from_disk; CacheGetReplaceEntry/Read/Done/EntryFlush: slot; CacheFlush: cache
 *  AddTask: a=host offset, b=guest offset, c=bytes, slot=cluster type; cache = ADD_TASK_READ/WRITE/COMPRESSED
 *  RefcountUpdate: a=cluster index, b=old, c=new; ClusterAlloc/ClusterFree: a=host offset, b=clusters
 *  CowRead/CowWrite/DataRead/DataWrite/BackingRead/ZeroRead/Decompress/MetadataRead/MetadataWrite: a=offset, b=bytes
 *  L1Update: a=l1 index, b=new L2 offset; L1Grow/ReftableGrow: a=old size, b=new size, c=new offset
 *  DirtyBit: a=0/1; RequestStart: a=offset, b=bytes, c=op; RequestEnd: a=ret
 */
export const EVENT_FIELDS = "a b c";
