// The shadow layer must behave exactly like a private copy of the file, and never write to the file itself.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ShadowStorage } from "../../engine/storage/shadow-storage.js";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";
import { sweepStaleSidecars } from "../../engine/storage/shadow-sidecar.js";
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
  // Bytes that are not one run (a page of them is kept whole, and spills past the memory limit).
  fc.record({ t: fc.constant("wr" as const), off: fc.integer({ min: 0, max: 300_000 }), len: fc.integer({ min: 1, max: 70_000 }), v: fc.integer({ min: 1, max: 255 }) }),
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
            if (o.t === "w" || o.t === "wr") {
              const b = o.t === "w" ? new Uint8Array(o.len).fill(o.v) : new Uint8Array(o.len).map((_, i) => (i * o.v + (i >> 7)) & 0xff);
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

describe("ShadowStorage pages and temp files", () => {
  it("keeps pattern writes as runs: 4,000 scattered 4 KiB writes take no temp file and little memory", () => {
    const shadow = new ShadowStorage(new ReadOnly("base", new Uint8Array(0)), 1024 * 1024, 0);
    const b = new Uint8Array(4096).fill(0xcd);
    for (let i = 0; i < 4000; i++) shadow.write(b, i * 65536 + 8192);
    expect(shadow.spilled()).toBe(false);
    const r = new Uint8Array(65536);
    shadow.read(r, 7 * 65536);
    expect(r.subarray(0, 8192).every((x) => x === 0)).toBe(true);
    expect(r.subarray(8192, 12288).every((x) => x === 0xcd)).toBe(true);
    expect(r.subarray(12288).every((x) => x === 0)).toBe(true);
    shadow.dispose();
  });

  it("stops at the temp limit with an error naming it, and the layer stays readable as before", () => {
    const shadow = new ShadowStorage(new ReadOnly("base", new Uint8Array(0)), 65536, 2 * 65536);
    const noise = (seed: number) => new Uint8Array(65536).map((_, i) => (i * 31 + seed + (i >> 5)) & 0xff);
    shadow.write(noise(1), 0); // memory
    shadow.write(noise(2), 65536); // sidecar page 1
    shadow.write(noise(3), 2 * 65536); // sidecar page 2
    expect(shadow.tempBytes()).toBe(2 * 65536);
    expect(() => shadow.write(noise(4), 3 * 65536)).toThrow(/more than 0 MiB of temp files|temp files in .* --temp-limit/);
    const r = new Uint8Array(65536);
    shadow.read(r, 2 * 65536);
    expect(Buffer.compare(r, noise(3))).toBe(0);
    shadow.read(r, 3 * 65536);
    expect(r.every((x) => x === 0)).toBe(true);
    shadow.dispose();
  });

  it("leaves no file in the temp directory, even while it is open (unlinked after open)", () => {
    const before = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`qcowdbg-shadow-${process.pid}-`));
    const shadow = new ShadowStorage(new ReadOnly("base", new Uint8Array(0)), 65536);
    for (let i = 0; i < 4; i++) shadow.write(new Uint8Array(65536).map((_, j) => (j * 13 + i + (j >> 3)) & 0xff), i * 65536);
    expect(shadow.spilled()).toBe(true);
    const during = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`qcowdbg-shadow-${process.pid}-`));
    expect(during).toEqual(before);
    shadow.dispose();
  });

  it("removes spill files of processes that are gone, and not those of live ones", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-sweep-"));
    try {
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
      fs.writeFileSync(path.join(dir, `qcowdbg-shadow-${dead}-1.bin`), "x");
      fs.writeFileSync(path.join(dir, `qcowdbg-shadow-${process.pid}-1.bin`), "x");
      fs.writeFileSync(path.join(dir, "unrelated.bin"), "x");
      expect(sweepStaleSidecars(dir)).toBe(1);
      expect(fs.readdirSync(dir).sort()).toEqual([`qcowdbg-shadow-${process.pid}-1.bin`, "unrelated.bin"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
