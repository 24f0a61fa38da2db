// qemu-io scripts and the QEMU trace logs qemu-io 7.2 printed running one (samples/make-traces.sh): the script's
// requests, and the same requests found again in the blk_co_* and bdrv_co_* events of the log.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { sizeOrNull as parseSize, type GuestRequest } from "../../engine/workload/index.js";
import { collect, essence, SAMPLES, tmpDir } from "./helpers.js";

const OPS = path.join(SAMPLES, "ops.qemu-io");
const dir = tmpDir("qemu-io");
let seq = 0;
function file(text: string, ext = ".qemu-io"): string {
  const p = path.join(dir, `s${seq++}${ext}`);
  fs.writeFileSync(p, text);
  return p;
}

type Want = Omit<GuestRequest, "source">;
const at = (i: number, sleptMs = 0): number => i * 1e-6 + sleptMs / 1000;
const w = (i: number, op: GuestRequest["op"], offset: number, length: number, extra: Partial<Want> = {}, ms = 0): Want => ({
  time: at(i, ms), op, offset, length, fua: false, preflush: false, ...extra,
});
const K = 1024;
const OPS_WANT: Want[] = [
  w(0, "write", 0, 64 * K, { pattern: 0x5a }),
  w(1, "write", 64 * K, 4 * K, { pattern: 0o253 }),
  w(2, "write", 128 * K, 64 * K, { compressed: true }),
  w(3, "write-zeroes", 192 * K, 64 * K),
  w(4, "write-zeroes", 256 * K, 64 * K, { mayUnmap: true }),
  w(5, "write", 320 * K, 4 * K, { fua: true, pattern: 0x11 }),
  w(6, "write", 384 * K, 8 * K, { pattern: 0x22 }),
  w(7, "write", 448 * K, 8 * K, { pattern: 0x33 }),
  w(8, "write-zeroes", 512 * K, 64 * K),
  w(9, "read", 0, 64 * K, { pattern: 0x5a }),
  w(10, "read", 64 * K, 4 * K, { pattern: 171 }),
  w(11, "read", 384 * K, 8 * K, { pattern: 0x22 }),
  w(12, "read", 448 * K, 8 * K, { pattern: 0x33 }),
  w(13, "read", 0, 512),
  w(14, "write", 1024 * K, 4 * K, { pattern: 0x44 }),
  w(15, "discard", 1024 * K, 64 * K),
  w(16, "flush", 0, 0),
  w(17, "write", 1536 * K, 512, { pattern: 1 }, 2),
  w(18, "read", 1536 * K, 512, { pattern: 1 }, 2),
  w(19, "flush", 0, 0, {}, 2),
];

describe("qemu-io scripts", () => {
  it("ops.qemu-io: one request per I/O command, options as qemu-io reads them", () => {
    const { reqs } = collect(OPS);
    expect(reqs.map(essence)).toEqual(OPS_WANT);
    expect(reqs[0]!.source).toBe("ops.qemu-io:1");
  });

  it("tour.qemu-io: every line is one request", () => {
    const p = path.join(SAMPLES, "tour.qemu-io");
    const lines = fs.readFileSync(p, "utf8").split("\n").filter((l) => l.trim() !== "");
    const { reqs } = collect(p);
    expect(reqs.length).toBe(lines.length);
    reqs.forEach((r, i) => {
      const words = lines[i]!.trim().split(/\s+/);
      expect(r.op).toBe(words[0] === "discard" ? "discard" : words[0] === "flush" ? "flush" : words.includes("-z") ? "write-zeroes" : words[0]);
      if (r.op !== "flush") {
        expect(r.offset).toBe(parseSize(words[words.length - 2]!));
        expect(r.length).toBe(parseSize(words[words.length - 1]!));
      }
    });
  });

  it("comments, combined flags, options after operands, readv lengths, sleep", () => {
    const p = file("# a comment\n\nwrite -zu 0 4k  # trailing\nwrite 8k 4k -P 0x10\nreadv 0 512 1k 0x200\nsleep 0x10\naio_read -i 0 4k\nflush\n");
    expect(collect(p).reqs.map(essence)).toEqual([
      w(0, "write-zeroes", 0, 4096, { mayUnmap: true }),
      w(1, "write", 8192, 4096, { pattern: 16 }),
      w(2, "read", 0, 2048),
      w(3, "flush", 0, 0, {}, 16),
    ]);
  });

  it("strict errors name the line; lenient skips", () => {
    const cases: [string, string][] = [
      ["read 0 4k\nfrobnicate 1 2\n", ':2: unknown qemu-io command "frobnicate"'],
      ["write 0 1.5\n", ':1: write: "1.5" is not a size (e.g. 512, 4k, 1M, 0x1000)'],
      ["write -P 256 0 4k\n", ':1: write: bad pattern "256" (a byte: 0..255, 0x.. or 0..)'],
      ["write -z -P 1 0 4k\n", ":1: write: only one of -z, -P and -s can be given"],
      ["read 0\n", ":1: read: expected OFFSET LENGTH"],
      ["write -Q 0 4k\n", ":1: write: invalid option -- 'Q'"],
      ["flush now\n", ":1: flush: expected no arguments"],
      ["sleep soon\n", ":1: sleep needs a number of milliseconds"],
    ];
    for (const [text, msg] of cases) {
      const p = file(text);
      expect(() => collect(p, { format: "qemu-io" })).toThrow(`${p}${msg}`);
    }
    const p = file("write 0 4k\nbogus\nwrite 0 x\nread 0 4k\n");
    const { reqs, stats } = collect(p, { lenient: true });
    expect(reqs.map((r) => r.op)).toEqual(["write", "read"]);
    expect(stats.skipped).toBe(2);
  });

  it("does not replay what does not reach the guest disk", () => {
    const p = file("write -b 0 4k\nopen -r x\ninfo\nmap\naio_flush\nread 0 0\nwrite 0 4k\n");
    const { reqs, notices } = collect(p);
    expect(reqs.length).toBe(1);
    expect(reqs[0]!.time).toBe(0);
    expect(notices.some((n) => n.includes("VM state"))).toBe(true);
    expect(notices.some((n) => n.includes('"open" is not replayed'))).toBe(true);
  });

  it("sizes as qemu's cvtnum reads them", () => {
    expect(parseSize("512")).toBe(512);
    expect(parseSize("4k")).toBe(4096);
    expect(parseSize("4K")).toBe(4096);
    expect(parseSize("1M")).toBe(1 << 20);
    expect(parseSize("1.5M")).toBe(1.5 * (1 << 20));
    expect(parseSize("2G")).toBe(2 ** 31);
    expect(parseSize("0x1000")).toBe(4096);
    expect(parseSize("1.5")).toBeNull();
    expect(parseSize("-1")).toBeNull();
    expect(parseSize("4kb")).toBeNull();
    expect(parseSize("16E")).toBeNull(); // past 2^53
  });
});

