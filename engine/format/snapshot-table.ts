// The internal snapshot table: decode and encode, with the limits QEMU 7.2 enforces when it opens an image
// (qcow2_do_read_snapshots). Problems QEMU only reports from `qemu-img check` are listed by snapshotProblems().
import { type ReadAt, cstr, put16, put32, put64, u16, u32, u64, u64approx } from "./bytes.js";
import { FormatError } from "./format-error.js";
import { MAX_L1_BYTES, MAX_SNAPSHOTS, type Qcow2Header } from "./header.js";

/** Fixed part of an entry (QCowSnapshotHeader). */
export const SNAPSHOT_HEADER_BYTES = 40;
/** Known extra data: vm_state_size_large, disk_size, icount. */
export const SNAPSHOT_KNOWN_EXTRA_BYTES = 24;
/** v3 entries must carry extra data at least through disk_size. */
export const SNAPSHOT_V3_MIN_EXTRA_BYTES = 16;
export const MAX_SNAPSHOT_EXTRA_DATA = 1024;
/** QCOW_MAX_SNAPSHOTS_SIZE: 1 KiB per snapshot on average. */
export const MAX_SNAPSHOTS_SIZE = 1024 * MAX_SNAPSHOTS;

export interface Snapshot {
  index: number;
  /** File offset of the entry. */
  offset: number;
  l1TableOffset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSec: number;
  dateNsec: number;
  /** Rounded above 2^53 ns (104 days of guest run time); exact below. */
  vmClockNsec: number;
  /** The 32-bit vm_state_size field of the fixed part. */
  vmStateSize: number;
  extraDataSize: number;
  vmStateSizeLarge?: number;
  diskSize?: number;
  /** Absent when the extra data is too short or holds QEMU's "no icount" value (all ones). */
  icount?: number;
  /** The extra data exactly as stored (extraDataSize bytes), known fields included. */
  extra: Uint8Array;
  /** Bytes the entry occupies on disk, without padding (set by decode; encode recomputes it). */
  size?: number;
}

export interface SnapshotTableOptions {
  /** Throw the first of snapshotProblems() too (default: only what makes QEMU refuse to open the image). */
  strict?: boolean;
}

/**
 * Reads nb_snapshots entries from snapshots_offset. Throws FormatError for what QEMU refuses at open (too many
 * snapshots, unaligned table, more than 1 KiB of extra data in an entry, a table over 64 MiB); bytes past the end
 * of the file read as zeros, as QEMU reads them.
 */
export function decodeSnapshotTable(
  read: ReadAt,
  header: Qcow2Header,
  fileSize: number,
  file: string,
  opts: SnapshotTableOptions = {},
): Snapshot[] {
  const n = header.nbSnapshots;
  if (n === 0) return [];
  const base = header.snapshotsOffset;
  const err = (field: string, off: number, detail: string) => new FormatError("snapshot table", field, off, file, detail);
  if (n > MAX_SNAPSHOTS) throw err("nb_snapshots", 60, `${n} snapshots exceed QEMU's limit of ${MAX_SNAPSHOTS}`);
  if (base % 2 ** header.clusterBits !== 0) throw err("snapshots_offset", 64, `0x${base.toString(16)} is not cluster aligned`);
  if (base + n * SNAPSHOT_HEADER_BYTES > 2 ** 53) throw err("snapshots_offset", 64, "table ends beyond 2^53");

  const snaps: Snapshot[] = [];
  const fixed = new Uint8Array(SNAPSHOT_HEADER_BYTES);
  let rel = 0;
  for (let i = 0; i < n; i++) {
    rel = align8(rel);
    const off = base + rel;
    read(fixed, off);
    const l1TableOffset = u64(fixed, 0);
    if (Number.isNaN(l1TableOffset)) throw err("l1_table_offset", off, `entry ${i}: value >= 2^53 is out of range`);
    const idLen = u16(fixed, 12);
    const nameLen = u16(fixed, 14);
    const extraDataSize = u32(fixed, 36);
    if (extraDataSize > MAX_SNAPSHOT_EXTRA_DATA)
      throw err("extra_data_size", off + 36, `entry ${i}: ${extraDataSize} bytes of extra data exceed QEMU's limit of ${MAX_SNAPSHOT_EXTRA_DATA}`);
    const entryBytes = SNAPSHOT_HEADER_BYTES + extraDataSize + idLen + nameLen;
    if (rel + entryBytes > MAX_SNAPSHOTS_SIZE)
      throw err("nb_snapshots", off, `entry ${i} ends ${rel + entryBytes} bytes into the table, beyond QEMU's limit of 64 MiB`);
    // Bounded above: at most 1024 + 2 * 65535 bytes.
    const tail = new Uint8Array(extraDataSize + idLen + nameLen);
    read(tail, off + SNAPSHOT_HEADER_BYTES);
    const extra = tail.slice(0, extraDataSize);
    const s: Snapshot = {
      index: i,
      offset: off,
      l1TableOffset,
      l1Size: u32(fixed, 8),
      id: cstr(tail, extraDataSize, idLen),
      name: cstr(tail, extraDataSize + idLen, nameLen),
      dateSec: u32(fixed, 16),
      dateNsec: u32(fixed, 20),
      vmClockNsec: u64approx(fixed, 24),
      vmStateSize: u32(fixed, 32),
      extraDataSize,
      extra,
      size: entryBytes,
    };
    if (extraDataSize >= 8) s.vmStateSizeLarge = u64approx(extra, 0);
    if (extraDataSize >= 16) s.diskSize = u64approx(extra, 8);
    if (extraDataSize >= 24 && !(u32(extra, 16) === 0xffffffff && u32(extra, 20) === 0xffffffff)) s.icount = u64approx(extra, 16);
    snaps.push(s);
    rel += entryBytes;
  }
  if (opts.strict) {
    const problems = snapshotProblems(snaps, header, fileSize, file);
    if (problems.length > 0) throw problems[0];
  }
  return snaps;
}

