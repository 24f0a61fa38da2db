// What every cluster of the host file holds right now: header, L1, refcount table, refcount blocks, L2 tables,
// data (compressed or not), snapshot tables, or nothing (free); refcounted but unreachable clusters are leaked,
// refcount >= 2 is shared. Walks the refcount blocks and the L1/L2 tables once through image-peek (no cache
// traffic), so it costs a few table reads per step; images past MAX_CLUSTERS are mapped up to that bound.
import { ClusterKind, compressedDescriptor, entryOffset, l2Kind } from "../../engine/format/l2-entry.js";
import { decodeSnapshotTable } from "../../engine/format/snapshot-table.js";
import { asImageView, type ImageView } from "../../engine/image/image-view.js";
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { peekL2Table, RefcountPeeker } from "./image-peek.js";
import { u32 } from "../../engine/format/bytes.js";
import { getRefcount } from "../../engine/format/refcount-entry.js";

export const enum HostKind {
  Free = 0,
  Header,
  L1,
  Reftable,
  Refblock,
  L2,
  Snapshot,
  Other,
  Data,
  Compressed,
  Shared,
  Leaked,
}

/** One character per kind, for the map and its legend. */
export const HOST_KIND_CHARS = ".H1Rr2SoDcsL";
export const HOST_KIND_NAMES = ["free", "header", "L1", "reftable", "refblock", "L2", "snapshot", "other metadata", "data", "compressed", "shared", "leaked"];
/** Which kind wins when clusters share a cell (most telling first). */
const PRIORITY = [HostKind.Leaked, HostKind.Shared, HostKind.Header, HostKind.L1, HostKind.Reftable, HostKind.Refblock, HostKind.L2, HostKind.Snapshot, HostKind.Other, HostKind.Compressed, HostKind.Data, HostKind.Free];
const RANK = (() => {
  const r = new Uint8Array(PRIORITY.length);
  PRIORITY.forEach((k, i) => (r[k] = i));
  return r;
})();

/** Bounds the walk (4 Mi clusters = 256 GiB of 64 KiB clusters). */
export const MAX_CLUSTERS = 4 * 1024 * 1024;

export interface HostMap {
  clusterSize: number;
  /** Clusters in the host file (the map covers min(clusters, MAX_CLUSTERS)). */
  clusters: number;
  kinds: Uint8Array;
  counts: Float64Array;
  /** Allocated guest clusters walked in guest order, and how many do not follow the previous one on the host. */
  allocated: number;
  fragmented: number;
  truncated: boolean;
}

