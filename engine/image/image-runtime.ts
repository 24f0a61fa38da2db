// What a Qcow2Image changes while requests run, in one object: the header and tables as the driver keeps them in
// memory, both metadata caches, the allocation cursors, flags, sync generations and the decompressed-cluster
// buffer. Checkpoints capture it by walking its keys (image-snapshot.ts), so a field added here is captured too.
import type { Qcow2Header } from "../format/header.js";
import type { MetadataCache } from "./metadata-cache.js";
import type { EngineConfig } from "./engine-config.js";

export class ImageRuntime {
  /** Allocation cursor (s->free_cluster_index), reset to 0 on open. */
  freeClusterIndex = 0;
  /** qcow2_alloc_bytes' cursor: where the next compressed cluster may be packed (0 = none). */
  freeByteOffset = 0;
  /** Freed host clusters queued for a discard to the file. */
  pendingDiscards: number[] = [];
  metadataPreallocationChecked = false;
  metadataPreallocation = false;
  /** A fatal corruption was signalled: every request now fails with ENOMEDIUM, as QEMU's bs->drv = NULL. */
  unusable = false;
  /**
   * Write generations of the image file and the data file at their last sync (-1: not synced yet). A restore
   * keeps them as a relation to the file's current generation (image-snapshot.ts), as generations only grow.
   */
  fileSyncedGen = -1;
  dataSyncedGen = -1;
  /** Reopened read-only (qemu-io `reopen -r`): flushes are no-ops and writes are refused, as on QEMU's node. */
  readOnly = false;
  /**
   * request_alignment of the image file under O_DIRECT (cache=none, directsync): raw_probe_alignment finds 512
   * bytes when the file is opened with O_DIRECT, but a reopen that turns O_DIRECT on (fcntl on a duplicated fd)
   * probes 4096 on the same file system (seen with qemu-io 7.2: `reopen -c none` then a 512-byte-cluster write
   * pads the file to 4 KiB); a later reopen that keeps O_DIRECT probes again and finds 512 (reopen.ts).
   * Storage.writeAlign reads it.
   */
  directIoAlign = 512;
  /** A metadata-only run skipped a data write: the next flush of that file must still sync. */
  dataWriteSkipped = false;
  /**
   * Compressed read tasks so far (qcow2_co_preadv_compressed): each reads the data, then decompresses it on the
   * thread pool (qcow2_co_decompress), two waits where a read of a normal cluster has one (write-path.ts counts them).
   */
  compressedReads = 0;

  constructor(
    /** The header as the driver keeps it (refcount table growth moves the table). */
    public header: Qcow2Header,
    public l1: Uint8Array,
    public reftable: Uint8Array,
    public l2Cache: MetadataCache,
    public refcountCache: MetadataCache,
    public lazyRefcounts: boolean,
    public dirty: boolean,
    /** Set when QEMU would mark the image corrupt (qcow2_signal_corruption). */
    public corrupt: boolean,
    /** The image's options (the same object as Qcow2Image.config): a reopen changes them in place. */
    public config: EngineConfig,
  ) {}
}
