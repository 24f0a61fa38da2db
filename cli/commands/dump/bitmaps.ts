// dump bitmaps: the bitmaps extension, the bitmap directory and each bitmap's table.
import { hex } from "../../../engine/format/bytes.js";
import { exactBytes } from "../../../engine/units/size-text.js";
import {
  BitmapTableKind,
  bitmapEntryProblems,
  bitmapFlagNames,
  bitmapTableSizeFor,
  bitmapsConsistent,
  checkBitmapsExtension,
  decodeBitmapDirectory,
  decodeBitmapTable,
} from "../../../engine/format/bitmaps.js";
import { FormatError } from "../../../engine/format/format-error.js";
import { geometry } from "../../../engine/format/header.js";
import { type Dump, type DumpImage, extensionsOf, type Json, raw64, table2 } from "./dump-image.js";
export function dumpBitmaps(img: DumpImage): Dump {
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
          `  ${t.length - shown.length} all-zeros entries not shown; each entry covers ${exactBytes(covered)} of guest disk`,
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
