// dump header: every field of the qcow2 header with its offset, feature bits named, and the geometry they imply.
import { hex, u32 } from "../../../engine/format/bytes.js";
import { exactBytes } from "../../../engine/units/size-text.js";
import { type Extensions, featureNames } from "../../../engine/format/extensions.js";
import { geometry } from "../../../engine/format/header.js";
import { type Dump, type DumpImage, extensionsOf, hex2, type Json, table2 } from "./dump-image.js";
export function dumpHeader(img: DumpImage): Dump {
  const h = img.header;
  const g = geometry(h);
  let table: Extensions["featureNames"] = [];
  const warnings: string[] = [];
  try {
    table = extensionsOf(img).featureNames;
  } catch (e) {
    warnings.push(`extensions unreadable, QEMU's feature names used: ${(e as Error).message}`);
  }
  const feat = (v: bigint, t: 0 | 1 | 2) => ({ value: hex(v), names: featureNames(v, t, table) });
  const crypt = ["none", "AES-CBC", "LUKS"][h.cryptMethod] ?? "unknown";
  type Field = { name: string; offset: number; size: number; value: Json; names?: string[]; note?: string };
  const fields: Field[] = [
    { name: "magic", offset: 0, size: 4, value: hex(u32(img.first, 0)) },
    { name: "version", offset: 4, size: 4, value: h.version },
    { name: "backing_file_offset", offset: 8, size: 8, value: h.backingFileOffset },
    { name: "backing_file_size", offset: 16, size: 4, value: h.backingFileSize },
    { name: "cluster_bits", offset: 20, size: 4, value: h.clusterBits, note: `${exactBytes(g.clusterSize)} clusters` },
    { name: "size", offset: 24, size: 8, value: h.size, note: exactBytes(h.size) },
    { name: "crypt_method", offset: 32, size: 4, value: h.cryptMethod, note: crypt },
    { name: "l1_size", offset: 36, size: 4, value: h.l1Size },
    { name: "l1_table_offset", offset: 40, size: 8, value: h.l1TableOffset },
    { name: "refcount_table_offset", offset: 48, size: 8, value: h.refcountTableOffset },
    { name: "refcount_table_clusters", offset: 56, size: 4, value: h.refcountTableClusters },
    { name: "nb_snapshots", offset: 60, size: 4, value: h.nbSnapshots },
    { name: "snapshots_offset", offset: 64, size: 8, value: h.snapshotsOffset },
  ];
  if (h.version === 3) {
    fields.push(
      { name: "incompatible_features", offset: 72, size: 8, ...feat(h.incompatibleFeatures, 0) },
      { name: "compatible_features", offset: 80, size: 8, ...feat(h.compatibleFeatures, 1) },
      { name: "autoclear_features", offset: 88, size: 8, ...feat(h.autoclearFeatures, 2) },
      { name: "refcount_order", offset: 96, size: 4, value: h.refcountOrder, note: `${g.refcountBits}-bit refcounts` },
      { name: "header_length", offset: 100, size: 4, value: h.headerLength },
    );
    if (h.headerLength > 104) fields.push({ name: "compression_type", offset: 104, size: 1, value: h.compressionType, note: h.compressionType === 1 ? "zstd" : "zlib" });
  }
  let backingFile: string | null = null;
  if (h.backingFileOffset !== 0 && h.backingFileOffset + h.backingFileSize <= img.first.length)
    backingFile = Buffer.from(img.first.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize)).toString("utf8");
  const geo = {
    cluster_size: g.clusterSize,
    extended_l2: g.extendedL2,
    l2_entry_bytes: g.l2EntryBytes,
    l2_entries: g.l2Entries,
    refcount_bits: g.refcountBits,
    refblock_entries: g.refblockEntries,
  };
  const text = [
    `${img.file}: qcow2 v${h.version} header (${h.version === 2 ? 72 : h.headerLength} bytes)`,
    ...table2(
      ["offset", "field", "value", ""],
      fields.map((f) => {
        const v = typeof f.value === "number" && /offset/.test(f.name) ? hex(f.value) : String(f.value);
        const note = f.names ? `[${f.names.join(", ")}]` : (f.note ?? "");
        return [hex2(f.offset), f.name, v, note];
      }),
    ),
    "",
    `backing file           ${backingFile ?? "(none)"}`,
    `cluster size           ${g.clusterSize}  L2 entries ${g.l2Entries} of ${g.l2EntryBytes} bytes${g.extendedL2 ? " (extended L2)" : ""}`,
    `refcount bits          ${g.refcountBits}  refcount block entries ${g.refblockEntries}`,
    ...warnings.map((w) => `warning: ${w}`),
  ];
  return { json: { file: img.file, fields: fields as unknown as Json[], backing_file: backingFile, geometry: geo, warnings }, text };
}
