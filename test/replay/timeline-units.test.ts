// The timeline's pieces: compact request columns, copy-on-write shadow snapshots, event stepping across request
// boundaries, run-to-time, and the user's image staying byte-for-byte untouched.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";
import { ShadowStorage } from "../../engine/storage/shadow-storage.js";
import { RequestColumns } from "../../engine/replay/request-columns.js";
import { Timeline } from "../../engine/replay/timeline.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import { GUEST_OPS } from "../../engine/workload/guest-request.js";
import { tmpDir } from "../format/qemu-images.js";
import { engineState, forwards, makeImage, openEngine, request, sha256 } from "./timeline-fixtures.js";

const dir = tmpDir("qcowdbg-timeline-units-");
const M = 1024 * 1024;
let image = "";
beforeAll(() => {
  image = makeImage(dir.path("u.qcow2"), { clusterSize: 4096, size: 4 * M, prefill: ["write -P 0x5a 0 64k", "write 3M 8k"] });
});
afterAll(() => dir.cleanup());

function close(tl: Timeline): void {
  tl.dispose();
  tl.engine.close();
}

describe("RequestColumns", () => {
  const reqArb: fc.Arbitrary<GuestRequest> = fc
    .record({
      time: fc.double({ noNaN: true, min: -1e6, max: 1e6 }),
      op: fc.constantFrom(...GUEST_OPS),
      offset: fc.nat(),
      length: fc.nat(),
      fua: fc.boolean(),
      preflush: fc.boolean(),
      source: fc.oneof(fc.string(), fc.tuple(fc.constantFrom("a.log:", "b.bin#", "x:y:"), fc.nat()).map(([h, n]) => h + n), fc.constant("t:007")),
      device: fc.option(fc.constantFrom("259,0", "8,16", "vol-3"), { nil: undefined }),
      pattern: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
      compressed: fc.option(fc.boolean(), { nil: undefined }),
      mayUnmap: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map((r) => {
      const out: GuestRequest = { time: r.time, op: r.op, offset: r.offset, length: r.length, fua: r.fua, preflush: r.preflush, source: r.source };
      if (r.device !== undefined) out.device = r.device;
      if (r.pattern !== undefined) out.pattern = r.pattern;
      if (r.compressed !== undefined) out.compressed = r.compressed;
      if (r.mayUnmap !== undefined) out.mayUnmap = r.mayUnmap;
      return out;
    });

  it("gives back exactly the requests it was given", () => {
    fc.assert(
      fc.property(fc.array(reqArb, { maxLength: 3000 }), (reqs) => {
        const c = RequestColumns.from(reqs);
        expect(c.length).toBe(reqs.length);
        for (let i = 0; i < reqs.length; i++) expect(c.get(i)).toStrictEqual(reqs[i]);
      }),
      { numRuns: 60 },
    );
  });

  it("packs a blkparse-like trace into about 10 bytes a request, exactly, and widens where values vary", () => {
    const reqs: GuestRequest[] = [];
    for (let i = 0; i < 5000; i++) {
      const r: GuestRequest = { time: (1_000_000 + i * 10_017) / 1e9, op: "write", offset: ((i * 7919) % 200_000) * 4096, length: 4096, fua: false, preflush: false, source: `t.txt:${3 * i + 1}`, device: "8,0" };
      // Past 4,000: a second device, odd sizes and unaligned offsets, a 10 s pause, and a read.
      if (i >= 4000) Object.assign(r, { device: i % 2 ? "8,16" : "8,0", length: 4096 + (i % 3), offset: r.offset + (i % 5), time: r.time + 10, op: i % 7 ? "write" : "read" });
      reqs.push(r);
    }
    const head = RequestColumns.from(reqs.slice(0, 4000));
    expect(head.bytesHeld() / 4000).toBeLessThan(10);
    const all = RequestColumns.from(reqs);
    for (let i = 0; i < reqs.length; i++) expect(all.get(i)).toStrictEqual(reqs[i]);
  });

  it("finds the first request at or after a time, sorted or not", () => {
    const t = (times: number[]) => RequestColumns.from(times.map((x) => request("read", 0, 512, x)));
    const sorted = t([0, 0.5, 1, 1, 2]);
    expect([-1, 0, 0.1, 1, 1.5, 2, 9].map((x) => sorted.firstAtOrAfter(x))).toEqual([0, 0, 1, 2, 4, 4, 5]);
    const unsorted = t([0, 2, 1, 3]);
    expect(unsorted.sortedByTime).toBe(false);
    expect([0.5, 1, 2.5, 4].map((x) => unsorted.firstAtOrAfter(x))).toEqual([1, 1, 3, 4]);
    expect(() => sorted.get(5)).toThrow(RangeError);
  });
});

describe("ShadowStorage snapshots", () => {
  const content = (s: ShadowStorage) => {
    const b = new Uint8Array(s.size());
    s.read(b, 0);
    return Buffer.from(b).toString("hex");
  };

  it("restore brings back the bytes and length of the moment, however the layer moved since", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ k: fc.constant("w" as const), off: fc.nat(300_000), len: fc.integer({ min: 1, max: 70_000 }), v: fc.integer({ min: 1, max: 255 }) }),
            fc.record({ k: fc.constant("t" as const), size: fc.nat(400_000) }),
            fc.record({ k: fc.constant("snap" as const) }),
            fc.record({ k: fc.constant("restore" as const), which: fc.nat() }),
            fc.record({ k: fc.constant("release" as const), which: fc.nat() }),
          ),
          { maxLength: 30 },
        ),
        fc.integer({ min: 1, max: 6 }),
        (ops, memPages) => {
          const base = new Uint8Array(200_000).map((_, i) => i & 0xff);
          // A small memory limit pushes pages into the sidecar file: snapshots must hold there too.
          const s = new ShadowStorage(new MemoryStorage("base", base.slice()), memPages * 65536);
          const snaps: { snap: ReturnType<ShadowStorage["snapshot"]>; bytes: string; size: number }[] = [];
          for (const op of ops) {
            if (op.k === "w") s.write(new Uint8Array(op.len).fill(op.v), op.off);
            else if (op.k === "t") s.truncate(op.size);
            else if (op.k === "snap") snaps.push({ snap: s.snapshot(), bytes: content(s), size: s.size() });
            else if (snaps.length) {
              const i = op.which % snaps.length;
              if (op.k === "restore") {
                s.restore(snaps[i]!.snap);
                expect(s.size()).toBe(snaps[i]!.size);
                expect(content(s)).toBe(snaps[i]!.bytes);
              } else {
                s.release(snaps[i]!.snap);
                snaps.splice(i, 1);
              }
            }
          }
          // Every snapshot still held is intact.
          for (const x of snaps) {
            s.restore(x.snap);
            expect(content(s)).toBe(x.bytes);
          }
          const live = s.shadowBytes();
          for (const x of snaps) s.release(x.snap);
          expect(s.retainedBytes()).toBe(live);
          s.dispose();
        },
      ),
      { numRuns: 150 },
    );
  });

  it("versions of the same few pages, snapshotted and rewritten again and again, restore exactly", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            // A few hot spots, so successive versions change the same words (delta order and merging matter).
            fc.record({ k: fc.constant("w" as const), off: fc.constantFrom(0, 2, 100, 65536, 65538, 2 * 65536 + 8, 3 * 65536 - 6), len: fc.integer({ min: 1, max: 12 }), v: fc.integer({ min: 0, max: 255 }) }),
            fc.record({ k: fc.constant("snap" as const) }),
            fc.record({ k: fc.constant("snap" as const) }),
            fc.record({ k: fc.constant("restore" as const), which: fc.nat() }),
            fc.record({ k: fc.constant("release" as const), which: fc.nat() }),
          ),
          { maxLength: 80 },
        ),
        (ops) => {
          const s = new ShadowStorage(new MemoryStorage("base", new Uint8Array(4 * 65536).fill(7)));
          const snaps: { snap: ReturnType<ShadowStorage["snapshot"]>; bytes: string }[] = [];
          for (const op of ops) {
            if (op.k === "w") s.write(new Uint8Array(Math.min(op.len, 3 * 65536 - op.off)).fill(op.v), op.off);
            else if (op.k === "snap") snaps.push({ snap: s.snapshot(), bytes: content(s) });
            else if (snaps.length) {
              const i = op.which % snaps.length;
              if (op.k === "restore") {
                s.restore(snaps[i]!.snap);
                expect(content(s)).toBe(snaps[i]!.bytes);
              } else {
                s.release(snaps[i]!.snap);
                snaps.splice(i, 1);
              }
            }
          }
          for (const x of snaps.slice().reverse()) {
            s.restore(x.snap);
            expect(content(s)).toBe(x.bytes);
          }
          for (const x of snaps) s.release(x.snap);
          expect(s.retainedBytes()).toBe(s.shadowBytes());
          s.dispose();
        },
      ),
      { numRuns: 300 },
    );
  });

  // Pages of one repeated byte are kept as runs (run-page.ts): these tests write noise to get whole pages.
  const noise = (n: number) => new Uint8Array(n).map((_, i) => (i * 29 + (i >> 6)) & 0xff);

  it("keeps a page's older versions as small deltas", () => {
    const s = new ShadowStorage(new MemoryStorage("base", new Uint8Array(1 << 20)));
    s.write(noise(65536), 0);
    const snaps = [];
    for (let i = 0; i < 40; i++) {
      snaps.push({ snap: s.snapshot(), bytes: content(s) });
      s.write(new Uint8Array([i, i, i, i]), 64 * i);
      s.write(new Uint8Array([i + 1, i + 2]), 8);
    }
    // 41 versions of one page: a few whole ones (chains are cut every 16), the rest a word or so each.
    expect(s.retainedBytes()).toBeLessThan(6 * 65536);
    for (const x of snaps) {
      s.restore(x.snap);
      expect(content(s)).toBe(x.bytes);
    }
    // Releasing middle versions first re-bases the older ones on the newer ones.
    for (const i of [20, 5, 21, 6, 33, 1, 2, 3]) s.release(snaps[i]!.snap);
    for (const [i, x] of snaps.entries()) {
      if (x.snap.released) continue;
      s.restore(x.snap);
      expect(content(s), `version ${i}`).toBe(x.bytes);
    }
    for (const x of snaps) s.release(x.snap);
    expect(s.retainedBytes()).toBe(65536);
    s.dispose();
  });

  it("a restored version whose snapshot is released is copied, not written, when written again", () => {
    const s = new ShadowStorage(new MemoryStorage("base", new Uint8Array(1 << 20)));
    s.write(noise(65536), 0);
    const a = { snap: s.snapshot(), bytes: content(s) };
    s.write(new Uint8Array([2]), 10);
    const b = { snap: s.snapshot(), bytes: content(s) };
    s.write(new Uint8Array([3]), 20);
    const c = { snap: s.snapshot(), bytes: content(s) };
    s.write(new Uint8Array([4]), 30);
    // a and b are deltas against the versions after them, c is whole: back to c, drop it, write over it.
    s.restore(c.snap);
    s.release(c.snap);
    s.write(new Uint8Array([9]), 10);
    s.restore(b.snap);
    expect(content(s)).toBe(b.bytes);
    s.restore(a.snap);
    expect(content(s)).toBe(a.bytes);
    // The same through b, a delta in the middle of the chain.
    s.release(b.snap);
    s.write(new Uint8Array([8]), 11);
    s.restore(a.snap);
    expect(content(s)).toBe(a.bytes);
    s.release(a.snap);
    expect(s.retainedBytes()).toBe(s.shadowBytes());
    s.dispose();
  });

  it("a snapshot shares pages until the next write", () => {
    const s = new ShadowStorage(new MemoryStorage("base", new Uint8Array(1 << 20)));
    s.write(noise(4 * 65536), 0);
    expect(s.retainedBytes()).toBe(4 * 65536);
    const snap = s.snapshot();
    expect(s.retainedBytes()).toBe(4 * 65536);
    s.write(new Uint8Array(10).fill(2), 65536 + 5);
    expect(s.retainedBytes()).toBe(5 * 65536);
    s.write(new Uint8Array(10).fill(3), 65536 + 50);
    expect(s.retainedBytes()).toBe(5 * 65536);
    s.release(snap);
    expect(s.retainedBytes()).toBe(4 * 65536);
    s.dispose();
  });
});