/** The map of an image, read through its read-only view (the dashboard and tests hand the image itself). */
export function buildHostMap(img: ImageView | Qcow2Image): HostMap {
  const steps = hostMapSteps(img);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * buildHostMap in steps: yields after every L2 table and refcount block, so a face can build the map of a big
 * image between keys (and drop the build when a key moves the image). The image must not change meanwhile.
 */
export function* hostMapSteps(image: ImageView | Qcow2Image): Generator<void, HostMap, void> {
  const img = asImageView(image);
  const cs = img.clusterSize;
  const h = img.header;
  // Read once: the walk below looks at every entry of every L2 table.
  const { l2Entries, l2EntryBytes: eb, extendedL2 } = img.geo;
  const dataFile = img.hasDataFile;
  const clusterBits = img.clusterBits;
  const reftable = img.reftable;
  const total = Math.ceil(img.file.size() / cs);
  const n = Math.min(total, MAX_CLUSTERS);
  const kinds = new Uint8Array(n);
  const mark = (offset: number, bytes: number, kind: HostKind) => {
    if (bytes <= 0) return;
    const last = Math.min(n - 1, Math.floor((offset + bytes - 1) / cs));
    for (let c = Math.floor(offset / cs); c <= last; c++) if (kinds[c] === HostKind.Free || RANK[kind]! < RANK[kinds[c]!]!) kinds[c] = kind;
  };
  mark(0, cs, HostKind.Header);
  mark(h.l1TableOffset, h.l1Size * 8, HostKind.L1);
  mark(h.refcountTableOffset, h.refcountTableClusters * cs, HostKind.Reftable);
  for (let i = 0; i < img.reftableSize; i++) {
    const off = entryOffset(u32(reftable, i * 8), u32(reftable, i * 8 + 4) & 0xfffffe00);
    if (off) mark(off, cs, HostKind.Refblock);
  }
  if (img.ext.crypto) mark(img.ext.crypto.offset, img.ext.crypto.length, HostKind.Other);

  // Fragmentation as qemu-img check counts it: per L2 table, a cluster not right after the previous one;
  // compressed clusters always count (they are read by sectors).
  let allocated = 0;
  let fragmented = 0;
  const seenL2 = new Set<number>();
  const walkL1 = function* (l1: Uint8Array, entries: number, active: boolean): Generator<void, void, void> {
    for (let i = 0; i < entries; i++) {
      const l2 = entryOffset(u32(l1, i * 8), u32(l1, i * 8 + 4));
      if (!l2 || l2 % cs !== 0) continue;
      mark(l2, cs, HostKind.L2);
      if (seenL2.has(l2)) continue;
      seenL2.add(l2);
      yield;
      const t = peekL2Table(img, l2);
      let nextContiguous = 0;
      for (let j = 0; j < l2Entries; j++) {
        const hi = u32(t, j * eb);
        const lo = u32(t, j * eb + 4);
        if (!hi && !lo) continue;
        const kind = l2Kind(hi, lo, dataFile, extendedL2);
        if (kind === ClusterKind.Compressed) {
          const d = compressedDescriptor(hi, lo, clusterBits);
          mark(d.hostOffset, d.length, HostKind.Compressed);
          if (active) {
            allocated++;
            fragmented++;
          }
        } else if (kind === ClusterKind.Normal || kind === ClusterKind.ZeroAlloc) {
          const host = entryOffset(hi, lo);
          if (!dataFile) mark(host, cs, HostKind.Data);
          if (active) {
            allocated++;
            if (nextContiguous && host !== nextContiguous) fragmented++;
            nextContiguous = host + cs;
          }
        }
      }
    }
  };
  yield* walkL1(img.l1, h.l1Size, true);
  if (h.nbSnapshots) {
    try {
      const snaps = decodeSnapshotTable((b, o) => img.file.read(b, o), h, img.file.size(), img.filename);
      for (const s of snaps) {
        mark(s.offset, s.size ?? 40, HostKind.Snapshot);
        mark(s.l1TableOffset, s.l1Size * 8, HostKind.Snapshot);
        if (s.l1Size * 8 <= 32 * 1024 * 1024) {
          const l1 = new Uint8Array(s.l1Size * 8);
          img.file.read(l1, s.l1TableOffset);
          yield* walkL1(l1, s.l1Size, false);
        }
      }
    } catch {
      // A broken snapshot table leaves its clusters unreached: they show as leaked, which is the truth we know.
    }
  }

  const rc = new RefcountPeeker(img);
  const unknownRefs = Boolean(img.ext.bitmaps);
  const counts = new Float64Array(HOST_KIND_CHARS.length);
  const per = rc.entriesPerBlock;
  const order = h.refcountOrder;
  for (let start = 0; start < n; start += per) {
    yield;
    const block = rc.block(start);
    const end = Math.min(n, start + per);
    for (let c = start; c < end; c++) {
      const r = block ? getRefcount(block, c - start, order) : 0;
      let k = kinds[c]!;
      if (k === HostKind.Free && r > 0) k = unknownRefs ? HostKind.Other : HostKind.Leaked;
      else if (r >= 2 && (k === HostKind.Data || k === HostKind.L2 || k === HostKind.Compressed)) k = HostKind.Shared;
      kinds[c] = k;
      counts[k]!++;
    }
  }
  return { clusterSize: cs, clusters: total, kinds, counts, allocated, fragmented, truncated: total > n };
}

/** Folds the map into `cells` cells: each shows the most telling kind among its clusters. */
export function foldMap(map: HostMap, cells: number): { kinds: Uint8Array; perCell: number } {
  const n = map.kinds.length;
  const perCell = Math.max(1, Math.ceil(n / Math.max(1, cells)));
  const out = new Uint8Array(Math.ceil(n / perCell));
  for (let i = 0; i < out.length; i++) {
    let best = HostKind.Free as number;
    for (let c = i * perCell; c < Math.min(n, (i + 1) * perCell); c++) {
      const k = map.kinds[c]!;
      if (RANK[k]! < RANK[best]!) best = k;
    }
    out[i] = best;
  }
  return { kinds: out, perCell };
}
