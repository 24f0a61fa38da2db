// The cache's victim choice must be QEMU's circular scan for the strictly smallest LRU counter; the fast
// implementation (index + LRU list) is checked against a direct transcription of that scan.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MetadataCache, type CacheHost } from "../../engine/image/metadata-cache.js";
import type { CachePolicy } from "../../engine/image/engine-config.js";
import { EventRecorder } from "../../engine/events/recorder.js";
import { EventKind } from "../../engine/events/event-kind.js";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";

/** QEMU's qcow2_cache_do_get victim search, written plainly. */
function qemuVictim(c: MetadataCache, offset: number): number {
  const n = c.size;
  let i = ((offset / c.tableSize) * 4) % n;
  const start = i;
  let min = Infinity;
  let victim = -1;
  do {
    if (c.offsets[i] === offset) return i;
    if (c.refs[i] === 0 && c.lru[i]! < min) {
      min = c.lru[i]!;
      victim = i;
    }
    if (++i === n) i = 0;
  } while (i !== start);
  return victim;
}

function host(): CacheHost {
  return { file: new MemoryStorage("t", new Uint8Array(1 << 20)), events: new EventRecorder(), node: 0, flushFile() {} };
}

describe("MetadataCache", () => {
  it("chooses the same slot as QEMU's scan for any sequence of gets, puts and discards", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 9 }),
        fc.array(fc.tuple(fc.constantFrom("get", "getput", "discard", "put"), fc.integer({ min: 1, max: 40 })), { maxLength: 200 }),
        (size, ops) => {
          const c = new MetadataCache(host(), 1, size, 512);
          const pinned: number[] = [];
          for (const [op, t] of ops) {
            const offset = t * 512;
            if (op === "put") {
              const s = pinned.shift();
              if (s !== undefined) c.put(s);
              continue;
            }
            if (op === "discard") {
              const s = c.lookup(offset);
              if (s >= 0 && c.refs[s] === 0) c.discard(s);
              continue;
            }
            if (pinned.length >= size - 1) continue;
            const expected = qemuVictim(c, offset);
            const got = c.get(offset, false);
            expect(got).toBe(expected);
            if (op === "getput") c.put(got);
            else pinned.push(got);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("writes a dirty entry back before reusing its slot, after flushing its dependency", () => {
    const h = host();
    const l2 = new MetadataCache(h, 1, 2, 512);
    const rc = new MetadataCache(h, 0, 2, 512);
    const a = rc.get(512, false);
    rc.markDirty(a);
    rc.put(a);
    l2.setDependency(rc);
    const s = l2.get(1024, false);
    l2.table(s).fill(7);
    l2.markDirty(s);
    l2.put(s);
    l2.get(2048, false);
    l2.get(4096, false); // evicts 1024: the refcount cache must be written first
    // QEMU traces the L2 entry flush first, then writes the refcount table it depends on, then the L2 table.
    const evs = [...(h.events as EventRecorder).events()];
    expect(evs.filter((e) => e.kind === EventKind.CacheEntryFlush).map((e) => e.cache)).toEqual([1, 0]);
    expect(evs.filter((e) => e.kind === EventKind.MetadataWrite).map((e) => e.cache)).toEqual([0, 1]);
    expect(rc.dirtyCount()).toBe(0);
    const back = new Uint8Array(512);
    h.file.read(back, 1024);
    expect(back.every((b) => b === 7)).toBe(true);
  });
});

describe("MetadataCache victim policies (cache-policy=)", () => {
  /** Gets and releases each table in turn; returns the tables evicted, in order, and whether the last get hit. */
  function run(policy: CachePolicy, size: number, tables: string[]): { evicted: string[]; lastHit: boolean } {
    const h: CacheHost = { ...host(), config: { cachePolicy: policy } };
    const rec = h.events as EventRecorder;
    const c = new MetadataCache(h, 1, size, 512);
    const names = [...new Set(tables)];
    const off = (t: string) => 512 * (1 + names.indexOf(t));
    const name = new Map(names.map((t) => [off(t), t]));
    let lastHit = false;
    for (const t of tables) {
      const misses = c.misses;
      c.put(c.get(off(t), false));
      lastHit = c.misses === misses;
    }
    const evicted: string[] = [];
    for (let i = 0; i < rec.length; i++) {
      const e = rec.get(i);
      if (e.kind === EventKind.CacheGetReplaceEntry && e.a) evicted.push(name.get(e.a)!);
    }
    return { evicted, lastHit };
  }

  it("LRU (QEMU's) ranks a table at its release, FIFO at its load", () => {
    // A is used again before C arrives: LRU keeps it, FIFO evicts it anyway and has to load it again.
    expect(run("lru", 2, ["A", "B", "A", "C", "A"])).toEqual({ evicted: ["B"], lastHit: true });
    expect(run("fifo", 2, ["A", "B", "A", "C", "A"])).toEqual({ evicted: ["A", "B"], lastHit: false });
  });

  it("2Q lets a table seen twice outlive a scan of tables seen once; LRU and FIFO do not", () => {
    const seq = ["H", "S1", "S2", "S3", "S4", "H", "S5", "S6", "S7", "S8", "H"];
    expect(run("2q", 4, seq)).toEqual({ evicted: ["H", "S1", "S2", "S3", "S4", "S5"], lastHit: true });
    expect(run("lru", 4, seq)).toEqual({ evicted: ["H", "S1", "S2", "S3", "S4", "H", "S5"], lastHit: false });
    expect(run("fifo", 4, seq)).toEqual({ evicted: ["H", "S1", "S2", "S3", "S4", "H", "S5"], lastHit: false });
  });

  it("2Q's queues survive a snapshot and restore", () => {
    const h: CacheHost = { ...host(), config: { cachePolicy: "2q" } };
    const c = new MetadataCache(h, 1, 4, 512);
    for (const t of [1, 2, 3, 4, 5, 1]) c.put(c.get(t * 512, false));
    const snap = c.capture((t) => t.slice());
    const after = (x: MetadataCache) => [6, 7, 8, 9, 1].map((t) => (x.put(x.get(t * 512, false)), x.lookup(512)));
    const straight = after(c);
    const d = new MetadataCache(h, 1, 4, 512);
    d.restore(snap, d);
    expect(after(d)).toEqual(straight);
  });

  it("keeps its dirty count equal to the dirty flags, so a write-back that stops at the last dirty slot writes all", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 9 }),
        fc.array(fc.tuple(fc.constantFrom("getput", "dirty", "discard", "write", "restore"), fc.integer({ min: 1, max: 40 })), { maxLength: 200 }),
        (size, ops) => {
          const c = new MetadataCache(host(), 1, size, 512);
          let saved = c.capture((t) => t.slice());
          for (const [op, t] of ops) {
            const slot = t % size;
            if (op === "getput") c.put(c.get(t * 512, false));
            else if (op === "dirty" && c.offsets[slot]) c.markDirty(slot);
            else if (op === "discard" && c.offsets[slot]) c.discard(slot);
            else if (op === "write") {
              c.write();
              expect(Array.from(c.dirty).some((d, i) => d && c.offsets[i])).toBe(false);
            } else if (op === "restore") {
              c.restore(saved, c);
              saved = c.capture((x) => x.slice());
            }
            expect(c.dirtyCount()).toBe(c.dirty.reduce((a, d) => a + d, 0));
          }
        },
      ),
    );
  });
});