describe("timeline stepping", () => {
  const reqs = [request("write", 0, 4096, 0), request("flush", 0, 0, 1), request("write", 1 * M, 8192, 2), request("write", 4 * M, 512, 3), request("discard", 0, 65536, 4)];

  it("steps through each event, completes requests, and reverse-steps back to the last event of the previous one", () => {
    const tl = new Timeline(openEngine(image, 4096), reqs);
    const counts: number[] = [];
    for (let i = 0; i < reqs.length; i++) counts.push(tl.eventsOf(i).length);
    expect(counts[3]).toBe(0); // past the virtual size: refused before any event
    const path: string[] = [];
    for (let guard = 0; guard < 10_000; guard++) {
      path.push(JSON.stringify(tl.position()));
      if (tl.step().kind === "end") break;
    }
    // (r, 0) .. (r, n) for each request, then the end.
    const expected: string[] = [];
    counts.forEach((n, r) => {
      for (let e = 0; e <= n; e++) expected.push(JSON.stringify({ request: r, event: e }));
    });
    expected.push(JSON.stringify({ request: reqs.length, event: 0 }));
    expect(path).toEqual(expected);
    const back: string[] = [];
    for (let guard = 0; guard < 10_000; guard++) {
      if (tl.reverseStep().kind === "start") break;
      back.push(JSON.stringify(tl.position()));
    }
    expect(back).toEqual(expected.slice(0, -1).reverse());
    close(tl);
  });

  it("next and reverse-next move whole requests; reverse-next inside a request goes to its start", () => {
    const tl = new Timeline(openEngine(image, 4096), reqs);
    tl.next();
    tl.next();
    expect(tl.position()).toEqual({ request: 2, event: 0 });
    tl.step();
    tl.step();
    expect(tl.position()).toEqual({ request: 2, event: 2 });
    tl.reverseNext();
    expect(tl.position()).toEqual({ request: 2, event: 0 });
    tl.reverseNext();
    expect(tl.position()).toEqual({ request: 1, event: 0 });
    tl.step();
    tl.next();
    expect(tl.position()).toEqual({ request: 2, event: 0 });
    tl.runTo(0);
    expect(tl.reverseNext().kind).toBe("start");
    expect(tl.reverseStep().kind).toBe("start");
    tl.runTo(reqs.length);
    expect(tl.next().kind).toBe("end");
    expect(tl.step().kind).toBe("end");
    expect(() => tl.runTo(reqs.length + 1)).toThrow(RangeError);
    expect(() => tl.runTo(1.5)).toThrow(RangeError);
    close(tl);
  });

  it("runs to a time: before the first request at or after it", () => {
    const tl = new Timeline(openEngine(image, 4096), reqs);
    tl.runToTime(1.5);
    expect(tl.position()).toEqual({ request: 2, event: 0 });
    expect(tl.view().current).toEqual(reqs[2]);
    tl.runToTime(-3);
    expect(tl.position()).toEqual({ request: 0, event: 0 });
    tl.runToTime(2);
    expect(tl.position()).toEqual({ request: 2, event: 0 });
    const r = tl.runToTime(99);
    expect(r.detail).toMatch(/no request/);
    expect(tl.position()).toEqual({ request: reqs.length, event: 0 });
    // The engine really is where the position says.
    const oracle = forwards(image, 4096, reqs, reqs.length);
    expect(engineState(tl.engine)).toEqual(engineState(oracle));
    oracle.close();
    close(tl);
  });

  it("restores the compressed-write cursor: packed compressed clusters land where a forward run puts them", () => {
    // Each compressed write packs after the previous one (qcow2_alloc_bytes); a jump back must bring that cursor back.
    const reqs = [0, 1, 2, 3].map((i) => ({ ...request("write", 2 * M + i * 4096, 4096, i), compressed: true, pattern: i + 1 }));
    const tl = new Timeline(openEngine(image, 4096), reqs);
    tl.runTo(3);
    tl.runTo(1);
    tl.runTo(4);
    const oracle = forwards(image, 4096, reqs, reqs.length);
    expect(engineState(tl.engine)).toEqual(engineState(oracle));
    expect(tl.engine.image.rt.freeByteOffset).toBe(oracle.image.rt.freeByteOffset);
    oracle.close();
    close(tl);
  });

  it("never writes the user's image", () => {
    const before = sha256(image);
    const many = Array.from({ length: 300 }, (_, i) => request(i % 7 === 0 ? "discard" : i % 5 === 0 ? "write-zeroes" : "write", ((i * 37) % 900) * 4096, 4096 * (1 + (i % 3)), i));
    const tl = new Timeline(openEngine(image, 4096), many, { checkpoints: { interval: 8 } });
    tl.addWatch({ kind: "refcount", hostCluster: 20 });
    tl.runTo(300);
    tl.reverseContinue();
    tl.runTo(17);
    tl.step();
    tl.view();
    tl.continue();
    tl.runTo(250);
    close(tl);
    expect(sha256(image)).toBe(before);
  });

  it("keeps checkpoints within the budget by widening their spacing", () => {
    const many = Array.from({ length: 400 }, (_, i) => request("write", ((i * 131) % 1000) * 4096, 4096, i));
    const tl = new Timeline(openEngine(image, 4096), many, { checkpoints: { interval: 1, budgetBytes: 256 * 1024 } });
    tl.runTo(400);
    const s = tl.stats();
    expect(s.thinnings).toBeGreaterThan(0);
    expect(s.interval).toBeGreaterThan(1);
    expect(s.checkpointBytes).toBeLessThanOrEqual(256 * 1024);
    // Still exact after the thinning merged deltas and released pages.
    tl.runTo(123);
    const oracle = forwards(image, 4096, many, 123);
    expect(engineState(tl.engine)).toEqual(engineState(oracle));
    oracle.close();
    close(tl);
  });

  it("widens the spacing while captures take more than their share of the replay, and stays exact", () => {
    const many = Array.from({ length: 400 }, (_, i) => request("write", ((i * 131) % 1000) * 4096, 4096, i));
    // A share of 0: every capture takes longer than that, so the spacing grows by half each time, to the cap.
    const tl = new Timeline(openEngine(image, 4096), many, { checkpoints: { interval: 2, captureShare: 0, maxInterval: 16 } });
    tl.runTo(400);
    expect(tl.checkpoints.widenings).toBeGreaterThan(0);
    expect(tl.stats().interval).toBe(16);
    tl.runTo(77);
    const oracle = forwards(image, 4096, many, 77);
    expect(engineState(tl.engine)).toEqual(engineState(oracle));
    oracle.close();
    close(tl);
    // Without a share the spacing stays as given.
    const fixed = new Timeline(openEngine(image, 4096), many, { checkpoints: { interval: 2 } });
    fixed.runTo(400);
    expect(fixed.stats().interval).toBe(2);
    close(fixed);
  });

  it("refuses an engine that already ran requests", () => {
    const e = openEngine(image, 4096);
    e.apply(reqs[0]!);
    expect(() => new Timeline(e, reqs)).toThrow(/fresh/);
    e.close();
  });
});

