// The header pane and `info header`: geometry, table locations, feature bits by name, and the engine's own
// settings (cache mode, slice size). Built from the image in memory (the engine keeps the header current).
import { featureNames } from "../../engine/format/extensions.js";
import type { ImageView } from "../../engine/image/image-view.js";
import type { PaneView, Row } from "./view-models.js";
import { hex } from "../../engine/units/size-text.js";


export function sizeWords(n: number): string {
  const u = ["B", "K", "M", "G", "T", "P"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < u.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  if (v >= 10240 && i < u.length - 1) return `${(v / 1024).toFixed(1)}${u[i + 1]}`;
  return `${v}${u[i]}`;
}

export function headerRows(img: ImageView): Row[] {
  const h = img.header;
  const names = (bits: bigint, t: 0 | 1 | 2) => featureNames(bits, t, img.ext.featureNames).join(", ") || "-";
  const r = (key: string, text: string): Row => ({ key, text });
  const rows = [
    r("geo", `v${h.version}, cluster ${sizeWords(img.clusterSize)}, virtual ${sizeWords(h.size)}, file ${sizeWords(img.file.size())}`),
    r("l1", `L1 at ${hex(h.l1TableOffset)}, ${h.l1Size} entries`),
    r("reftable", `reftable at ${hex(h.refcountTableOffset)}, ${h.refcountTableClusters} cluster${h.refcountTableClusters === 1 ? "" : "s"}; refcount ${img.geo.refcountBits} bits`),
    r("incompat", `incompatible: ${names(h.incompatibleFeatures, 0)}`),
    r("compat", `compatible: ${names(h.compatibleFeatures, 1)}; autoclear: ${names(h.autoclearFeatures, 2)}`),
    r("snapshots", `snapshots: ${h.nbSnapshots}${h.nbSnapshots ? ` at ${hex(h.snapshotsOffset)}` : ""}${img.backingName ? `; backing ${img.backingName}` : ""}`),
    r("engine", `cache=${img.config.cacheMode}, L2 slice ${sizeWords(img.sliceSize)}, lazy refcounts ${img.lazyRefcounts ? "on" : "off"}${img.dirty ? ", DIRTY" : ""}`),
  ];
  if (h.compressionType) rows.push(r("compression", `compression: ${h.compressionType === 1 ? "zstd" : h.compressionType}`));
  if (img.hasDataFile) rows.push(r("datafile", `data file: ${img.ext.dataFile}${img.dataFileRaw ? " (raw)" : ""}`));
  return rows;
}

export function headerView(img: ImageView, before: Map<string, string> | null): PaneView {
  const rows = headerRows(img);
  for (const row of rows) row.changed = before !== null && before.has(row.key) && before.get(row.key) !== row.text;
  return { title: "Header", summary: rows[0]!.text, rows };
}
