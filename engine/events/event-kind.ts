// The event taxonomy: every engine decision a user could ask "why?" about. The kinds are numbers only; what each
// one is called, what its payload columns mean and how it is shown is its row in event-schema.ts.

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

/** Which cache an event concerns: QEMU's is_l2_cache flag (1 = L2, 0 = refcount), -1 for none. */
export const CACHE_NONE = -1;
export const CACHE_REFCOUNT = 0;
export const CACHE_L2 = 1;
/** AddTask events use the cache column to say which task it is (QEMU prints "read"/"write"). */
export const ADD_TASK_READ = CACHE_NONE;
export const ADD_TASK_WRITE = 2;
/** A read task of a compressed cluster: slot = hi word, a = lo word of the raw L2 entry. */
export const ADD_TASK_COMPRESSED = 3;
