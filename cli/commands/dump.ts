// `qcowdbg dump IMG header|extensions|l1|l2 INDEX|refcounts|snapshots|bitmaps`: the raw on-disk structures,
// decoded, each with its file offset (like QEMU's iotests qcow2.py dump-header). The image is opened read-only
// and only the header, the first cluster and the table asked for are read.
import type { Command } from "commander";
import { type ReadAt, cstr, hex, u32 } from "../../engine/format/bytes.js";
import {
  BitmapTableKind,
  bitmapEntryProblems,
  bitmapFlagNames,
  bitmapTableSizeFor,
  bitmapsConsistent,
  checkBitmapsExtension,
  decodeBitmapDirectory,
  decodeBitmapTable,
} from "../../engine/format/bitmaps.js";
import {
  EXT_BACKING_FORMAT,
  EXT_BITMAPS,
  EXT_CRYPTO,
  EXT_DATA_FILE,
  EXT_FEATURE_TABLE,
  EXTENSION_NAMES,
  type Extensions,
  decodeExtensions,
  featureNames,
} from "../../engine/format/extensions.js";
import { FormatError } from "../../engine/format/format-error.js";
import { type Qcow2Header, decodeHeader, geometry, hasIncompat, INCOMPAT_DATA_FILE } from "../../engine/format/header.js";
import {
  ClusterKind,
  COMPRESSED_HI,
  compressedDescriptor,
  entryOffset,
  isCopied,
  l2Kind,
  L2_RESERVED_HI,
  L2_RESERVED_LO,
} from "../../engine/format/l2-entry.js";
import { checkCryptoExtension, decodeLuksHeader, luksInfo, LUKS_SLOT_ENABLED } from "../../engine/format/luks.js";
import {
  l1HasReservedBits,
  readL1Table,
  readRawTable,
  readRefcountTable,
  reftableEntryOffset,
  reftableHasReservedBits,
  refcountRuns,
} from "../../engine/format/refcount-table.js";
import { decodeSnapshotTable, snapshotProblems } from "../../engine/format/snapshot-table.js";
import { FileStorage } from "../../engine/storage/file-storage.js";
import { ExitError, guarded } from "../fail.js";

const TARGETS = ["header", "extensions", "l1", "l2", "refcounts", "snapshots", "bitmaps"] as const;
type Target = (typeof TARGETS)[number];

type Json = number | string | boolean | null | Json[] | { [k: string]: Json };
/** A dump: the JSON view, and the same facts as aligned text. */
interface Dump {
  json: { [k: string]: Json };
  text: string[];
}

interface Image {
  file: string;
  read: ReadAt;
  size: number;
  first: Uint8Array;
  header: Qcow2Header;
}

export function register(program: Command): void {
  program
    .command("dump")
    .description("show the raw on-disk structures of a qcow2 image, decoded, with their file offsets")
    .argument("<image>", "qcow2 image (opened read-only)")
    .argument("<what>", TARGETS.join("|"))
    .argument("[index]", "for l2: the L1 index whose L2 table to show")
    .option("--output <format>", "text or json", "text")
    .action(
      guarded((image: string, what: string, index: string | undefined, opts: { output: string }) => {
        if (!(TARGETS as readonly string[]).includes(what)) throw new ExitError(`dump: unknown structure '${what}' (want ${TARGETS.join("|")})`, 1);
        if (opts.output !== "text" && opts.output !== "json") throw new ExitError(`dump: --output must be text or json, not '${opts.output}'`, 1);
        if (what === "l2" && index === undefined) throw new ExitError("dump l2: give the L1 index of the table (dump IMG l2 INDEX)", 1);
        if (what !== "l2" && index !== undefined) throw new ExitError(`dump ${what}: unexpected argument '${index}'`, 1);
        const storage = new FileStorage(image);
        try {
          const d = dump(openImage(storage), what as Target, index);
          process.stdout.write(opts.output === "json" ? JSON.stringify(d.json, null, 2) + "\n" : d.text.join("\n") + "\n");
        } finally {
          storage.close();
        }
      }),
    );
}

function openImage(storage: FileStorage): Image {
  const file = storage.name;
  const size = storage.size();
  const read: ReadAt = (buf, off) => storage.read(buf, off);
  // The cluster size is needed to know how much of cluster 0 to read; decodeHeader validates it.
  const probe = new Uint8Array(Math.min(512, size));
  read(probe, 0);
  const bits = probe.length >= 24 ? u32(probe, 20) : 0;
  let first = probe;
  if (bits >= 9 && bits <= 21) {
    first = new Uint8Array(Math.min(2 ** bits, size));
    read(first, 0);
  }
  return { file, read, size, first, header: decodeHeader(first, file) };
}