/**
 * What `qemu-img check` counts as corruption in a table QEMU could open: incomplete v3 entries, unaligned or
 * oversized snapshot L1 tables; and entries or L1 tables lying past the end of the file.
 */
export function snapshotProblems(snaps: Snapshot[], header: Qcow2Header, fileSize: number, file: string): FormatError[] {
  const out: FormatError[] = [];
  const cs = 2 ** header.clusterBits;
  for (const s of snaps) {
    const who = `snapshot ${s.id} (${s.name})`;
    const err = (field: string, rel: number, detail: string) => out.push(new FormatError("snapshot table", field, s.offset + rel, file, detail));
    const end = s.offset + (s.size ?? SNAPSHOT_HEADER_BYTES + s.extraDataSize + utf8Length(s.id) + utf8Length(s.name));
    if (end > fileSize) err("nb_snapshots", 0, `entry ${s.index} runs past the end of the file (0x${fileSize.toString(16)})`);
    if (header.version >= 3 && s.extraDataSize < SNAPSHOT_V3_MIN_EXTRA_BYTES)
      err("extra_data_size", 36, `entry ${s.index} is incomplete: ${s.extraDataSize} bytes of extra data, v3 needs ${SNAPSHOT_V3_MIN_EXTRA_BYTES}`);
    if (s.l1TableOffset % cs !== 0) {
      err("l1_table_offset", 0, `${who}: L1 table offset 0x${s.l1TableOffset.toString(16)} is not cluster aligned`);
    } else if (s.l1Size * 8 > MAX_L1_BYTES) {
      err("l1_size", 8, `${who}: L1 table of ${s.l1Size} entries exceeds 32 MiB`);
    } else if (s.l1Size > 0 && s.l1TableOffset + s.l1Size * 8 > fileSize) {
      err("l1_table_offset", 0, `${who}: L1 table 0x${s.l1TableOffset.toString(16)}+${s.l1Size * 8} runs past the end of the file`);
    }
  }
  return out;
}

/**
 * Encodes entries as QEMU lays them out (each aligned to 8, no padding after the last). The extra data is `extra`
 * with the defined known fields written over it, grown to hold them.
 */
export function encodeSnapshotTable(snaps: Snapshot[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = snaps.map((s) => {
    const id = enc.encode(s.id);
    const name = enc.encode(s.name);
    if (id.length > 0xffff || name.length > 0xffff) throw new RangeError(`snapshot ${s.index}: id or name longer than 65535 bytes`);
    let extraLen = s.extra.length;
    if (s.vmStateSizeLarge !== undefined) extraLen = Math.max(extraLen, 8);
    if (s.diskSize !== undefined) extraLen = Math.max(extraLen, 16);
    if (s.icount !== undefined) extraLen = Math.max(extraLen, 24);
    const extra = new Uint8Array(extraLen);
    extra.set(s.extra);
    if (s.vmStateSizeLarge !== undefined) put64(extra, 0, s.vmStateSizeLarge);
    if (s.diskSize !== undefined) put64(extra, 8, s.diskSize);
    if (s.icount !== undefined) put64(extra, 16, s.icount);
    return { s, id, name, extra };
  });
  let size = 0;
  for (const p of parts) size = align8(size) + SNAPSHOT_HEADER_BYTES + p.extra.length + p.id.length + p.name.length;
  const out = new Uint8Array(size);
  let o = 0;
  for (const { s, id, name, extra } of parts) {
    o = align8(o);
    put64(out, o, s.l1TableOffset);
    put32(out, o + 8, s.l1Size);
    put16(out, o + 12, id.length);
    put16(out, o + 14, name.length);
    put32(out, o + 16, s.dateSec);
    put32(out, o + 20, s.dateNsec);
    put64(out, o + 24, s.vmClockNsec);
    put32(out, o + 32, s.vmStateSize);
    put32(out, o + 36, extra.length);
    o += SNAPSHOT_HEADER_BYTES;
    out.set(extra, o);
    o += extra.length;
    out.set(id, o);
    o += id.length;
    out.set(name, o);
    o += name.length;
  }
  return out;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}
