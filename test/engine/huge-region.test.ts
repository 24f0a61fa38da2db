// Big replay buffers on huge pages (engine/storage/huge-region.ts, native/posix.cc hugeBuffer): where the addon is
// built (CI builds it), a region is whole 2 MiB pages of zeroes that the kernel has been advised to back with
// transparent huge pages; a size that is not whole huge pages gets nothing (the caller allocates plainly); and a
// metadata cache of 2 MiB or more, on such a region, holds and gives back tables as a plain one does.
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { EventRecorder } from "../../engine/events/recorder.js";
import { MetadataCache } from "../../engine/image/metadata-cache.js";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";
import { HUGE_PAGE, hugeRegion } from "../../engine/storage/huge-region.js";
import { posix } from "../../engine/storage/native.js";

/** Mappings of this process advised MADV_HUGEPAGE ("hg" in their VmFlags). */
function advisedMappings(): number {
  return fs.readFileSync("/proc/self/smaps", "utf8").split("\n").filter((l) => l.startsWith("VmFlags:") && / hg( |$)/.test(l)).length;
}

const THP = process.platform === "linux" && fs.existsSync("/sys/kernel/mm/transparent_hugepage/enabled");

describe("huge regions", () => {
  it("are whole huge pages of zeroes, writable, and nothing for other sizes", () => {
    for (const bad of [0, -HUGE_PAGE, HUGE_PAGE / 2, HUGE_PAGE + 4096, 1.5 * HUGE_PAGE, NaN, Infinity]) expect(hugeRegion(bad)).toBeUndefined();
    if (process.platform !== "linux") return;
    // On Linux the build has the addon (build-native.mjs needs only g++ and Node's headers, as CI installs).
    expect(typeof posix?.hugeBuffer).toBe("function");
    const b = hugeRegion(2 * HUGE_PAGE)!;
    expect(b.byteLength).toBe(2 * HUGE_PAGE);
    const w = new Int32Array(b);
    expect(w.every((x) => x === 0)).toBe(true);
    w[0] = 7;
    w[w.length - 1] = -9;
    expect([w[0], w[w.length - 1]]).toEqual([7, -9]);
  });

  it.skipIf(!THP)("are advised MADV_HUGEPAGE (the kernel may then back them with 2 MiB pages)", () => {
    const before = advisedMappings();
    const keep = [hugeRegion(HUGE_PAGE), hugeRegion(4 * HUGE_PAGE)];
    expect(keep.every((b) => b !== undefined)).toBe(true);
    expect(advisedMappings()).toBeGreaterThanOrEqual(before + 1);
  });

  it("back a big metadata cache, which holds and gives back its tables as a small one does", () => {
    const tableSize = 65536;
    // Tables at clusters 1..48 (offset 0 is no table: an empty slot's).
    const file = new MemoryStorage("t", new Uint8Array(49 * tableSize));
    for (let t = 1; t <= 48; t++) file.write(new Uint8Array(tableSize).fill(t), t * tableSize);
    const host = { file, events: new EventRecorder(), node: 0, flushFile() {} };
    // 40 slots of 64 KiB (2.5 MiB: a region of two huge pages, of which the cache uses its first 2.5 MiB).
    const c = new MetadataCache(host, 1, 40, tableSize);
    expect(c.tables.length).toBe(40 * tableSize);
    if (process.platform === "linux") expect(c.tables.buffer.byteLength).toBe(2 * HUGE_PAGE);
    for (let t = 1; t <= 48; t++) {
      const i = c.get(t * tableSize, true);
      expect(c.table(i).every((x) => x === t)).toBe(true);
      c.table(i)[5] = 200;
      c.markDirty(i);
      c.put(i);
    }
    c.flush();
    for (let t = 1; t <= 48; t++) {
      const back = new Uint8Array(tableSize);
      file.read(back, t * tableSize);
      expect([back[0], back[5], back[tableSize - 1]]).toEqual([t, 200, t]);
    }
  });
});
