// The L1 and L2 entries around the guest cluster the debugger looks at, read through image-peek (cached
// slices win over the file, nothing is disturbed). Keys name the table and index, so an entry that changed
// between two steps is found even when the window moved.
import { ClusterKind, compressedDescriptor, entryOffset, isCopied, l2Kind } from "../../engine/format/l2-entry.js";
import type { ImageView } from "../../engine/image/image-view.js";
import { l2OffsetOf, peekL2Entry } from "./image-peek.js";
import type { PaneView, Row } from "./view-models.js";
import { hex } from "../../engine/units/size-text.js";


export interface TableFocus {
  guestOffset: number;
  /** Entries the last command wrote (from its events): "l1:N" and "l2:L2OFFSET:INDEX" keys. */
  touched: Set<string>;
}

export function l2EntryWords(img: ImageView, hi: number, lo: number): string {
  if (!hi && !lo) return "-";
  const kind = l2Kind(hi, lo, img.hasDataFile, img.geo.extendedL2);
  const copied = isCopied(hi) ? " C" : "";
  switch (kind) {
    case ClusterKind.Unallocated:
      return `unallocated${copied}`;
    case ClusterKind.ZeroPlain:
      return "zero";
    case ClusterKind.ZeroAlloc:
      return `zero @${hex(entryOffset(hi, lo))}${copied}`;
    case ClusterKind.Compressed: {
      const d = compressedDescriptor(hi, lo, img.clusterBits);
      return `compressed @${hex(d.hostOffset)} ${d.length}B`;
    }
    default:
      return `-> ${hex(entryOffset(hi, lo))}${copied}`;
  }
}

export function tablesView(img: ImageView, focus: TableFocus, maxRows: number): PaneView {
  const cs = img.clusterSize;
  const cluster = Math.floor(focus.guestOffset / cs);
  const l1i = Math.floor(cluster / img.geo.l2Entries);
  const l2i = cluster % img.geo.l2Entries;
  const rows: Row[] = [];
  const l1Rows = Math.min(3, Math.max(1, Math.floor(maxRows / 4)));
  const l1From = Math.max(0, Math.min(l1i - Math.floor(l1Rows / 2), img.header.l1Size - l1Rows));
  for (let i = l1From; i < Math.min(img.header.l1Size, l1From + l1Rows); i++) {
    const [hi, lo] = img.l1Entry(i);
    const off = entryOffset(hi, lo);
    const key = `l1:${i}`;
    rows.push({ key, text: `L1[${i}] ${off ? `-> L2 ${hex(off)}${isCopied(hi) ? " C" : ""}` : "-"}`, tone: i === l1i ? "current" : "normal", changed: focus.touched.has(key), target: { kind: "l1", index: i } });
  }
  let focusRow: number | undefined;
  const l2 = l2OffsetOf(img, l1i);
  if (l1i >= img.header.l1Size) rows.push({ key: "l2:none", text: `guest cluster ${cluster} lies past the L1 table`, tone: "warn" });
  else if (!l2) rows.push({ key: "l2:none", text: `L1[${l1i}] has no L2 table: the whole range reads from ${img.hasBacking ? "the backing file" : "zeroes"}`, tone: "dim" });
  else {
    const n = Math.max(1, maxRows - rows.length);
    const from = Math.max(0, Math.min(l2i - Math.floor(n / 2), img.geo.l2Entries - n));
    for (let j = from; j < Math.min(img.geo.l2Entries, from + n); j++) {
      const e = peekL2Entry(img, l1i, j)!;
      const guest = (l1i * img.geo.l2Entries + j) * cs;
      const key = `l2:${l2}:${j}`;
      const bitmap = img.geo.extendedL2 && (e.alloc || e.zero) ? ` a${e.alloc.toString(16)}/z${e.zero.toString(16)}` : "";
      if (j === l2i) focusRow = rows.length;
      rows.push({
        key,
        text: `L2[${j}] g ${hex(guest)} ${l2EntryWords(img, e.hi, e.lo)}${bitmap}`,
        tone: j === l2i ? "current" : e.hi || e.lo ? "normal" : "dim",
        changed: focus.touched.has(key),
        target: { kind: "l2", l1Index: l1i, l2Index: j },
      });
    }
  }
  return {
    title: `L1/L2 around guest ${hex(cluster * cs)}`,
    summary: `cluster ${cluster}: L1[${l1i}] L2[${l2i}] ${l2 ? "" : "(no L2 table)"}`,
    rows,
    focus: focusRow,
  };
}
