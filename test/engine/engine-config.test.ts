// Cache sizing follows QEMU's read_cache_sizes: the examples of docs/qcow2-cache.txt and QEMU-BEHAVIOUR.md.
import { describe, expect, it } from "vitest";
import { cacheSizes, defaultConfig, parseConfigOptions, parseSize } from "../../engine/image/engine-config.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

describe("cacheSizes (QEMU 7.2 defaults and options)", () => {
  it("1 GiB with 64 KiB clusters: 2 L2 entries of a whole table, 4 refcount entries", () => {
    expect(cacheSizes(GiB, 65536, 8, defaultConfig())).toEqual({ l2Entries: 2, l2EntrySize: 65536, refcountEntries: 4 });
  });
  it("100 GiB needs 12.5 MiB of L2 cache: covered whole by the 32 MiB default", () => {
    const s = cacheSizes(100 * GiB, 65536, 8, defaultConfig());
    expect(s.l2Entries * s.l2EntrySize).toBe(12.5 * MiB);
    expect(s.l2EntrySize).toBe(65536);
  });
  it("past 256 GiB the 32 MiB cache cannot cover the image: 8192 slices of 4 KiB", () => {
    expect(cacheSizes(512 * GiB, 65536, 8, defaultConfig())).toEqual({ l2Entries: 8192, l2EntrySize: 4096, refcountEntries: 4 });
  });
  it("extended L2 entries are 16 bytes: the same image needs twice the cache", () => {
    const s = cacheSizes(100 * GiB, 65536, 16, defaultConfig());
    expect(s.l2Entries * s.l2EntrySize).toBe(25 * MiB);
  });
  it("honours l2-cache-size, l2-cache-entry-size and cache-size as QEMU splits them", () => {
    expect(cacheSizes(100 * GiB, 65536, 8, parseConfigOptions("l2-cache-size=1M"))).toEqual({ l2Entries: 256, l2EntrySize: 4096, refcountEntries: 4 });
    expect(cacheSizes(100 * GiB, 65536, 8, parseConfigOptions("l2-cache-size=1M,l2-cache-entry-size=64k"))).toEqual({ l2Entries: 16, l2EntrySize: 65536, refcountEntries: 4 });
    // cache-size alone: as much as possible to L2 (all 12.5 MiB), the rest to refcounts.
    expect(cacheSizes(100 * GiB, 65536, 8, parseConfigOptions("cache-size=16M"))).toEqual({ l2Entries: 200, l2EntrySize: 65536, refcountEntries: 56 });
    expect(() => cacheSizes(GiB, 65536, 8, parseConfigOptions("cache-size=1M,l2-cache-size=1M,refcount-cache-size=64k"))).toThrow(/may not be set at the same time/);
    expect(() => cacheSizes(GiB, 65536, 8, parseConfigOptions("l2-cache-entry-size=3000"))).toThrow(/power of two/);
  });
  it("parses qemu sizes and refuses unknown options", () => {
    expect(parseSize("12.5M")).toBe(12.5 * MiB);
    expect(parseSize("4k")).toBe(4096);
    expect(parseSize("0x1000")).toBe(4096);
    expect(() => parseConfigOptions("l2-cache=1M")).toThrow(/unknown option/);
    expect(parseConfigOptions("cache=unsafe,lazy-refcounts=on")).toMatchObject({ cacheMode: "unsafe", lazyRefcounts: true });
  });
});
