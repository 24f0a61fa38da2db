// The shadow layer must behave exactly like a private copy of the file, and never write to the file itself.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ShadowStorage } from "../../engine/storage/shadow-storage.js";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";
import type { Storage } from "../../engine/storage/storage.js";

class ReadOnly extends MemoryStorage {
  override write(): void {
    throw new Error("base written");
  }
  override truncate(): void {
    throw new Error("base truncated");
  }
}

const op = fc.oneof(
  fc.record({ t: fc.constant("w" as const), off: fc.integer({ min: 0, max: 300_000 }), len: fc.integer({ min: 1, max: 70_000 }), v: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ t: fc.constant("tr" as const), size: fc.integer({ min: 0, max: 400_000 }) }),
);

describe("ShadowStorage", () => {
  for (const memLimit of [64 * 1024 * 1024, 128 * 1024]) {
    it(`reads back like a private copy (memory limit ${memLimit}: ${memLimit < 1e6 ? "spills to a sidecar" : "in memory"})`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
          const initial = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
          const base = new ReadOnly("base", initial);
          const shadow = new ShadowStorage(base, memLimit);
          const model: Storage = new MemoryStorage("model", initial);
          for (const o of ops) {
            if (o.t === "w") {
              const b = new Uint8Array(o.len).fill(o.v);
              shadow.write(b, o.off);
              model.write(b, o.off);
            } else {
              shadow.truncate(o.size);
              model.truncate(o.size);
            }
          }
          expect(shadow.size()).toBe(model.size());
          const a = new Uint8Array(model.size() + 1000);
          const b = new Uint8Array(model.size() + 1000);
          shadow.read(a, 0);
          model.read(b, 0);
          expect(Buffer.compare(a, b)).toBe(0);
          expect(Buffer.compare(base.bytes(), initial)).toBe(0);
          shadow.dispose();
        }),
        { numRuns: 60 },
      );
    });
  }
});
