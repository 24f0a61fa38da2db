// dump l1 and dump l2 INDEX: the non-zero entries of the L1 table and of one L2 table, raw and decoded,
// with the guest range each maps (subcluster bits with extended L2).
import { hex, u32 } from "../../../engine/format/bytes.js";
import { exactBytes } from "../../../engine/units/size-text.js";
import { FormatError } from "../../../engine/format/format-error.js";
import { geometry, hasIncompat, INCOMPAT_DATA_FILE } from "../../../engine/format/header.js";
import {
  ClusterKind,
  COMPRESSED_HI,
  compressedDescriptor,
  entryOffset,
  isCopied,
  l2Kind,
  L2_RESERVED_HI,
  L2_RESERVED_LO,
} from "../../../engine/format/l2-entry.js";
import { l1HasReservedBits, readL1Table, readRawTable } from "../../../engine/format/refcount-table.js";
import { ExitError } from "../../fail.js";
import { type Dump, type DumpImage, type Json, raw64, table2 } from "./dump-image.js";
export function dumpL1(img: DumpImage): Dump {
  const h = img.header;
  const g = geometry(h);
  const t = readL1Table(img.read, h.l1TableOffset, h.l1Size, h.clusterBits, img.file);
  const perL2 = g.l2Entries * g.clusterSize;
  const rows: { [k: string]: Json }[] = [];
  for (let i = 0; i < h.l1Size; i++) {
    const hi = t.hi[i]!;
    const lo = t.lo[i]!;
    if (hi === 0 && lo === 0) continue;
    const off = entryOffset(hi, lo);
    const flags = [];
    if (l1HasReservedBits(hi, lo)) flags.push("reserved bits set");
    if (off % g.clusterSize !== 0) flags.push("unaligned");
    if (off + g.clusterSize > img.size) flags.push("beyond end of file");
    rows.push({ index: i, offset: t.offset + i * 8, raw: raw64(hi, lo), l2_offset: off, copied: isCopied(hi), guest_offset: i * perL2, flags });
  }
  const text = [
    `${img.file}: L1 table at ${hex(h.l1TableOffset)}, ${h.l1Size} entries (each maps ${exactBytes(perL2)}); ${rows.length} non-zero`,
    ...table2(
      ["index", "offset", "raw", "L2 offset", "COPIED", "guest offset", ""],
      rows.map((r) => [String(r.index), hex(r.offset as number), r.raw as string, hex(r.l2_offset as number), r.copied ? "yes" : "no", hex(r.guest_offset as number), (r.flags as string[]).join(", ")]),
    ),
  ];
  return { json: { file: img.file, offset: h.l1TableOffset, entries: h.l1Size, guest_bytes_per_entry: perL2, non_zero: rows }, text };
}

