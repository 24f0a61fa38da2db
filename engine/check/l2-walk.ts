// check_refcounts_l1() and check_refcounts_l2(): count the references an L1 table makes (itself, its L2 tables,
// their data and compressed clusters), report invalid entries with QEMU's wording, and for the active table
// gather the allocated / fragmented / compressed cluster counts. Entries are read as 32-bit halves, no BigInt.
import { hex64, type CheckContext, type RefcountArray } from "./check-context.js";
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

/**
 * Walks one L1 table. `l1` holds its l1Size entries (zeros where the file ends); the caller has counted them
 * against the walk budget before reading them.
 */
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
  ctx.inc(l1Offset.n, l1Size * 8, l1Offset);
  if (l1Offset.n >= ctx.fileSize) return; // reads as zeros: no entries
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
    ctx.inc(l2Offset, cs, { hi: l2Hi, lo: l2Lo });
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

/** The per-table state the fast loop shares with the per-entry slow path. */
interface L2WalkState {
  frag: boolean;
  stored: RefcountArray | undefined;
  /** Host offset (in 512-byte units) that would continue the previous allocated cluster; -1 before the first. */
  nextSector: number;
  allocated: number;
  fragmented: number;
  compressed: number;
  suspect: boolean;
}

/**
 * Walks one L2 table held at dv[base ..]. The loop handles the common entry (an aligned standard cluster inside
 * the file) with small integers only (entry halves as int32, host offsets in 512-byte units, cluster indexes), so
 * V8 keeps it tight; every other entry goes through entrySlow(), which is check_refcounts_l2() for one entry.
 * With `stored` it also tells whether an allocated entry's COPIED flag may disagree with its stored refcount.
 */
export function checkRefcountsL2(ctx: CheckContext, dv: DataView, base: number, frag: boolean, stored?: RefcountArray): boolean {
  const st: L2WalkState = { frag, stored, nextSector: -1, allocated: 0, fragmented: 0, compressed: 0, suspect: false };
  // Data in an external file counts no references here, so with one every entry takes the general loop.
  const suspect =
    !ctx.g.extendedL2 && !ctx.g.hasDataFile ? walkStandardL2(ctx, st, dv, base, frag, stored) : walkGeneralL2(ctx, st, dv, base, frag, stored);
  const res = ctx.res;
  res.allocatedClusters += st.allocated;
  res.fragmentedClusters += st.fragmented;
  res.compressedClusters += st.compressed;
  return suspect;
}

/**
 * The loop for extended L2 entries or an external data file: the fast case also checks the bitmap word. Its set-up
 * repeats walkStandardL2's on purpose (`duplicates` pairs them): two specialised hot loops, so that the common
 * image's loop (walkStandardL2) carries no bitmap or data-file test per entry.
 */
