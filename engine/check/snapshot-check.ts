// The snapshot side of the check: qcow2_check_read_snapshot_table() (QEMU skips the table at open in check mode
// and reads it here, turning what would refuse the open into check errors), and the references snapshots make
// in calculate_refcounts(): every snapshot's L1 table with its L2 tables, then the table itself.
import { cstr, u16, u32 } from "../format/bytes.js";
import {
  MAX_SNAPSHOT_EXTRA_DATA,
  MAX_SNAPSHOTS_SIZE,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_V3_MIN_EXTRA_BYTES,
} from "../format/snapshot-table.js";
import { CheckAborted, failsToRead, hex64, type CheckContext } from "./check-context.js";
import { checkRefcountsL1 } from "./l2-walk.js";
import { fitsInt64, readU64, type OpenedForCheck, type U64 } from "./open-validation.js";
import type { TableWindow } from "./table-window.js";

const MAX_SNAPSHOTS = 65536;
const INT_MAX = 0x7fffffff;
const MAX_L1_ENTRIES = 0x2000000 / 8;

/** What the check needs of a snapshot table entry. */
export interface CheckSnapshot {
  id: string;
  name: string;
  /** Exact halves: offsets from a damaged table may exceed 2^53. */
  l1TableOffset: U64;
  l1Size: number;
  extraDataSize: number;
}

export interface SnapshotTable {
  snapshots: CheckSnapshot[];
  offset: number;
  at: U64;
  /** Bytes from the table start to the end of its last entry (s->snapshots_size). */
  size: number;
}

/**
 * Reads the snapshot table as check mode does. Failures count a check error, print QEMU's messages and abort the
 * check (CheckAborted); incomplete v3 entries are corruptions.
 */
export function readSnapshotTableForCheck(ctx: CheckContext, img: OpenedForCheck): SnapshotTable {
  const nb = img.nbSnapshots;
  const off = img.snapshotsOffset;
  const res = ctx.res;
  const report = (line: string) => ctx.emit(line, "report");

  const tooLarge = nb > Math.floor((SNAPSHOT_HEADER_BYTES * MAX_SNAPSHOTS) / SNAPSHOT_HEADER_BYTES);
  const badOffset = !tooLarge && (!fitsInt64(off, nb * SNAPSHOT_HEADER_BYTES) || (off.lo & (ctx.g.clusterSize - 1)) !== 0);
  if (nb > MAX_SNAPSHOTS && ctx.fixErrors) ctx.refuseRepair(`the image has ${nb - MAX_SNAPSHOTS} overhanging snapshots: QEMU would discard them`);
  if (tooLarge || badOffset) {
    res.checkErrors++;
    report(`ERROR snapshot table ${tooLarge ? "too large" : "offset invalid"}`);
    if (nb > MAX_SNAPSHOTS) ctx.say(`You can force-remove all ${nb - MAX_SNAPSHOTS} overhanging snapshots with qemu-img check -r all`);
    throw new CheckAborted(tooLarge ? "File too large" : "Invalid argument");
  }
  if (nb === 0) return { snapshots: [], offset: off.n, at: off, size: 0 };

  // qcow2_do_read_snapshots() without repair. The format module's decodeSnapshotTable() refuses L1 offsets from
  // 2^53 up, which QEMU accepts (and then finds past the end of the file), so the check walks the table itself.
  const fixed = new Uint8Array(SNAPSHOT_HEADER_BYTES);
  const snapshots: CheckSnapshot[] = [];
  let rel = 0;
  for (let i = 0; i < nb; i++) {
    rel = Math.ceil(rel / 8) * 8;
    if (failsToRead(off.hi, off.lo, rel + SNAPSHOT_HEADER_BYTES)) {
      res.checkErrors++;
      report("ERROR failed to read the snapshot table: Failed to read snapshot table: Input/output error");
      throw new CheckAborted("Input/output error");
    }
    ctx.storage.read(fixed, off.n + rel);
    const extra = u32(fixed, 36);
    if (extra > MAX_SNAPSHOT_EXTRA_DATA && ctx.fixErrors) ctx.refuseRepair(`snapshot table entry ${i} has too much extra metadata: QEMU would drop it`);
    if (extra > MAX_SNAPSHOT_EXTRA_DATA) {
      res.checkErrors++;
      report(`ERROR failed to read the snapshot table: Too much extra metadata in snapshot table entry ${i}`);
      ctx.say("You can force-remove this extra metadata with qemu-img check -r all");
      throw new CheckAborted("File too large");
    }
    const idLen = u16(fixed, 12);
    const nameLen = u16(fixed, 14);
    const tail = new Uint8Array(extra + idLen + nameLen); // at most 1024 + 2 * 65535 bytes
    ctx.storage.read(tail, off.n + rel + SNAPSHOT_HEADER_BYTES);
    snapshots.push({
      id: cstr(tail, extra, idLen),
      name: cstr(tail, extra + idLen, nameLen),
      l1TableOffset: readU64(fixed, 0),
      l1Size: u32(fixed, 8),
      extraDataSize: extra,
    });
    rel += SNAPSHOT_HEADER_BYTES + tail.length;
    if ((rel > MAX_SNAPSHOTS_SIZE || rel > INT_MAX) && ctx.fixErrors) ctx.refuseRepair("the snapshot table is too big: QEMU would discard the overhanging snapshots");
    if (rel > MAX_SNAPSHOTS_SIZE || rel > INT_MAX) {
      res.checkErrors++;
      report("ERROR failed to read the snapshot table: Snapshot table is too big");
      ctx.say(`You can force-remove all ${nb - i} overhanging snapshots with qemu-img check -r all`);
      throw new CheckAborted("File too large");
    }
  }
  if (img.header.version >= 3) {
    snapshots.forEach((sn, i) => {
      if (sn.extraDataSize < SNAPSHOT_V3_MIN_EXTRA_BYTES) {
        if (ctx.fixErrors) ctx.refuseRepair(`snapshot table entry ${i} is incomplete: QEMU would rewrite the snapshot table`);
        res.corruptions++;
        ctx.say(`ERROR snapshot table entry ${i} is incomplete`);
      }
    });
  }
  return { snapshots, offset: off.n, at: off, size: rel };
}

