// check_refcounts_l1() and check_refcounts_l2(): count the references an L1 table makes (itself, its L2 tables,
// their data and compressed clusters), report invalid entries with QEMU's wording, and for the active table
// gather the allocated / fragmented / compressed cluster counts. Entries are read as 32-bit halves, no BigInt.
import { hex64, hexNum, type CheckContext, type RefcountArray } from "./check-context.js";
import type { U64 } from "./open-validation.js";
import type { TableWindow } from "./table-window.js";

const TWO32 = 0x100000000;

/**
 * What the active table's walk needs to spot entries whose COPIED flag may disagree with the stored refcount,
 * so that check_oflag_copied() only re-reads those L2 tables.
 */
export interface CopiedScan {
  stored: RefcountArray;
  /** Per L1 index: 1 when its L2 table must be re-walked entry by entry for OFLAG_COPIED. */
  marks: Uint8Array;
}

/** Walks one L1 table. `l1` holds its l1Size entries (zeros where the file ends). */
export function checkRefcountsL1(
  ctx: CheckContext,
  win: TableWindow,
  l1: Uint8Array,
  l1Offset: U64,
  l1Size: number,
  frag: boolean,
  copied?: CopiedScan,
): void {
  if (l1Size === 0) return;
  const cs = ctx.g.clusterSize;
  ctx.inc(l1Offset.n, l1Size * 8, hex64(l1Offset.hi, l1Offset.lo));
  if (l1Offset.n >= ctx.fileSize) return; // reads as zeros: no entries
  ctx.walk(l1Size);
  const dv = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
  const res = ctx.res;
  for (let i = 0; i < l1Size; i++) {
    const hi = dv.getUint32(i * 8);
    const lo = dv.getUint32(i * 8 + 4);
    if (hi === 0 && lo === 0) continue;
    if (hi & 0x7f000000 || lo & 0x1ff) {
      ctx.say(`ERROR found L1 entry with reserved bits set: ${hex64(hi, lo)}`);
      res.corruptions++;
    }
    const l2Hi = hi & 0x00ffffff;
    const l2Lo = (lo & 0xfffffe00) >>> 0;
    const l2Offset = l2Hi * TWO32 + l2Lo;
    ctx.inc(l2Offset, cs, hex64(l2Hi, l2Lo));
    if (l2Lo & (cs - 1)) {
      ctx.say(`ERROR l2_offset=${hex64(l2Hi, l2Lo)}: Table is not cluster aligned; L1 entry corrupted`);
      res.corruptions++;
    }
    if (l2Offset >= ctx.fileSize) continue; // an L2 table past the end reads as zeros
    let base = win.find(l2Offset);
    if (base < 0) base = win.load(l2Offset, contiguousRun(dv, i, l1Size, l2Offset, cs, win.capacity));
    ctx.walk(ctx.g.l2Entries);
    if (checkRefcountsL2(ctx, win.dv, base, frag, copied?.stored) && copied) copied.marks[i] = 1;
  }
}

/** How many L1 entries from i on point to back-to-back tables starting at `first` (at most `max`). */
export function contiguousRun(dv: DataView, i: number, l1Size: number, first: number, cs: number, max: number): number {
  let n = 1;
  while (n < max && i + n < l1Size) {
    const hi = dv.getUint32((i + n) * 8) & 0x00ffffff;
    const lo = (dv.getUint32((i + n) * 8 + 4) & 0xfffffe00) >>> 0;
    if (hi * TWO32 + lo !== first + n * cs) break;
    n++;
  }
  return n;
}

/**
 * Walks one L2 table held at dv[base ..]. The loop keeps every value a small integer (entry halves as int32,
 * host offsets in 512-byte units, cluster indexes), so V8 never boxes a number on the common path. With `stored`
 * it also tells whether an allocated entry's COPIED flag may disagree with its stored refcount.
 */
