// The host cluster allocator: qcow2_alloc_clusters and qcow2_alloc_clusters_at, which find clusters (first fit
// from free_cluster_index, in refcounts.ts) and take a reference, retrying when taking it allocated a refcount
// block. It sits above refcounts.ts, so the two form no import cycle (refcount updates never allocate through it).
import { EventKind, CACHE_NONE } from "../events/event-kind.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { Again, allocClustersNoref, getRefcount, updateRefcount } from "./refcounts.js";

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