function walkGeneralL2(ctx: CheckContext, st: L2WalkState, dv: DataView, base: number, frag: boolean, stored: RefcountArray | undefined): boolean {
  const g = ctx.g;
  const n = g.l2Entries;
  const stride = g.l2EntryBytes;
  const ext = g.extendedL2;
  const refs = ctx.refs;
  const max = g.refcountMax;
  const spc = g.clusterSize >> 9;
  const spcShift = g.clusterBits - 9;
  const spcMask = spc - 1;
  const endSector = Math.ceil(ctx.fileSize / 512);
  const fastOk = !g.hasDataFile;
  const scan = stored !== undefined;
  const storedArr = stored ?? refs;
  let nextSector = -1;
  let allocated = 0;
  let fragmented = 0;
  let suspect = false;
  for (let j = 0; j < n; j++) {
    const o = base + j * stride;
    const hi = dv.getInt32(o);
    const lo = dv.getInt32(o + 4);
    const zeroBits = ext ? dv.getInt32(o + 8) : 0;
    const allocBits = ext ? dv.getInt32(o + 12) : 0;
    // Not compressed, no reserved bits, no zero flag, an offset, and (extended L2) a sane bitmap.
    if (fastOk && (hi & 0x7f000000) === 0 && (lo & 0x1ff) === 0 && (zeroBits & allocBits) === 0) {
      const sector = (hi & 0x00ffffff) * 0x800000 + (lo >>> 9);
      if (sector !== 0 && (sector & spcMask) === 0 && sector < endSector) {
        const k = sector < 0x80000000 ? sector >>> spcShift : Math.floor(sector / spc);
        const v = refs[k]!;
        if (v !== max) {
          refs[k] = v + 1;
          if (frag) {
            allocated++;
            if (nextSector > 0 && sector !== nextSector) fragmented++;
            nextSector = sector + spc;
          }
          if (scan && (k >= storedArr.length || (storedArr[k] === 1) !== hi < 0)) suspect = true;
          continue;
        }
      }
    }
    if ((hi | lo | zeroBits | allocBits) === 0) continue;
    st.nextSector = nextSector;
    st.allocated = st.fragmented = 0;
    st.suspect = false;
    entrySlow(ctx, st, j, hi, lo, zeroBits, allocBits);
    nextSector = st.nextSector;
    allocated += st.allocated;
    fragmented += st.fragmented;
    if (st.suspect) suspect = true;
  }
  st.allocated = allocated;
  st.fragmented = fragmented;
  return suspect;
}

/** The loop of checkRefcountsL2() for standard entries and no external data file (the common image). */
function walkStandardL2(ctx: CheckContext, st: L2WalkState, dv: DataView, base: number, frag: boolean, stored: RefcountArray | undefined): boolean {
  const g = ctx.g;
  const n = g.l2Entries;
  const refs = ctx.refs;
  const max = g.refcountMax;
  const spc = g.clusterSize >> 9;
  const spcShift = g.clusterBits - 9;
  const spcMask = spc - 1;
  const endSector = Math.ceil(ctx.fileSize / 512);
  const scan = stored !== undefined;
  const storedArr = stored ?? refs;
  const storedLen = storedArr.length;
  let nextSector = -1;
  let allocated = 0;
  let fragmented = 0;
  let suspect = false;
  const end = base + n * 8;
  for (let o = base; o < end; o += 8) {
    const hi = dv.getInt32(o);
    const lo = dv.getInt32(o + 4);
    if ((hi & 0x7f000000) === 0 && (lo & 0x1ff) === 0) {
      const sector = (hi & 0x00ffffff) * 0x800000 + (lo >>> 9);
      if (sector !== 0 && (sector & spcMask) === 0 && sector < endSector) {
        const k = sector < 0x80000000 ? sector >>> spcShift : Math.floor(sector / spc);
        const v = refs[k]!;
        if (v !== max) {
          refs[k] = v + 1;
          if (frag) {
            allocated++;
            if (nextSector > 0 && sector !== nextSector) fragmented++;
            nextSector = sector + spc;
          }
          // COPIED (the sign bit) must be set exactly when the stored refcount is 1.
          if (scan && (k >= storedLen || (storedArr[k] === 1) !== hi < 0)) suspect = true;
          continue;
        }
      }
    }
    if ((hi | lo) === 0) continue;
    st.nextSector = nextSector;
    st.allocated = st.fragmented = 0;
    st.suspect = false;
    entrySlow(ctx, st, (o - base) / 8, hi, lo, 0, 0);
    nextSector = st.nextSector;
    allocated += st.allocated;
    fragmented += st.fragmented;
    if (st.suspect) suspect = true;
  }
  st.allocated = allocated;
  st.fragmented = fragmented;
  return suspect;
}

