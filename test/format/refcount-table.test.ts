import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { put32, type ReadAt } from "../../engine/format/bytes.js";
import { FormatError } from "../../engine/format/format-error.js";
import { geometry } from "../../engine/format/header.js";
import { entryOffset, isCopied } from "../../engine/format/l2-entry.js";
import { setRefcount, getRefcount } from "../../engine/format/refcount-entry.js";
import {
  l1HasReservedBits,
  readL1Table,
  readRawTable,
  readRefcountTable,
  refcountIndex,
  refcountRuns,
  reftableEntryOffset,
  reftableHasReservedBits,
} from "../../engine/format/refcount-table.js";
import { type LoadedImage, loadImage, qemuImg, qemuIo, tmpDir } from "./qemu-images.js";

describe("raw tables", () => {
  it("reads entries as halves; past the end of the file reads zeros", () => {
    const file = new Uint8Array(24);
    put32(file, 8, 0x80000000);
    put32(file, 12, 0x00050000);
    const read: ReadAt = (b, o) => {
      b.fill(0);
      const n = Math.max(0, Math.min(b.length, file.length - o));
      b.set(file.subarray(o, o + n));
      return n;
    };
    const t = readRawTable(read, 0, 5);
    expect(Array.from(t.hi)).toEqual([0, 0x80000000, 0, 0, 0]);
    expect(Array.from(t.lo)).toEqual([0, 0x50000, 0, 0, 0]);
  });

  it("bounds the L1 table before reading it", () => {
    const read: ReadAt = () => {
      throw new Error("must not read");
    };
    expect(() => readL1Table(read, 0x30000, 4 * 2 ** 20 + 1, 16, "f")).toThrow(FormatError);
    expect(() => readL1Table(read, 0x30200, 1, 16, "f")).toThrow(/l1_table_offset.*not cluster aligned/);
    expect(() => readL1Table(read, 2 ** 53 - 65536, 2 ** 14, 16, "f")).toThrow(/beyond 2\^53/);
  });

  it("decodes refcount table entries and reserved bits", () => {
    expect(reftableEntryOffset(0, 0x201ff)).toBe(0x20000);
    expect(reftableEntryOffset(0x1fffff, 0xfffffe00)).toBe(2 ** 53 - 512);
    expect(reftableEntryOffset(0x200000, 0)).toBeNaN();
    expect(reftableHasReservedBits(0x20001)).toBe(true);
    expect(reftableHasReservedBits(0x20000)).toBe(false);
    expect(l1HasReservedBits(0x80000000, 0x40000)).toBe(false);
    expect(l1HasReservedBits(0x01000000, 0x40000)).toBe(true);
    expect(l1HasReservedBits(0, 0x40100)).toBe(true);
  });

  it("places a cluster's refcount", () => {
    // 64 KiB clusters, 16-bit refcounts: 32768 per block.
    expect(refcountIndex(0, 16, 4)).toEqual({ table: 0, block: 0 });
    expect(refcountIndex(32769, 16, 4)).toEqual({ table: 1, block: 1 });
    expect(refcountIndex(2 ** 20 + 3, 9, 0)).toEqual({ table: 256, block: 3 });
  });

  it("finds runs of equal non-zero refcounts", () => {
    for (const order of [0, 3, 4, 6]) {
      const block = new Uint8Array(256);
      const values = [1, 1, 1, 0, 1, 1, 0, 0, 1];
      if (order > 0) values.push(2, 2, 3);
      values.forEach((v, i) => setRefcount(block, i, order, v));
      const runs = refcountRuns(block, order, 100);
      const want = [
        { cluster: 100, count: 3, refcount: 1 },
        { cluster: 104, count: 2, refcount: 1 },
        { cluster: 108, count: 1, refcount: 1 },
      ];
      if (order > 0) want.push({ cluster: 109, count: 2, refcount: 2 }, { cluster: 111, count: 1, refcount: 3 });
      expect(runs).toEqual(want);
    }
  });
});

describe("tables of an image written by qemu-img", () => {
  const tmp = tmpDir();
  const f = tmp.path("t.qcow2");
  let img: LoadedImage;
  beforeAll(() => {
    qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096,refcount_bits=8", f, "8M");
    qemuIo(f, "write -P 1 0 12k", "write -P 2 4M 4k");
    qemuImg("snapshot", "-c", "s", f);
    img = loadImage(f);
  });
  afterAll(() => tmp.cleanup());

  it("every cluster referenced from the L1/L2 tables has a refcount, shared ones 2", () => {
    const h = img.header;
    const g = geometry(h);
    const l1 = readL1Table(img.read, h.l1TableOffset, h.l1Size, h.clusterBits, f);
    const reft = readRefcountTable(img.read, h, f);
    const refcount = (host: number) => {
      const { table, block } = refcountIndex(host / g.clusterSize, h.clusterBits, h.refcountOrder);
      const rb = reftableEntryOffset(reft.hi[table]!, reft.lo[table]!);
      return getRefcount(img.bytes.subarray(rb, rb + g.clusterSize), block, h.refcountOrder);
    };
    let data = 0;
    for (let i = 0; i < h.l1Size; i++) {
      const l2 = entryOffset(l1.hi[i]!, l1.lo[i]!);
      if (!l2) continue;
      // After a snapshot, the L2 table is shared: refcount 2, COPIED clear.
      expect(refcount(l2)).toBe(2);
      expect(isCopied(l1.hi[i]!)).toBe(false);
      const t = readRawTable(img.read, l2, g.l2Entries);
      for (let j = 0; j < g.l2Entries; j++) {
        const host = entryOffset(t.hi[j]!, t.lo[j]!);
        if (!host) continue;
        data++;
        expect(refcount(host)).toBe(2);
      }
    }
    expect(data).toBe(4);
    expect(refcount(h.refcountTableOffset)).toBe(1);
    expect(refcount(h.l1TableOffset)).toBe(1);
  });
});