export function checkRefcountsL2(ctx: CheckContext, dv: DataView, base: number, frag: boolean, stored?: RefcountArray): boolean {
  const g = ctx.g;
  const cs = g.clusterSize;
  const n = g.l2Entries;
  const stride = g.l2EntryBytes;
  const ext = g.extendedL2;
  const dataFile = g.hasDataFile;
  const refs = ctx.refs;
  const max = g.refcountMax;
  const res = ctx.res;
  /** 512-byte units per cluster, and its log2. */
  const spc = cs >> 9;
  const spcShift = g.clusterBits - 9;
  const spcMask = spc - 1;
  /** First 512-byte unit at or past the end of the file: data there counts as beyond the end. */
  const endSector = Math.ceil(ctx.fileSize / 512);
  const nb = ctx.nbClusters;
  // Compressed descriptor layout: offset in bits 0..x-1, additional sectors in bits x..61.
  const csizeShift = 62 - (g.clusterBits - 8);
  const hiOffBits = csizeShift - 32;
  const hiOffMask = 2 ** hiOffBits - 1;
  const csizeMask = 2 ** (g.clusterBits - 8) - 1;
  const scan = stored !== undefined;
  const storedLen = scan ? stored.length : 0;
  let suspect = false;
  let nextSector = -1;
  let allocated = 0;
  let fragmented = 0;
  let compressed = 0;
  for (let j = 0; j < n; j++) {
    const o = base + j * stride;
    let hi = dv.getInt32(o);
    const lo = dv.getInt32(o + 4);
    let zeroBits = 0;
    let allocBits = 0;
    if (ext) {
      zeroBits = dv.getInt32(o + 8);
      allocBits = dv.getInt32(o + 12);
    }
    if ((hi | lo | zeroBits | allocBits) === 0) continue;

    if (hi & 0x40000000) {
      const cHi = hi & hiOffMask;
      if (hi & 0x80000000) {
        ctx.say(`ERROR: coffset=0x${hex64(cHi, lo)}: copied flag must never be set for compressed clusters`);
        hi &= 0x7fffffff;
        res.corruptions++;
      }
      if (dataFile) {
        ctx.say(`ERROR compressed cluster ${j} with data file, entry=0x${hex64(hi, lo)}`);
        res.corruptions++;
        continue;
      }
      if ((zeroBits | allocBits) !== 0) {
        ctx.say(`ERROR compressed cluster ${j} with non-zero subcluster allocation bitmap, entry=0x${hex64(hi, lo)}`);
        res.corruptions++;
        continue;
      }
      const coffset = cHi * TWO32 + (lo >>> 0);
      const sectors = ((hi >>> hiOffBits) & csizeMask) + 1;
      ctx.inc(coffset, sectors * 512 - (lo & 511), hex64(cHi, lo));
      if (frag) {
        allocated++;
        compressed++;
        fragmented++; // compressed clusters are fragmented by nature
      }
      continue;
    }

    if ((hi & 0x3f000000) !== 0 || (lo & 0x1fe) !== 0) {
      ctx.say(`ERROR found l2 entry with reserved bits set: ${hex64(hi, lo)}`);
      res.corruptions++;
    }
    const offHi = hi & 0x00ffffff;
    const offLo9 = (lo >>> 9) & 0x7fffff;
    const hasOffset = (offHi | offLo9) !== 0;
    const zeroFlag = !ext && (lo & 1) !== 0;
    if (zeroFlag ? !hasOffset : !hasOffset && !(dataFile && hi & 0x80000000)) {
      // ZERO_PLAIN or UNALLOCATED
      if (!zeroFlag && allocBits !== 0) {
        ctx.say("ERROR: Unallocated cluster has non-zero subcluster allocation map");
        res.corruptions++;
      }
      continue;
    }

    // NORMAL or ZERO_ALLOC; the host offset in 512-byte units:
    const sector = offHi * 0x800000 + offLo9;
    if ((zeroBits & allocBits) !== 0) {
      res.corruptions++;
      ctx.say(`ERROR offset=${hex64(offHi, lo & 0xfffffe00)}: Allocated cluster has corrupted subcluster allocation bitmap`);
    }
    const unaligned = (offLo9 & spcMask) !== 0;
    if (unaligned) {
      res.corruptions++;
      const containsData = ext ? allocBits !== 0 : !zeroFlag;
      ctx.say(
        containsData
          ? `ERROR offset=${hex64(offHi, lo & 0xfffffe00)}: Data cluster is not properly aligned; L2 entry corrupted.`
          : `ERROR offset=${hex64(offHi, lo & 0xfffffe00)}: Preallocated cluster is not properly aligned; L2 entry corrupted.`,
      );
    }
    if (frag) {
      allocated++;
      if (nextSector > 0 && sector !== nextSector) fragmented++;
      nextSector = sector + spc;
    }
    if (dataFile) {
      if (hi >= 0) suspect = true; // data file clusters count as refcount 1: COPIED must be set
      continue;
    }
    if (sector >= endSector) {
      ctx.say(
        `ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x${hex64(offHi, lo & 0xfffffe00)} size 0x${hexNum(cs)}`,
      );
      res.corruptions++;
      suspect = true;
      continue;
    }
    // Inline qcow2_inc_refcounts_imrt() for the common aligned case (sector < endSector, so k < nb).
    const k = sector < 0x80000000 ? sector >>> spcShift : Math.floor(sector / spc);
    const v = refs[k]!;
    if (unaligned || v === max || k >= nb) ctx.inc(sector * 512, cs);
    else refs[k] = v + 1;
    // COPIED (the sign bit) must be set exactly when the stored refcount is 1.
    if (scan && (unaligned || k >= storedLen || (stored[k] === 1) !== hi < 0)) suspect = true;
  }
  res.allocatedClusters += allocated;
  res.fragmentedClusters += fragmented;
  res.compressedClusters += compressed;
  return suspect;
}
