// dump snapshots: the internal snapshot table, entry by entry, and what qemu-img check would object to.
import { hex } from "../../../engine/format/bytes.js";
import { decodeSnapshotTable, snapshotProblems } from "../../../engine/format/snapshot-table.js";
import { clockText, type Dump, type DumpImage, table2 } from "./dump-image.js";
export function dumpSnapshots(img: DumpImage): Dump {
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