describe("QEMU trace logs", () => {
  const dataOps = OPS_WANT.filter((r) => r.op !== "flush" && r.op !== "discard"); // QEMU 7.2 has no trace event for those
  const shape = (r: Want | GuestRequest) => ({ op: r.op, offset: r.offset, length: r.length });

  it("blk_co_* events give the script's requests; the probe's throw-away BlockBackend and qcow2_* lines are ignored", () => {
    const { reqs, notices } = collect(path.join(SAMPLES, "ops.blk.qemu-trace"));
    expect(reqs.map((r) => ({ ...shape(r), fua: r.fua, compressed: r.compressed, mayUnmap: r.mayUnmap }))).toEqual(
      dataOps.map((r) => ({ ...shape(r), fua: r.fua, compressed: r.compressed, mayUnmap: r.mayUnmap })),
    );
    expect(reqs.map((r) => r.time)).toEqual(dataOps.map((_, i) => at(i)));
    expect(new Set(reqs.map((r) => r.device)).size).toBe(1);
    expect(notices.some((n) => n.includes("2 blk values"))).toBe(true);
  });

  it("bdrv_co_* events: the guest's node is told from its file child", () => {
    const { reqs } = collect(path.join(SAMPLES, "ops.bdrv.qemu-trace"));
    expect(reqs.map(shape)).toEqual(dataOps.map(shape));
  });

  it("reads arguments by name, timestamps from PID@SEC.USEC:, and virtio sectors", () => {
    const p = file(
      [
        "1234@1700000000.500000:virtio_blk_handle_write vdev 0x55aa req 0x1 sector 8 nsectors 16",
        "1234@1700000000.500250:qcow2_writev_start_req co 0x1 offset 0x1000 bytes 8192",
        "1234@1700000001.000001:virtio_blk_handle_read nsectors 1 sector 2048 req 0x2 vdev 0x55aa",
        "1234@1700000001.100000:virtio_blk_handle_read vdev 0x66bb req 0x3 sector 0 nsectors 8",
        "1234@1700000001.200000:blk_co_preadv blk 0x77 bs 0x88 offset 0 bytes 4096 flags 0x0",
        "some program output",
      ].join("\n") + "\n",
      ".log",
    );
    const { reqs, notices } = collect(p);
    expect(reqs.map(essence)).toEqual([
      { time: 0, op: "write", offset: 4096, length: 8192, fua: false, preflush: false, device: "0x55aa" },
      { time: 0.500001, op: "read", offset: 2048 * 512, length: 512, fua: false, preflush: false, device: "0x55aa" },
    ]);
    expect(notices.join("\n")).toContain("taken from the virtio events");
    const other = collect(p, { device: "0x66bb" }).reqs;
    expect(other.map((r) => [r.offset, r.length, r.time])).toEqual([[0, 4096, 0.6]]);
  });

  it("flags: zero write, unmap, FUA, compressed; strict errors for request events without their arguments", () => {
    const p = file(
      [
        "blk_co_pwritev blk 0x1 bs 0x2 offset 0 bytes 65536 flags 0x6",
        "blk_co_pwritev blk 0x1 bs 0x2 offset 65536 bytes 4096 flags 0x30",
        "blk_co_pwrite_zeroes blk 0x1 offset 131072 bytes 512 flags 0",
        "blk_co_pdiscard blk 0x1 offset 0 bytes 4096",
        "blk_co_flush blk 0x1",
      ].join("\n") + "\n",
      ".log",
    );
    expect(collect(p).reqs.map((r) => [r.op, r.offset, r.length, r.fua, r.mayUnmap ?? false, r.compressed ?? false])).toEqual([
      ["write-zeroes", 0, 65536, false, true, false],
      ["write", 65536, 4096, true, false, true],
      ["write-zeroes", 131072, 512, false, false, false],
      ["discard", 0, 4096, false, false, false],
      ["flush", 0, 0, false, false, false],
    ]);
    const bad = file("blk_co_preadv blk 0x1 bs 0x2 offset 0 flags 0x0\n", ".log");
    expect(() => collect(bad)).toThrow(`${bad}:1: blk_co_preadv: needs offset/sector and bytes/nsectors arguments`);
  });
});
