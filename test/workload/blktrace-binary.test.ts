// blktrace binary variants made from the shared little-endian v7 capture inside the test: byte-swapped
// (big-endian) records, v8 (blk_io_trace2) records, per-CPU files, cgroup payloads, huge clock values, and
// damaged files in strict and lenient mode. Each must give the requests the original gives.
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, expect, it } from "vitest";
import { FormatError } from "../../engine/format/format-error.js";
import { collect, describeShared, essence, RUN_SHARED, SAMPLE_BIN, tmpDir } from "./helpers.js";

const V7 = 48;
const NOTIFY = 0x400 << 16;

/** The records of a little-endian v7 file, as separate buffers. */
function records(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < buf.length; ) {
    const len = V7 + buf.readUInt16LE(o + 46);
    out.push(Buffer.from(buf.subarray(o, o + len)));
    o += len;
  }
  return out;
}

function swap(b: Buffer, o: number, n: number): void {
  b.subarray(o, o + n).reverse();
}

/** A v7 LE record in big-endian order: every header field swapped; remap/split payloads are big-endian already. */
function toBigEndian(r: Buffer): Buffer {
  const b = Buffer.from(r);
  for (const o of [0, 4, 24, 28, 32, 36, 40]) swap(b, o, 4);
  swap(b, 8, 8);
  swap(b, 16, 8);
  swap(b, 44, 2);
  swap(b, 46, 2);
  const action = r.readUInt32LE(28);
  // a timestamp notify carries two native-order u32
  if (action & NOTIFY && (action & 0xff) === 1) for (let o = V7; o + 4 <= b.length; o += 4) swap(b, o, 4);
  return b;
}

/** The same record as blk_io_trace2 (64-byte header, 64-bit action), little- or big-endian. */
function toV8(r: Buffer, le: boolean): Buffer {
  const pdu = r.subarray(V7);
  const b = Buffer.alloc(64 + pdu.length);
  const w32 = (o: number, v: number): number => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const w16 = (o: number, v: number): number => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const w64 = (o: number, hi: number, lo: number): void => {
    w32(le ? o : o + 4, lo);
    w32(le ? o + 4 : o, hi);
  };
  w32(0, 0x65617408);
  w32(4, r.readUInt32LE(4));
  w64(8, r.readUInt32LE(12), r.readUInt32LE(8));
  w64(16, r.readUInt32LE(20), r.readUInt32LE(16));
  w32(24, r.readUInt32LE(24));
  w32(28, r.readUInt32LE(32)); // pid
  w64(32, 0, r.readUInt32LE(28)); // action
  w32(40, r.readUInt32LE(36));
  w32(44, r.readUInt32LE(40));
  w16(48, r.readUInt16LE(44));
  w16(50, pdu.length);
  pdu.copy(b, 64);
  return b;
}

let dir: string;
let recs: Buffer[];
let want: ReturnType<typeof essence>[];
const write = (name: string, parts: Buffer[]): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.concat(parts));
  return p;
};

beforeAll(() => {
  if (!RUN_SHARED) return;
  dir = tmpDir("blktrace");
  recs = records(fs.readFileSync(SAMPLE_BIN));
  want = collect(SAMPLE_BIN).reqs.map(essence);
});

