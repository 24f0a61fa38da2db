// Random damage to the metadata of real images (header fields, L1/L2 tables, refcount table and blocks, snapshot
// table and snapshot L1 tables), checked by both qemu-img and qcowdbg: same output, same exit code, every time.
// Seeds are fixed, so a failure names the seed that reproduces it.
import { afterAll, describe, expect, it } from "vitest";
import { copyFileSync } from "node:fs";
import { Layout, ourCheck, qemuCheck, qemuImg, qemuIo, Scratch } from "./oracle.js";
import { prng } from "../shared/prng.js";

const s = new Scratch();
afterAll(() => s.cleanup());


interface Region {
  offset: number;
  length: number;
}

/** Where the image keeps metadata: the places worth damaging. */
function metadataRegions(l: Layout): Region[] {
  const cs = l.clusterSize;
  const regions: Region[] = [{ offset: 8, length: 104 }];
  const l1Size = l.u32(36);
  regions.push({ offset: l.l1Offset, length: l1Size * 8 });
  const tablesOf = (l1Offset: number, size: number) => {
    for (let i = 0; i < size; i++) {
      const e = Number(l.u64(l1Offset + 8 * i) & 0x00fffffffffffe00n);
      if (e !== 0 && e + cs <= l.size()) regions.push({ offset: e, length: cs });
    }
  };
  tablesOf(l.l1Offset, l1Size);
  const reftableBytes = l.u32(56) * cs;
  regions.push({ offset: l.reftableOffset, length: reftableBytes });
  for (let i = 0; i < reftableBytes / 8; i++) {
    const b = Number(l.u64(l.reftableOffset + 8 * i) & ~0x1ffn);
    if (b !== 0) regions.push({ offset: b, length: cs });
  }
  const nb = l.u32(60);
  let rel = 0;
  const table = Number(l.u64(64));
  for (let i = 0; i < nb; i++) {
    rel = Math.ceil(rel / 8) * 8;
    const h = l.read(table + rel, 40);
    const len = 40 + h.readUInt32BE(36) + h.readUInt16BE(12) + h.readUInt16BE(14);
    regions.push({ offset: table + rel, length: len });
    const snapL1 = Number(h.readBigUInt64BE(0));
    regions.push({ offset: snapL1, length: h.readUInt32BE(8) * 8 });
    tablesOf(snapL1, h.readUInt32BE(8));
    rel += len;
  }
  // Header extensions, and the bitmap directory and tables the bitmaps extension points to.
  let e = l.u32(4) === 3 ? l.u32(100) : 72;
  while (e + 8 <= cs) {
    const type = l.u32(e);
    const len = l.u32(e + 4);
    if (type === 0) break;
    regions.push({ offset: e, length: 8 + len });
    if (type === 0x23852875 && len === 24) {
      const dirSize = Number(l.u64(e + 16));
      const dir = Number(l.u64(e + 24));
      regions.push({ offset: dir, length: dirSize });
      for (let o = 0; o + 24 <= dirSize; ) {
        const h = l.read(dir + o, 24);
        regions.push({ offset: Number(h.readBigUInt64BE(0)), length: h.readUInt32BE(8) * 8 });
        o += Math.ceil((24 + h.readUInt16BE(18) + h.readUInt32BE(20)) / 8) * 8;
      }
    }
    e += 8 + Math.ceil(len / 8) * 8;
  }
  return regions.filter((r) => r.length > 0 && r.offset + r.length <= l.size());
}

function damage(l: Layout, rnd: () => number): void {
  const regions = metadataRegions(l);
  const edits = 1 + Math.floor(rnd() * 3);
  for (let e = 0; e < edits; e++) {
    const r = regions[Math.floor(rnd() * regions.length)]!;
    const at = r.offset + Math.floor(rnd() * r.length);
    const old = l.read(at, 1)[0]!;
    // Mostly single bit flips (plausible damage), sometimes a whole random byte.
    const value = rnd() < 0.7 ? old ^ (1 << Math.floor(rnd() * 8)) : Math.floor(rnd() * 256);
    l.write(at, Buffer.from([value]));
  }
}

function baseImages(): string[] {
  const a = s.path("base-snap.qcow2");
  qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", a, "8M");
  qemuIo(a, ["write -P 1 0 64k", "write -c -P 2 1M 16k", "write -P 3 3M 8k"]);
  qemuImg("snapshot", "-c", "s1", a);
  qemuIo(a, ["write -P 4 16k 16k", "write -z 1M 4k"]);
  const b = s.path("base-extl2.qcow2");
  qemuImg("create", "-f", "qcow2", "-o", "cluster_size=16384,extended_l2=on,refcount_bits=8", b, "8M");
  qemuIo(b, ["write -P 1 0 3k", "write -c -P 2 64k 16k", "write -P 3 2M 20k", "write -z 4M 16k"]);
  const c = s.path("base-v2.qcow2");
  qemuImg("create", "-f", "qcow2", "-o", "compat=0.10,cluster_size=2048", c, "4M");
  qemuIo(c, ["write -P 1 0 40k", "write -c -P 2 100k 2k"]);
  qemuImg("snapshot", "-c", "s1", c);
  qemuIo(c, ["write -P 3 0 2k"]);
  const d = s.path("base-bitmaps.qcow2");
  qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", d, "8M");
  qemuImg("bitmap", "--add", d, "b0");
  qemuImg("bitmap", "--add", "-g", "65536", d, "b1");
  qemuIo(d, ["write -P 1 0 64k", "write -P 2 2M 1M"]);
  qemuImg("bitmap", "--disable", d, "b1");
  qemuIo(d, ["write -P 3 6M 4k", "abort"]); // leaves b0 in use
  const e = s.path("base-datafile.qcow2");
  qemuImg("create", "-f", "qcow2", "-o", `cluster_size=4096,data_file=${s.path("base-datafile.raw")}`, e, "8M");
  qemuIo(e, ["write -P 1 0 64k", "write -P 2 3M 8k"]);
  return [a, b, c, d, e];
}

describe("random metadata damage: qcowdbg check agrees with qemu-img check", () => {
  const bases = baseImages();
  for (let seed = 1; seed <= 100; seed++) {
    it(`seed ${seed}`, () => {
      const rnd = prng(seed);
      const base = bases[seed % bases.length]!;
      const f = s.path(`fuzz-${seed}.qcow2`);
      copyFileSync(base, f);
      damage(new Layout(f), rnd);
      for (const output of ["human", "json"] as const) {
        const theirs = qemuCheck(f, output);
        // qemu-img aborts on some damage QEMU asserts against (exit 134): nothing to compare then.
        if (theirs.status > 63) continue;
        expect({ ...ourCheck(f, output), output }).toEqual({ ...theirs, output });
      }
    });
  }
});
