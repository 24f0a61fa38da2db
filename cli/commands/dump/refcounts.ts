// dump refcounts: the refcount table's entries and, per refcount block, the runs of equal non-zero refcounts.
import { hex } from "../../../engine/format/bytes.js";
import { geometry } from "../../../engine/format/header.js";
import { readRefcountTable, refcountRuns, reftableEntryOffset, reftableHasReservedBits } from "../../../engine/format/refcount-table.js";
import { type Dump, type DumpImage, type Json, raw64, table2 } from "./dump-image.js";
export function dumpRefcounts(img: DumpImage): Dump {
  const h = img.header;
  const g = geometry(h);
  const t = readRefcountTable(img.read, h, img.file);
  const blocks: { [k: string]: Json }[] = [];
  const text: string[] = [
    `${img.file}: refcount table at ${hex(h.refcountTableOffset)}, ${t.hi.length} entries (${h.refcountTableClusters} clusters); ${g.refcountBits}-bit refcounts, ${g.refblockEntries} per block`,
  ];
  const block = new Uint8Array(g.clusterSize);
  for (let i = 0; i < t.hi.length; i++) {
    const hi = t.hi[i]!;
    const lo = t.lo[i]!;
    if (hi === 0 && lo === 0) continue;
    const off = reftableEntryOffset(hi, lo);
    const firstCluster = i * g.refblockEntries;
    const flags: string[] = [];
    if (reftableHasReservedBits(lo)) flags.push("reserved bits set");
    const b: { [k: string]: Json } = { index: i, offset: t.offset + i * 8, raw: raw64(hi, lo), refblock_offset: Number.isNaN(off) ? null : off, first_cluster: firstCluster };
    let runs: Json[] = [];
    if (Number.isNaN(off)) flags.push("offset beyond 2^53");
    else if (off % g.clusterSize !== 0) flags.push("unaligned");
    else if (off + g.clusterSize > img.size) flags.push("beyond end of file");
    else {
      img.read(block, off);
      runs = refcountRuns(block, h.refcountOrder, firstCluster).map((r) => ({
        cluster: r.cluster,
        host_offset: r.cluster * g.clusterSize,
        count: r.count,
        refcount: Number.isNaN(r.refcount) ? null : r.refcount,
      }));
    }
    b.flags = flags;
    b.runs = runs;
    blocks.push(b);
    text.push(
      "",
      `refcount table entry ${i} at ${hex(b.offset as number)}: raw ${b.raw}, refcount block at ${Number.isNaN(off) ? "?" : hex(off)}, clusters ${firstCluster}..${firstCluster + g.refblockEntries - 1}${flags.length ? "  [" + flags.join(", ") + "]" : ""}`,
      ...table2(
        ["  clusters", "host offsets", "count", "refcount"],
        (runs as { [k: string]: number | null }[]).map((r) => [
          `  ${r.cluster}${r.count! > 1 ? `..${r.cluster! + r.count! - 1}` : ""}`,
          `${hex(r.host_offset!)}..${hex(r.host_offset! + r.count! * g.clusterSize - 1)}`,
          String(r.count),
          r.refcount === null ? ">= 2^53" : String(r.refcount),
        ]),
      ),
    );
  }
  return {
    json: { file: img.file, offset: h.refcountTableOffset, entries: t.hi.length, refcount_bits: g.refcountBits, refblock_entries: g.refblockEntries, blocks },
    text,
  };
}