describeShared("blktrace binary variants", () => {
  it("reads big-endian records (byte order from the magic)", () => {
    const p = write("be.bin", recs.map(toBigEndian));
    expect(fs.readFileSync(p).subarray(0, 4)).toEqual(Buffer.from([0x65, 0x61, 0x74, 0x07]));
    expect(collect(p).reqs.map(essence)).toEqual(want);
    expect(collect(p, { undoRemap: true }).reqs.map(essence)).toEqual(collect(SAMPLE_BIN, { undoRemap: true }).reqs.map(essence));
  });

  it("reads v8 records in both byte orders", () => {
    for (const le of [true, false]) {
      const p = write(`v8-${le ? "le" : "be"}.bin`, recs.map((r) => toV8(r, le)));
      expect(collect(p).reqs.map(essence)).toEqual(want);
      expect(collect(p, { events: "C", undoRemap: true }).reqs.map(essence)).toEqual(collect(SAMPLE_BIN, { events: "C", undoRemap: true }).reqs.map(essence));
    }
  });

  it("merges per-CPU files by time, given NAME or any NAME.blktrace.N", () => {
    const files: Buffer[][] = [[], []];
    let group = -1;
    for (const r of recs) {
      const action = r.readUInt32LE(28);
      if ((action & 0xff) === 15 && !(action & NOTIFY)) group++; // each I/O opens with its remap
      const cpu = action & NOTIFY ? 0 : group % 2;
      const c = Buffer.from(r);
      c.writeUInt32LE(cpu, 40);
      files[cpu]!.push(c);
    }
    write("split.blktrace.0", files[0]!);
    write("split.blktrace.1", files[1]!);
    for (const name of ["split", "split.blktrace.0", "split.blktrace.1"]) {
      const got = collect(path.join(dir, name));
      expect(got.reqs.map(essence), name).toEqual(want);
      expect(got.notices.some((n) => n.includes("named for cpu"))).toBe(false);
      expect(got.reqs[0]!.source).toBe("split.blktrace.0#2");
      expect(got.reqs[1]!.source).toBe("split.blktrace.1#2");
    }
  });

  it("says so when NAME has neither a file nor per-CPU files", () => {
    expect(() => collect(path.join(dir, "nothing-here"))).toThrow(/no such file|ENOENT/i);
  });

  it("skips the cgroup id that leads the payload of cgroup-flagged records", () => {
    const withCgroup = recs.map((r) => {
      const action = r.readUInt32LE(28);
      if ((action & 0xff) !== 15 || action & NOTIFY) return r;
      const b = Buffer.concat([r.subarray(0, V7), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]), r.subarray(V7)]);
      b.writeUInt32LE(action | 0x100, 28);
      b.writeUInt16LE(r.readUInt16LE(46) + 8, 46);
      return b;
    });
    const p = write("cgroup.bin", withCgroup);
    expect(collect(p, { undoRemap: true }).reqs.map(essence)).toEqual(collect(SAMPLE_BIN, { undoRemap: true }).reqs.map(essence));
  });

  it("keeps times exact when the clock is past 2^53 ns (over 104 days of uptime)", () => {
    const late = recs.map((r) => {
      const b = Buffer.from(r);
      b.writeUInt32LE(r.readUInt32LE(12) + 0x10000000, 12);
      return b;
    });
    expect(collect(write("late.bin", late)).reqs.map(essence)).toEqual(want);
  });

  it("strict: a bad magic is a FormatError naming record, field and offset; lenient: skipped, and the reader resyncs", () => {
    const bad = recs.map((r) => Buffer.from(r));
    const q = bad.findIndex((r, i) => i > 100 && (r.readUInt32LE(28) & 0xff) === 1);
    bad[q]!.writeUInt32LE(0xdeadbeef, 0);
    const offset = bad.slice(0, q).reduce((n, r) => n + r.length, 0);
    const p = write("bad-magic.bin", bad);
    let err: unknown;
    try {
      collect(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe(`${p}: blktrace record #${q + 1}.magic at offset 0x${offset.toString(16)}: 0xefbeadde (bytes) is not a blktrace v7/v8 magic`);
    const lenient = collect(p, { lenient: true });
    expect(lenient.stats.skipped).toBe(1);
    expect(lenient.reqs.length).toBe(962);
    expect(lenient.notices.some((n) => n.includes("skipped blktrace record"))).toBe(true);
  });

  it("strict: a truncated last record is an error; lenient: counted", () => {
    const whole = Buffer.concat(recs);
    const p = path.join(dir, "cut.bin");
    fs.writeFileSync(p, whole.subarray(0, whole.length - 10));
    expect(() => collect(p)).toThrow(/truncated/);
    const lenient = collect(p, { lenient: true });
    expect(lenient.reqs.length).toBe(963); // the lost record is the last completion
    expect(lenient.stats.skipped).toBe(1);
  });
});