function dump(img: Image, what: Target, index: string | undefined): Dump {
  switch (what) {
    case "header":
      return dumpHeader(img);
    case "extensions":
      return dumpExtensions(img);
    case "l1":
      return dumpL1(img);
    case "l2":
      return dumpL2(img, parseIndex(index!));
    case "refcounts":
      return dumpRefcounts(img);
    case "snapshots":
      return dumpSnapshots(img);
    case "bitmaps":
      return dumpBitmaps(img);
  }
}

function parseIndex(s: string): number {
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) throw new ExitError(`dump l2: '${s}' is not an L1 index`, 1);
  return n;
}

function extensionsOf(img: Image): Extensions {
  const h = img.header;
  const end = h.backingFileOffset !== 0 ? h.backingFileOffset : 2 ** h.clusterBits;
  return decodeExtensions(img.first, h.headerLength, end, img.file);
}

// ---- header ----

function dumpHeader(img: Image): Dump {
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
    { name: "cluster_bits", offset: 20, size: 4, value: h.clusterBits, note: `${sizeText(g.clusterSize)} clusters` },
    { name: "size", offset: 24, size: 8, value: h.size, note: sizeText(h.size) },
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

// ---- extensions ----

function dumpExtensions(img: Image): Dump {
  const h = img.header;
  const ext = extensionsOf(img);
  const warnings: string[] = [];
  const list: Json[] = [];
  const text: string[] = [`${img.file}: header extensions from 0x${h.headerLength.toString(16)}`];
  const typeNames = ["incompatible", "compatible", "autoclear"];
  for (const [i, e] of ext.list.entries()) {
    const name = EXTENSION_NAMES[e.type] ?? "unknown";
    const item: { [k: string]: Json } = { index: i, offset: e.offset, type: "0x" + e.type.toString(16).padStart(8, "0"), name, length: e.length };
    const lines: string[] = [];
    switch (e.type) {
      case EXT_BACKING_FORMAT:
        item.data = { format: ext.backingFormat ?? "" };
        lines.push(`format "${ext.backingFormat}"`);
        break;
      case EXT_DATA_FILE:
        item.data = { name: ext.dataFile ?? "" };
        lines.push(`data file "${ext.dataFile}"`);
        break;
      case EXT_FEATURE_TABLE: {
        const rows = [];
        for (let j = 0; j + 48 <= e.length; j += 48)
          rows.push({ offset: e.offset + 8 + j, type: typeNames[e.data[j]!] ?? `type ${e.data[j]}`, bit: e.data[j + 1]!, name: cstr(e.data, j + 2, 46) });
        item.data = { features: rows };
        lines.push(...table2(["offset", "type", "bit", "name"], rows.map((r) => [hex(r.offset), r.type, String(r.bit), r.name])));
        break;
      }
      case EXT_BITMAPS: {
        const b = ext.bitmaps!;
        item.data = { nb_bitmaps: b.nbBitmaps, reserved: u32(e.data, 4), directory_size: b.directorySize, directory_offset: b.directoryOffset };
        lines.push(`nb_bitmaps ${b.nbBitmaps}  directory at ${hex(b.directoryOffset)} (${b.directorySize} bytes)`);
        break;
      }
      case EXT_CRYPTO: {
        const c = ext.crypto!;
        const data: { [k: string]: Json } = { offset: c.offset, length: c.length };
        lines.push(`LUKS header at ${hex(c.offset)}, ${c.length} bytes`);
        try {
          const crypto = checkCryptoExtension(ext, h, img.file);
          if (crypto) {
            const l = decodeLuksHeader(img.read, crypto, img.file);
            const info = luksInfo(l, img.file);
            data.luks = {
              version: l.version,
              cipher_name: l.cipherName,
              cipher_mode: l.cipherMode,
              hash_spec: l.hashSpec,
              payload_offset: l.payloadOffsetSector * 512,
              key_bytes: l.keyBytes,
              master_key_iterations: l.masterKeyIterations,
              uuid: l.uuid,
              slots: l.slots.map((s) => ({
                index: s.index,
                offset: s.offset,
                active: hex(s.active),
                iterations: s.iterations,
                key_material_offset: s.keyMaterialSector * 512,
                stripes: s.stripes,
              })),
              info: info as unknown as Json,
            };
            lines.push(
              `  cipher ${l.cipherName} ${l.cipherMode} (${info["cipher-alg"]}), hash ${l.hashSpec}, key ${l.keyBytes} bytes, master key iterations ${l.masterKeyIterations}`,
              `  uuid ${l.uuid}, payload offset ${l.payloadOffsetSector * 512}`,
              ...table2(
                ["  slot", "offset", "state", "iterations", "key material", "stripes"],
                l.slots.map((s) => [
                  `  ${s.index}`,
                  hex(s.offset),
                  s.active === LUKS_SLOT_ENABLED ? "active" : "disabled",
                  String(s.iterations),
                  hex(s.keyMaterialSector * 512),
                  String(s.stripes),
                ]),
              ),
            );
          }
        } catch (err) {
          if (!(err instanceof FormatError)) throw err;
          warnings.push(err.message);
        }
        item.data = data;
        break;
      }
      default:
        item.data = { hex: Buffer.from(e.data.subarray(0, 256)).toString("hex") };
        lines.push(`data ${Buffer.from(e.data.subarray(0, 32)).toString("hex")}${e.length > 32 ? "..." : ""}`);
    }
    list.push(item);
    text.push(`${hex(e.offset).padEnd(8)} ${item.type} ${name}, ${e.length} bytes`, ...lines.map((l) => `    ${l}`));
  }
  if (ext.list.length === 0) text.push("(no extensions)");
  for (const w of warnings) text.push(`warning: ${w}`);
  return { json: { file: img.file, start: h.headerLength, extensions: list, warnings }, text };
}

// ---- L1 ----

function dumpL1(img: Image): Dump {
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
    `${img.file}: L1 table at ${hex(h.l1TableOffset)}, ${h.l1Size} entries (each maps ${sizeText(perL2)}); ${rows.length} non-zero`,
    ...table2(
      ["index", "offset", "raw", "L2 offset", "COPIED", "guest offset", ""],
      rows.map((r) => [String(r.index), hex(r.offset as number), r.raw as string, hex(r.l2_offset as number), r.copied ? "yes" : "no", hex(r.guest_offset as number), (r.flags as string[]).join(", ")]),
    ),
  ];
  return { json: { file: img.file, offset: h.l1TableOffset, entries: h.l1Size, guest_bytes_per_entry: perL2, non_zero: rows }, text };
}

