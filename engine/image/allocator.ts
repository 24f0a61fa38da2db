// Host cluster allocation (qcow2-refcount.c): first fit from free_cluster_index, reading each candidate's
// refcount; allocation at a given offset for contiguous runs; and refcount-table growth by building
// self-describing refcount blocks and a 50%-bigger table past the end of the image.
import { put32, put64 } from "../format/bytes.js";
import { getRefcount as getEntry, setRefcount as setEntry } from "../format/refcount-entry.js";
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { Again, freeClusters, getRefcount, reftableEntry, refblockBits, updateRefcount } from "./refcounts.js";
import { preWriteOverlapCheck } from "./overlap-check.js";

const MAX_REFTABLE_ENTRIES = (8 * 1024 * 1024) / 8;

/** alloc_clusters_noref: finds `size` bytes of free contiguous clusters without taking a reference. */
export function allocClustersNoref(img: Qcow2Image, size: number): number {
  const n = Math.ceil(size / img.clusterSize);
  let i = 0;
  while (i < n) {
    const idx = img.freeClusterIndex++;
    if (getRefcount(img, idx) !== 0) i = 0;
    else i++;
  }
  return (img.freeClusterIndex - n) * img.clusterSize;
}

/** qcow2_alloc_clusters: allocate and take a reference, retrying when a refcount block was allocated. */
export function allocClusters(img: Qcow2Image, size: number): number {
  while (true) {
    const offset = allocClustersNoref(img, size);
    try {
      updateRefcount(img, offset, size, 1, false);
      img.events.emit(EventKind.ClusterAlloc, img.node, CACHE_NONE, -1, offset, Math.ceil(size / img.clusterSize), 0);
      return offset;
    } catch (e) {
      if (!(e instanceof Again)) throw e;
    }
  }
}

/** qcow2_alloc_clusters_at: takes as many of `n` clusters at `offset` as are free; returns how many. */
export function allocClustersAt(img: Qcow2Image, offset: number, n: number): number {
  if (n === 0) return 0;
  while (true) {
    let ci = offset / img.clusterSize;
    let i = 0;
    for (; i < n; i++) if (getRefcount(img, ci++) !== 0) break;
    try {
      updateRefcount(img, offset, i * img.clusterSize, 1, false);
      if (i) img.events.emit(EventKind.ClusterAlloc, img.node, CACHE_NONE, -1, offset, i, 0);
      return i;
    } catch (e) {
      if (!(e instanceof Again)) throw e;
    }
  }
}

/** qcow2_refcount_metadata_size's fixed point: refcount blocks needed to cover `clusters` plus themselves. */
export function refblocksNeeded(clusters: number, cs: number, order: number, generous: boolean): number {
  const perTableCluster = cs / 8;
  const perBlock = (cs * 8) / 2 ** order;
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last: number;
  do {
    last = n;
    blocks = Math.ceil((clusters + table + blocks) / perBlock);
    table = Math.ceil(blocks / perTableCluster);
    n = clusters + blocks + table;
    if (n === last && generous) {
      clusters += Math.ceil(table / 2);
      n = 0;
      generous = false;
    }
  } while (n !== last);
  return blocks;
}

/** qcow2_refcount_area: new refcount blocks and table at `startOffset`, then switch the header over. */
export function growRefcountTable(img: Qcow2Image, startOffset: number, newIndex: number, newBlock: number): void {
  const cs = img.clusterSize;
  const order = img.header.refcountOrder;
  const perBlock = 2 ** refblockBits(img);
  const total = refblocksNeeded(startOffset / cs, cs, order, true);
  if (total > MAX_REFTABLE_ENTRIES) throw new Error(`${img.filename}: refcount table would exceed 8 MiB`);
  const areaIndex = Math.floor(startOffset / cs / perBlock);
  let tableSize = total + Math.ceil(total / 2);
  tableSize = Math.ceil(tableSize / (cs / 8)) * (cs / 8);
  const tableClusters = (tableSize * 8) / cs;
  if (tableSize > MAX_REFTABLE_ENTRIES) throw new Error(`${img.filename}: refcount table would exceed 8 MiB`);
  const newTable = new Float64Array(tableSize);
  let maxIndex = -1;
  for (let i = 0; i < img.reftableSize; i++) if (reftableEntry(img, i)) maxIndex = i;
  for (let i = 0; i <= Math.min(maxIndex, tableSize - 1); i++) newTable[i] = reftableEntry(img, i);
  if (newBlock) newTable[newIndex] = newBlock;
  let additional = 0;
  for (let i = areaIndex; i < total; i++) if (!newTable[i]) additional++;
  const tableOffset = startOffset + additional * cs;
  const endOffset = tableOffset + tableClusters * cs;
  img.events.emit(EventKind.ReftableGrow, img.node, CACHE_NONE, -1, img.reftableSize, tableSize, tableOffset);
  let blockOffset = startOffset;
  const cache = img.refcountCache;
  for (let i = areaIndex; i < total; i++) {
    let slot: number;
    if (newTable[i]) slot = cache.get(newTable[i]!, true);
    else {
      slot = cache.get(blockOffset, false);
      cache.table(slot).fill(0);
      cache.markDirty(slot);
      newTable[i] = blockOffset;
      blockOffset += cs;
    }
    const first = i * perBlock * cs;
    if (first < endOffset) {
      let j = first < startOffset ? (startOffset - first) / cs : 0;
      const end = Math.min((endOffset - first) / cs, perBlock);
      const t = cache.table(slot);
      for (; j < end; j++) {
        if (getEntry(t, j, order) !== 0) throw new Error(`${img.filename}: refcount area at 0x${startOffset.toString(16)} is not empty`);
        setEntry(t, j, order, 1);
      }
      cache.markDirty(slot);
    }
    cache.put(slot);
  }
  cache.flush();
  const bytes = new Uint8Array(tableSize * 8);
  for (let i = 0; i < tableSize; i++) if (newTable[i]) put64(bytes, i * 8, newTable[i]!);
  preWriteOverlapCheck(img, 0, tableOffset, bytes.length, false);
  img.file.write(bytes, tableOffset);
  img.events.emit(EventKind.MetadataWrite, img.node, CACHE_NONE, -1, tableOffset, bytes.length, 0);
  img.ioYield();
  img.flushFile();
  const hdr = new Uint8Array(12);
  put64(hdr, 0, tableOffset);
  put32(hdr, 8, tableClusters);
  img.file.write(hdr, 48);
  img.ioYield();
  img.flushFile();
  const oldOffset = img.header.refcountTableOffset;
  const oldSize = img.reftableSize;
  img.reftable = bytes;
  img.reftableSize = tableSize;
  img.header.refcountTableOffset = tableOffset;
  img.header.refcountTableClusters = tableClusters;
  freeClusters(img, oldOffset, oldSize * 8, false);
}