/** check_refcounts_l2() for one entry that is not the common case. */
function entrySlow(ctx: CheckContext, st: L2WalkState, j: number, hi: number, lo: number, zeroBits: number, allocBits: number): void {
  const g = ctx.g;
  const cs = g.clusterSize;
  const ext = g.extendedL2;
  const dataFile = g.hasDataFile;
  const res = ctx.res;
  const spc = cs >> 9;

  if (hi & 0x40000000) {
    // Compressed: offset in bits 0..x-1, additional 512-byte sectors in bits x..61.
    const hiOffBits = 62 - (g.clusterBits - 8) - 32;
    const cHi = hi & (2 ** hiOffBits - 1);
    if (hi & 0x80000000) {
      ctx.say(`ERROR: coffset=0x${hex64(cHi, lo)}: copied flag must never be set for compressed clusters`);
      hi &= 0x7fffffff;
      res.corruptions++;
    }
    if (dataFile) {
      ctx.say(`ERROR compressed cluster ${j} with data file, entry=0x${hex64(hi, lo)}`);
      res.corruptions++;
      return;
    }
    if ((zeroBits | allocBits) !== 0) {
      ctx.say(`ERROR compressed cluster ${j} with non-zero subcluster allocation bitmap, entry=0x${hex64(hi, lo)}`);
      res.corruptions++;
      return;
    }
    const sectors = ((hi >>> hiOffBits) & (2 ** (g.clusterBits - 8) - 1)) + 1;
    ctx.inc(cHi * TWO32 + (lo >>> 0), sectors * 512 - (lo & 511), { hi: cHi, lo });
    if (st.frag) {
      st.allocated++;
      st.compressed++;
      st.fragmented++; // compressed clusters are fragmented by nature
    }
    return;
  }

  if ((hi & 0x3f000000) !== 0 || (lo & 0x1fe) !== 0) {
    ctx.say(`ERROR found l2 entry with reserved bits set: ${hex64(hi, lo)}`);
    res.corruptions++;
  }
  const offHi = hi & 0x00ffffff;
  const offLo = lo & 0xfffffe00;
  const hasOffset = (offHi | offLo) !== 0;
  const zeroFlag = !ext && (lo & 1) !== 0;
  if (zeroFlag ? !hasOffset : !hasOffset && !(dataFile && hi & 0x80000000)) {
    // ZERO_PLAIN or UNALLOCATED
    if (!zeroFlag && allocBits !== 0) {
      ctx.say("ERROR: Unallocated cluster has non-zero subcluster allocation map");
      res.corruptions++;
    }
    return;
  }

  // NORMAL or ZERO_ALLOC
  const sector = offHi * 0x800000 + (lo >>> 9);
  if ((zeroBits & allocBits) !== 0) {
    res.corruptions++;
    ctx.say(`ERROR offset=${hex64(offHi, offLo)}: Allocated cluster has corrupted subcluster allocation bitmap`);
  }
  const unaligned = (sector & (spc - 1)) !== 0;
  if (unaligned) {
    res.corruptions++;
    const containsData = ext ? allocBits !== 0 : !zeroFlag;
    if (!containsData && ctx.fixErrors) ctx.refuseRepair(`offset=${hex64(offHi, offLo)}: a preallocated cluster is not aligned: QEMU would zero its L2 entry`);
    ctx.say(
      containsData
        ? `ERROR offset=${hex64(offHi, offLo)}: Data cluster is not properly aligned; L2 entry corrupted.`
        : `ERROR offset=${hex64(offHi, offLo)}: Preallocated cluster is not properly aligned; L2 entry corrupted.`,
    );
  }
  if (st.frag) {
    st.allocated++;
    if (st.nextSector > 0 && sector !== st.nextSector) st.fragmented++;
    st.nextSector = sector + spc;
  }
  if (dataFile) {
    if (hi >= 0) st.suspect = true; // data file clusters count as refcount 1: COPIED must be set
    return;
  }
  const before = res.corruptions;
  ctx.inc(sector * 512, cs, { hi: offHi, lo: offLo });
  if (st.stored) {
    // Past the end, unaligned or overflowing: let check_oflag_copied() look at it exactly.
    const k = Math.floor(sector / spc);
    if (unaligned || res.corruptions !== before || k >= st.stored.length || (st.stored[k] === 1) !== hi < 0) st.suspect = true;
  }
}