describe("timeline and outside use of the engine", () => {
  it("gives views a read-only image: looking at every table and cache slot does not change where moves lead", () => {
    const reqs = Array.from({ length: 40 }, (_, i) => request("write", ((i * 97) % 1000) * 4096, 4096, i));
    const tl = new Timeline(openEngine(image, 4096), reqs, { checkpoints: { interval: 8 } });
    tl.runTo(20);
    const look = () => {
      const img = tl.view().image;
      // No guest I/O through a view: it cannot get a cache entry, emit an event or move an LRU counter.
      for (const word of ["read", "write", "blockStatus", "flush"]) expect(word in img).toBe(false);
      let sum = 0;
      for (let i = 0; i < img.header.l1Size; i++) {
        const [, lo] = img.l1Entry(i);
        const l2 = lo & ~0x1ff;
        const slot = l2 ? img.l2Cache.peek(l2) : -1;
        if (slot >= 0) sum += img.l2Cache.bytes(slot, 0, 8)[7]!;
      }
      for (let i = 0; i < img.reftableSize; i++) {
        const rb = img.reftableEntry(i);
        if (rb && img.refcountCache.peek(rb) >= 0) sum++;
      }
      return sum;
    };
    look();
    tl.runTo(30);
    const oracle = forwards(image, 4096, reqs, 30);
    expect(engineState(tl.engine)).toEqual(engineState(oracle));
    oracle.close();
    // Inside a request too (the engine stands at an event there), then on to the same place.
    tl.runTo(25);
    tl.step();
    look();
    tl.runTo(30);
    const again = forwards(image, 4096, reqs, 30);
    expect(engineState(tl.engine)).toEqual(engineState(again));
    again.close();
    close(tl);
  });
});
