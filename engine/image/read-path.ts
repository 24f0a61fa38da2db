// The read path (qcow2_co_preadv_part): one host-offset lookup per run of same-type subclusters; zero and
// unallocated-without-backing runs cost no I/O; unallocated runs read the backing node (zeros past its end);
// normal runs read the data file; compressed runs inflate one cluster.
import { mod2 } from "./pow2.js";
import { SubclusterType } from "../format/l2-entry.js";
import { UnsupportedError } from "../format/format-error.js";
import { EventKind, CACHE_NONE, ADD_TASK_COMPRESSED } from "../events/event-kind.js";
import { getHostOffset } from "./cluster-lookup.js";
import { CompressedDataError, readCompressedCluster } from "./compressed.js";
import { GuestIoError } from "./guest-io-error.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { isQcow2Node, type BlockNode } from "./block-node.js";
import { DeferredEvents, FlushOnYield } from "./deferred-events.js";
import type { EventSink } from "../events/recorder.js";

/**
 * Reads from a backing node the way the block layer does: the part past its end reads as zero. A qcow2 backing
 * node gets the caller's qiov_offset (bdrv_co_preadv_part passes it down).
 */
export function readBacking(node: BlockNode, buf: Uint8Array, offset: number, qiovOffset = 0): void {
  const inside = Math.max(0, Math.min(buf.length, node.virtualSize - offset));
  if (inside > 0) {
    if (node.format === "qcow2") qcow2Read(node as Qcow2Image, buf.subarray(0, inside), offset, false, qiovOffset);
    else node.read(buf.subarray(0, inside), offset);
  }
  if (inside < buf.length) buf.fill(0, inside);
}

/** A pooled task reading a qcow2 backing chain: its events after its first yield wait in `d`. */
function readBackingPooled(node: Qcow2Image, d: DeferredEvents, buf: Uint8Array, offset: number, qiovOffset: number): void {
  const saved: EventSink[] = [];
  for (let b: BlockNode | null = node; isQcow2Node(b); b = b.backing) {
    saved.push(b.events);
    b.events = d;
  }
  try {
    readBacking(node, buf, offset, qiovOffset);
  } finally {
    let i = 0;
    for (let b: BlockNode | null = node; isQcow2Node(b); b = b.backing) b.events = saved[i++]!;
  }
}

/** How often the request coroutine has yielded for metadata I/O: L2 cache reads and write-backs. */
function mainYields(img: Qcow2Image): number {
  return img.l2Cache.misses + img.l2Cache.writebacks;
}

/**
 * qcow2_co_preadv_part. `cow` marks perform_cow's reads, which call the driver directly (not through the block
 * layer), so they are not clamped to the virtual size: the last cluster is read whole, past the image's end. The
 * VM state's reads (qcow2_load_vmstate) call it directly too.
 */
export function qcow2Read(img: Qcow2Image, buf: Uint8Array, offset: number, cow = false, qiovOffset = 0): void {
  const total = buf.length;
  const inside = cow ? total : Math.max(0, Math.min(total, img.virtualSize - offset));
  if (inside < total) buf.fill(0, inside);
  let done = 0;
  // QEMU creates an AIO task pool at the first task that does not finish the request (AddTask's d: see task()).
  let pool = false;
  const task = (n: number): number => {
    if (!pool && n !== inside - done) pool = true;
    return (qiovOffset + done) * 2 + (pool ? 1 : 0);
  };
  // Pooled backing tasks' events after their first yield (deferred-events.ts), flushed when this coroutine yields.
  const own = img.events;
  let waiting: DeferredEvents | null = null;
  // A pooled compressed task that fails: QEMU sees it only when the task finishes (aio_task_pool_status at the
  // loop's top), after its read and its decompression on the thread pool, so after this coroutine's own second
  // yield (I/O completes in submission order); until then the loop goes on issuing chunks.
  let failure: GuestIoError | null = null;
  let failedAtYields = 0;
  try {
    while (done < inside) {
      if (failure !== null && mainYields(img) - failedAtYields >= 2) break;
      const pos = offset + done;
      const l = getHostOffset(img, pos, inside - done);
      const n = l.bytes;
      const out = buf.subarray(done, done + n);
      const ev = img.events;
      switch (l.type) {
        case SubclusterType.ZeroPlain:
        case SubclusterType.ZeroAlloc:
          out.fill(0);
          ev.emit(EventKind.ZeroRead, img.node, CACHE_NONE, -1, pos, n, 0);
          break;
        case SubclusterType.UnallocatedPlain:
        case SubclusterType.UnallocatedAlloc: {
          if (!img.backing) {
            out.fill(0);
            ev.emit(EventKind.ZeroRead, img.node, CACHE_NONE, -1, pos, n, 0);
            break;
          }
          // An unallocated subcluster of an allocated cluster still has its host offset (qcow2_get_host_offset).
          ev.emit(EventKind.AddTask, img.node, CACHE_NONE, l.type, l.host, pos, n, task(n));
          ev.emit(EventKind.BackingRead, img.node, CACHE_NONE, -1, pos, n, 0);
          if (pool && isQcow2Node(img.backing)) {
            // A pooled task: it runs until it yields, then this loop goes on (seen in qemu-io's trace: the next
            // chunk's lookup comes between the backing node's qcow2_cache_get_read and its get_done).
            waiting ??= new DeferredEvents(own);
            readBackingPooled(img.backing, waiting, out, pos, qiovOffset + done);
            if (waiting.pending && img.events === own) img.events = new FlushOnYield(own, img.node, waiting);
          } else readBacking(img.backing, out, pos, qiovOffset + done);
          break;
        }
        case SubclusterType.Compressed: {
          // Compressed tasks carry the raw L2 entry (QEMU traces it whole): hi word in `slot`, lo in `a`.
          ev.emit(EventKind.AddTask, img.node, ADD_TASK_COMPRESSED, l.entryHi, l.entryLo, pos, n, task(n));
          img.rt.compressedReads++;
          let cluster: Uint8Array;
          try {
            cluster = readCompressedCluster(img, l.entryHi, l.entryLo, pos);
          } catch (e) {
            // qcow2_co_preadv_compressed: data that does not inflate fails the request with -EIO (in a pool, later).
            if (!(e instanceof CompressedDataError)) throw e;
            if (!pool) throw new GuestIoError("EIO", e.message);
            if (failure === null) {
              failure = new GuestIoError("EIO", e.message);
              failedAtYields = mainYields(img);
            }
            break;
          }
          const inCluster = mod2(pos, img.clusterSize);
          out.set(cluster.subarray(inCluster, inCluster + n));
          break;
        }
        case SubclusterType.Normal:
          if (img.header.cryptMethod !== 0) throw new UnsupportedError(img.filename, "reading encrypted data is not supported (the image is LUKS/AES encrypted)");
          ev.emit(EventKind.AddTask, img.node, CACHE_NONE, l.type, l.host, pos, n, task(n));
          if (img.config.metadataOnly && img.dataFile.size() <= l.host) out.fill(0);
          else img.dataFile.read(out, l.host);
          ev.emit(EventKind.DataRead, img.node, CACHE_NONE, -1, l.host, n, 0);
          break;
        default:
          throw new Error(`unexpected subcluster type ${l.type}`);
      }
      done += n;
    }
    if (failure !== null) throw failure;
  } finally {
    if (waiting) {
      img.events = own;
      if (waiting.pending) waiting.flush();
    }
  }
}
