// The checkpoints' delta archive: whatever was stored loads back byte for byte, in any order, after dropping
// (merging) checkpoints in the middle, across changes of length, and it holds deltas, not copies.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeltaArchive, type Blob } from "../../engine/replay/delta-archive.js";

type Op = { k: "write"; at: number; v: number; n: number } | { k: "scatter"; seed: number } | { k: "store" } | { k: "load"; which: number } | { k: "drop"; which: number } | { k: "resize"; len: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant("write" as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }), n: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("scatter" as const), seed: fc.integer({ min: 1, max: 2 ** 30 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("store" as const) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("load" as const), which: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("drop" as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("resize" as const), len: fc.integer({ min: 1, max: 9000 }) }) },
);

describe("DeltaArchive", () => {
  it("loads every kept blob exactly, in any order, after merges and resizes, with anchors or without", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), fc.integer({ min: 4, max: 9000 }), fc.boolean(), (ops, len0, anchored) => {
        // Anchored: whole copies every 20 changed words, at most 4, thinned as in a long timeline.
        const ar = anchored ? new DeltaArchive({ anchorMinBytes: 0, anchorWords: 20, anchorCopySteps: 0 }) : new DeltaArchive();
        let live = new Uint8Array(len0);
        const kept: { blob: Blob; bytes: Uint8Array }[] = [];
        const store = () => kept.push({ blob: ar.store("k", live), bytes: live.slice() });
        store();
        for (const op of ops) {
          if (op.k === "write") {
            const at = op.at % live.length;
            live.fill(op.v, at, Math.min(live.length, at + op.n));
          } else if (op.k === "scatter") {
            // Words all over the array, as random writes change L2 entries.
            let x = op.seed;
            for (let i = 0; i < 30; i++) live[(x = (x * 48271) % 2147483647) % live.length] = x & 0xff;
          } else if (op.k === "store") store();
          else if (op.k === "resize") {
            const x = new Uint8Array(op.len);
            x.set(live.subarray(0, Math.min(op.len, live.length)));
            live = x;
          } else if (op.k === "load") {
            const c = kept[op.which % kept.length]!;
            expect(Buffer.from(ar.load("k", c.blob)).equals(Buffer.from(c.bytes))).toBe(true);
          } else if (kept.length > 2) {
            // As CheckpointStore.thin drops one: never the first or the last.
            const i = 1 + (op.which % (kept.length - 2));
            const next = kept[i + 1]!;
            if (next.blob.prev === kept[i]!.blob) ar.merge(kept[i]!.blob, next.blob);
            kept.splice(i, 1);
          }
        }
        for (const c of [...kept].reverse()) expect(Buffer.from(ar.load("k", c.blob)).equals(Buffer.from(c.bytes))).toBe(true);
        // A store after loads diffs against the last stored content, not against what was loaded.
        store();
        for (const c of kept) expect(Buffer.from(ar.load("k", c.blob)).equals(Buffer.from(c.bytes))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("keeps an empty 12 MiB cache and a few changed entries in a few hundred bytes", () => {
    const ar = new DeltaArchive();
    const live = new Uint8Array(12 * 2 ** 20);
    const first = ar.store("l2", live);
    expect(first.bytes).toBeLessThan(200);
    for (let i = 0; i < 100; i++) new DataView(live.buffer).setBigUint64(i * 65536 + 8 * i, 0x8000000000010000n + BigInt(i) * 65536n);
    const second = ar.store("l2", live);
    expect(second.count).toBe(200);
    expect(second.bytes).toBeLessThan(200 * 8);
    expect(Buffer.from(ar.load("l2", first)).every((b) => b === 0)).toBe(true);
    expect(Buffer.from(ar.load("l2", second)).equals(Buffer.from(live))).toBe(true);
  });

  it("walks many deltas over a big array (applied region by region) to any of them and back", () => {
    const ar = new DeltaArchive();
    const live = new Uint8Array(300_000);
    const kept: { blob: Blob; bytes: Uint8Array }[] = [];
    let x = 7;
    for (let k = 0; k < 40; k++) {
      for (let i = 0; i < 500; i++) live[(x = (x * 48271) % 2147483647) % live.length] = x & 0xff;
      kept.push({ blob: ar.store("t", live), bytes: live.slice() });
    }
    for (const i of [39, 0, 20, 38, 1, 39, 5, 30]) expect(Buffer.from(ar.load("t", kept[i]!.blob)).equals(Buffer.from(kept[i]!.bytes))).toBe(true);
  });
});