/** The snapshot part of calculate_refcounts(). */
export function countSnapshotReferences(ctx: CheckContext, win: TableWindow, table: SnapshotTable): void {
  const res = ctx.res;
  const cs = ctx.g.clusterSize;
  if (ctx.g.hasDataFile && table.snapshots.length > 0) {
    ctx.say(`ERROR ${table.snapshots.length} snapshots in image with data file`);
    res.corruptions++;
  }
  table.snapshots.forEach((sn) => {
    const l1Off = sn.l1TableOffset;
    if (l1Off.lo & (cs - 1)) {
      ctx.say(
        `ERROR snapshot ${sn.id} (${sn.name}) l1_offset=0x${hex64(l1Off.hi, l1Off.lo)}: L1 table is not cluster aligned; snapshot table entry corrupted`,
      );
      res.corruptions++;
      return;
    }
    if (sn.l1Size > MAX_L1_ENTRIES) {
      ctx.say(`ERROR snapshot ${sn.id} (${sn.name}) l1_size=0x${sn.l1Size.toString(16)}: L1 table is too large; snapshot table entry corrupted`);
      res.corruptions++;
      return;
    }
    if (sn.l1Size > 0 && failsToRead(l1Off.hi, l1Off.lo, sn.l1Size * 8)) {
      ctx.inc(l1Off.n, sn.l1Size * 8, l1Off);
      ctx.say("ERROR: I/O error in check_refcounts_l1");
      res.checkErrors++;
      throw new CheckAborted("Input/output error");
    }
    const inFile = l1Off.n < ctx.fileSize;
    if (inFile) ctx.walk(sn.l1Size); // before reading: many snapshots may share one huge table
    const l1 = new Uint8Array(inFile ? sn.l1Size * 8 : 0);
    if (l1.length > 0) ctx.storage.read(l1, l1Off.n);
    checkRefcountsL1(ctx, win, l1, l1Off, sn.l1Size, false);
  });
  ctx.inc(table.offset, table.size, table.at);
}