export function dumpL2(img: DumpImage, l1Index: number): Dump {
  const h = img.header;
  const g = geometry(h);
  if (l1Index >= h.l1Size) throw new ExitError(`dump l2: L1 index ${l1Index} is out of range (the L1 table has ${h.l1Size} entries)`, 1);
  const l1 = readRawTable(img.read, h.l1TableOffset + l1Index * 8, 1);
  const l1hi = l1.hi[0]!;
  const l1lo = l1.lo[0]!;
  const l2Offset = entryOffset(l1hi, l1lo);
  const head = { file: img.file, l1_index: l1Index, l1_entry_offset: l1.offset, l1_raw: raw64(l1hi, l1lo), l2_offset: l2Offset, extended_l2: g.extendedL2 };
  if (l2Offset === 0) {
    return { json: { ...head, entries: [] }, text: [`${img.file}: L1 entry ${l1Index} (at ${hex(l1.offset)}) is ${raw64(l1hi, l1lo)}: no L2 table`] };
  }
  if (l2Offset % g.clusterSize !== 0)
    throw new FormatError("L1 table", "entry", l1.offset, img.file, `L2 table offset ${hex(l2Offset)} is not cluster aligned`);
  const warnings: string[] = [];
  if (l2Offset + g.clusterSize > img.size) warnings.push(`the L2 table lies beyond the end of the file (0x${img.size.toString(16)}): it reads as zeros`);
  const table = new Uint8Array(g.clusterSize);
  img.read(table, l2Offset);
  const dataFile = hasIncompat(h, INCOMPAT_DATA_FILE);
  const rows: { [k: string]: Json }[] = [];
  for (let i = 0; i < g.l2Entries; i++) {
    const o = i * g.l2EntryBytes;
    const hi = u32(table, o);
    const lo = u32(table, o + 4);
    const bhi = g.extendedL2 ? u32(table, o + 8) : 0;
    const blo = g.extendedL2 ? u32(table, o + 12) : 0;
    if (hi === 0 && lo === 0 && bhi === 0 && blo === 0) continue;
    const row: { [k: string]: Json } = {
      index: i,
      offset: l2Offset + o,
      guest_offset: (l1Index * g.l2Entries + i) * g.clusterSize,
      raw: raw64(hi, lo),
    };
    const flags: string[] = [];
    if (hi & COMPRESSED_HI) {
      const d = compressedDescriptor(hi, lo, h.clusterBits);
      Object.assign(row, { kind: "compressed", host_offset: d.hostOffset, copied: isCopied(hi), compressed_sectors: d.sectors + 1, compressed_bytes: d.length });
      if (isCopied(hi)) flags.push("COPIED set on a compressed cluster");
    } else {
      const off = entryOffset(hi, lo);
      const k = l2Kind(hi, lo, dataFile, g.extendedL2);
      const kind = k === ClusterKind.Normal ? "normal" : k === ClusterKind.Unallocated ? "unallocated" : "zero";
      const present = k === ClusterKind.Normal || k === ClusterKind.ZeroAlloc;
      Object.assign(row, { kind, host_offset: present ? off : null, copied: isCopied(hi) });
      if ((hi & L2_RESERVED_HI) !== 0 || (lo & (g.extendedL2 ? L2_RESERVED_LO | 1 : L2_RESERVED_LO)) !== 0) flags.push("reserved bits set");
      if (off % g.clusterSize !== 0) flags.push("unaligned");
    }
    if (g.extendedL2) {
      row.bitmap_raw = raw64(bhi, blo);
      row.subclusters = subclusterMap(blo, bhi, row.kind === "unallocated", row.kind === "compressed");
      if ((row.subclusters as string).includes("!")) flags.push("invalid subcluster bits");
    }
    row.flags = flags;
    rows.push(row);
  }
  const cols = ["index", "offset", "guest offset", "raw", "kind", "host offset", "COPIED"];
  if (g.extendedL2) cols.push("subclusters (A alloc, Z zero, ! invalid)");
  cols.push("");
  const text = [
    `${img.file}: L2 table at ${hex(l2Offset)} (L1 entry ${l1Index} at ${hex(l1.offset)}, raw ${raw64(l1hi, l1lo)}, COPIED ${isCopied(l1hi) ? "yes" : "no"})`,
    `${g.l2Entries} entries of ${g.l2EntryBytes} bytes; ${rows.length} non-zero`,
    ...table2(
      cols,
      rows.map((r) => {
        const host = r.host_offset === null ? "-" : hex(r.host_offset as number) + (r.kind === "compressed" ? ` +${r.compressed_bytes}` : "");
        const raw = g.extendedL2 ? `${r.raw} ${r.bitmap_raw}` : (r.raw as string);
        const cells = [String(r.index), hex(r.offset as number), hex(r.guest_offset as number), raw, r.kind as string, host, r.copied ? "yes" : "no"];
        if (g.extendedL2) cells.push(r.subclusters as string);
        cells.push((r.flags as string[]).join(", "));
        return cells;
      }),
    ),
  ];
  text.push(...warnings.map((w) => `warning: ${w}`));
  return { json: { ...head, l1_copied: isCopied(l1hi), entries: rows, warnings }, text };
}

/** One character per subcluster from the raw bitmap bits (alloc = bits 0..31, zero = bits 32..63). */
function subclusterMap(alloc: number, zero: number, unallocated: boolean, compressed: boolean): string {
  let s = "";
  for (let sc = 0; sc < 32; sc++) {
    const a = (alloc >>> sc) & 1;
    const z = (zero >>> sc) & 1;
    if ((a && z) || (a && unallocated) || (compressed && (a || z))) s += "!";
    else s += a ? "A" : z ? "Z" : ".";
  }
  return s;
}
