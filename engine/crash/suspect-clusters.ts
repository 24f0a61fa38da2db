// Which guest clusters a crash at a point could change: those a volatile data write was for, those whose L2
// entry a volatile L2 write changes, and those an L2 table linked by a volatile L1 write maps. Only these are read
// back from a crashed image; every other cluster reads what it read before the point.
import { u32 } from "../format/bytes.js";
import { entryOffset } from "../format/l2-entry.js";
import type { Qcow2Image } from "../image/qcow2-image.js";
import type { Storage } from "../storage/storage.js";
import type { HostOp } from "./host-write-log.js";

/** Bound on the clusters read back per state (a point past it is judged on the first ones, and says so). */
export const MAX_SUSPECTS = 4096;

export interface Suspects {
  /** Guest cluster indices, ascending. */
  clusters: number[];
  /** op index (in the volatile list) -> the guest clusters it may change. */
  byOp: Map<number, number[]>;
  truncated: boolean;
}

export function suspectClusters(img: Qcow2Image, ops: readonly HostOp[], durable: Storage, live: Storage): Suspects {
  const cs = img.clusterSize;
  const eb = img.geo.l2EntryBytes;
  const l2Entries = img.geo.l2Entries;
  const guestClusters = Math.ceil(img.virtualSize / cs);
  // L2 table cluster -> L1 index, from the L1 table as the engine holds it now.
  const l1Of = new Map<number, number>();
  for (let i = 0; i < img.header.l1Size; i++) {
    const off = entryOffset(u32(img.l1, i * 8), u32(img.l1, i * 8 + 4));
    if (off) l1Of.set(off, i);
  }
  const all = new Set<number>();
  const byOp = new Map<number, number[]>();
  const add = (i: number, list: number[]) => {
    const ok = list.filter((c) => c >= 0 && c < guestClusters);
    if (!ok.length) return;
    byOp.set(i, ok);
    for (const c of ok) all.add(c);
  };
  ops.forEach((op, i) => {
    if (op.kind !== "write") return;
    if (op.cause === "guest-data" || op.cause === "cow" || op.cause === "cow-zero" || op.cause === "compressed") {
      if (op.guestLength <= 0) return;
      const list: number[] = [];
      for (let c = Math.floor(op.guestOffset / cs); c * cs < op.guestOffset + op.guestLength; c++) list.push(c);
      add(i, list);
    } else if (op.cause === "l2" && op.target === 0 && op.data) {
      const table = Math.floor(op.offset / cs) * cs;
      const li = l1Of.get(table);
      if (li === undefined) return;
      const before = new Uint8Array(op.data.length);
      durable.read(before, op.offset);
      const first = (op.offset - table) / eb;
      const list: number[] = [];
      for (let e = 0; e * eb < op.data.length; e++) {
        let same = true;
        for (let b = 0; b < eb; b++) if (before[e * eb + b] !== op.data[e * eb + b]) same = false;
        if (!same) list.push(li * l2Entries + first + e);
      }
      add(i, list);
    } else if (op.cause === "l1" && op.target === 0 && op.data) {
      const list: number[] = [];
      for (let k = 0; k * 8 < op.data.length; k++) {
        const li = (op.offset - img.header.l1TableOffset) / 8 + k;
        const l2 = entryOffset(u32(op.data, k * 8), u32(op.data, k * 8 + 4));
        if (!l2) continue;
        const t = new Uint8Array(cs);
        live.read(t, l2);
        for (let e = 0; e < l2Entries; e++) {
          let nz = false;
          for (let b = 0; b < eb; b++) if (t[e * eb + b]) nz = true;
          if (nz) list.push(li * l2Entries + e);
        }
      }
      add(i, list);
    }
  });
  let clusters = [...all].sort((a, b) => a - b);
  const truncated = clusters.length > MAX_SUSPECTS;
  if (truncated) clusters = clusters.slice(0, MAX_SUSPECTS);
  return { clusters, byOp, truncated };
}