// ---- L2 ----

function dumpL2(img: Image, l1Index: number): Dump {
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
  return { json: { ...head, l1_copied: isCopied(l1hi), entries: rows }, text };
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

// ---- refcounts ----

function dumpRefcounts(img: Image): Dump {
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

// ---- snapshots ----

function dumpSnapshots(img: Image): Dump {
  const h = img.header;
  const snaps = decodeSnapshotTable(img.read, h, img.size, img.file);
  const problems = snapshotProblems(snaps, h, img.size, img.file).map((p) => p.message);
  const rows = snaps.map((s) => ({
    index: s.index,
    offset: s.offset,
    id: s.id,
    name: s.name,
    l1_table_offset: s.l1TableOffset,
    l1_size: s.l1Size,
    date_sec: s.dateSec,
    date_nsec: s.dateNsec,
    vm_clock_nsec: s.vmClockNsec,
    vm_state_size: s.vmStateSize,
    extra_data_size: s.extraDataSize,
    vm_state_size_large: s.vmStateSizeLarge ?? null,
    disk_size: s.diskSize ?? null,
    icount: s.icount ?? null,
    unknown_extra: Buffer.from(s.extra.subarray(Math.min(24, s.extra.length))).toString("hex"),
  }));
  const text = [
    `${img.file}: snapshot table at ${hex(h.snapshotsOffset)}, ${h.nbSnapshots} entries`,
    ...table2(
      ["index", "offset", "id", "name", "L1 offset", "L1 size", "date", "vm clock", "vm state", "disk size", "extra", "icount"],
      rows.map((r) => [
        String(r.index),
        hex(r.offset),
        r.id,
        r.name,
        hex(r.l1_table_offset),
        String(r.l1_size),
        new Date(r.date_sec * 1000).toISOString().replace(".000Z", "Z"),
        clockText(r.vm_clock_nsec),
        String(r.vm_state_size_large ?? r.vm_state_size),
        r.disk_size === null ? "-" : String(r.disk_size),
        String(r.extra_data_size),
        r.icount === null ? "-" : String(r.icount),
      ]),
    ),
    ...problems.map((p) => `warning: ${p}`),
  ];
  return { json: { file: img.file, offset: h.snapshotsOffset, nb_snapshots: h.nbSnapshots, snapshots: rows, problems }, text };
}

// ---- bitmaps ----

function dumpBitmaps(img: Image): Dump {
  const h = img.header;
  const g = geometry(h);
  const ext = extensionsOf(img);
  const consistent = bitmapsConsistent(h);
  const head = { file: img.file, autoclear_bitmaps: consistent };
  if (!ext.bitmaps) return { json: { ...head, extension: null, bitmaps: [] }, text: [`${img.file}: no bitmaps extension`] };
  const b = checkBitmapsExtension(ext, h, img.file) ?? ext.bitmaps;
  const text = [
    `${img.file}: ${b.nbBitmaps} bitmaps, directory at ${hex(b.directoryOffset)} (${b.directorySize} bytes)`,
  ];
  if (!consistent) text.push("warning: the autoclear bitmaps bit is clear: QEMU ignores these bitmaps (a program without bitmap support wrote the image)");
  const dir = decodeBitmapDirectory(img.read, h, b, img.file, { lenient: true });
  const bitmaps: Json[] = [];
  for (const e of dir) {
    const problems = bitmapEntryProblems(e, h, img.file).map((p) => p.message);
    const item: { [k: string]: Json } = {
      index: e.index,
      offset: e.offset,
      name: e.name,
      flags: hex(e.flags),
      flag_names: bitmapFlagNames(e.flags),
      type: e.type,
      granularity_bits: e.granularityBits,
      granularity: 2 ** e.granularityBits,
      table_offset: e.tableOffset,
      table_size: e.tableSize,
      expected_table_size: bitmapTableSizeFor(h.size, e.granularityBits, g.clusterSize),
      extra_data_size: e.extra.length,
    };
    text.push(
      "",
      `bitmap ${e.index} '${e.name}' (entry at ${hex(e.offset)}): flags ${hex(e.flags)} [${bitmapFlagNames(e.flags).join(", ")}], type ${e.type}, granularity ${2 ** e.granularityBits} (bits ${e.granularityBits})`,
      `  table at ${hex(e.tableOffset)}, ${e.tableSize} entries (virtual size needs ${item.expected_table_size}); extra data ${e.extra.length} bytes`,
    );
    const covered = g.clusterSize * 8 * 2 ** e.granularityBits;
    let entries: Json[] = [];
    if (problems.length === 0) {
      try {
        const t = decodeBitmapTable(img.read, e, h, img.file);
        const shown = t.filter((x) => x.kind !== BitmapTableKind.AllZeros);
        entries = shown.map((x) => ({
          index: x.index,
          offset: e.tableOffset + x.index * 8,
          raw: raw64(x.hi, x.lo),
          kind: x.kind === BitmapTableKind.Data ? "data" : "all-ones",
          data_offset: x.kind === BitmapTableKind.Data ? x.dataOffset : null,
          guest_offset: x.index * covered,
        }));
        text.push(
          `  ${t.length - shown.length} all-zeros entries not shown; each entry covers ${sizeText(covered)} of guest disk`,
          ...table2(
            ["  index", "offset", "raw", "kind", "data offset", "guest offset"],
            (entries as { [k: string]: Json }[]).map((x) => [
              `  ${x.index}`,
              hex(x.offset as number),
              x.raw as string,
              x.kind as string,
              x.data_offset === null ? "-" : hex(x.data_offset as number),
              hex(x.guest_offset as number),
            ]),
          ),
        );
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        problems.push(err.message);
      }
    }
    item.table = entries;
    item.problems = problems;
    text.push(...problems.map((p) => `  warning: ${p}`));
    bitmaps.push(item);
  }
  return {
    json: { ...head, extension: { nb_bitmaps: b.nbBitmaps, directory_offset: b.directoryOffset, directory_size: b.directorySize }, bitmaps },
    text,
  };
}

// ---- text helpers ----

/** Left-aligned columns, two spaces apart; trailing blanks trimmed. */
function table2(headers: string[], rows: string[][]): string[] {
  if (rows.length === 0) return [];
  const all = [headers, ...rows];
  const widths = headers.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ").trimEnd());
}

function raw64(hi: number, lo: number): string {
  return "0x" + (hi >>> 0).toString(16).padStart(8, "0") + (lo >>> 0).toString(16).padStart(8, "0");
}

function hex2(n: number): string {
  return "0x" + n.toString(16).padStart(2, "0");
}

function sizeText(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let u = 0;
  let v = n;
  while (v >= 1024 && v % 1024 === 0 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v} ${units[u]}`;
}

function clockText(ns: number): string {
  const s = Math.floor(ns / 1e9);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const ms = Math.floor((ns % 1e9) / 1e6);
  return `${String(hh).padStart(2, "0")}:${String(mm).padStart(2, "0")}:${String(ss).padStart(2, "0")}.${String(ms).padStart(3, "0")}`;
}
