import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { put16, put32, type ReadAt } from "../../engine/format/bytes.js";
import { FormatError } from "../../engine/format/format-error.js";
import {
  decodeSnapshotTable,
  encodeSnapshotTable,
  MAX_SNAPSHOTS_SIZE,
  type Snapshot,
  snapshotProblems,
} from "../../engine/format/snapshot-table.js";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";
import { infoJson, type LoadedImage, loadImage, qemuImg, qemuIo, tmpDir } from "./qemu-images.js";
import { v3Header } from "../shared/header.js";

const FILE = "s.qcow2";
const TABLE = 0x20000;

const header = v3Header;

function snap(i: number, over: Partial<Snapshot> = {}): Snapshot {
  return {
    index: i,
    offset: 0,
    l1TableOffset: 0x40000 + i * 0x10000,
    l1Size: 2,
    id: String(i + 1),
    name: `snap-${i}`,
    dateSec: 1700000000 + i,
    dateNsec: 123456789,
    vmClockNsec: 5_000_000_123,
    vmStateSize: 0,
    extraDataSize: 24,
    vmStateSizeLarge: 0,
    diskSize: 2 ** 30,
    icount: 42,
    extra: new Uint8Array(24),
    ...over,
  };
}

/** The table placed at TABLE in a file of `fileSize` bytes. */
function image(table: Uint8Array, fileSize = 0x100000): { read: ReadAt; size: number } {
  const m = new MemoryStorage(FILE, new Uint8Array(fileSize));
  m.write(table, TABLE);
  return { read: (b, o) => m.read(b, o), size: m.size() };
}

function decodeBack(snaps: Snapshot[], h = header({ nbSnapshots: snaps.length, snapshotsOffset: TABLE })): Snapshot[] {
  const img = image(encodeSnapshotTable(snaps));
  return decodeSnapshotTable(img.read, h, img.size, FILE);
}

function fieldOf(f: () => unknown): FormatError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error("did not throw");
}

describe("snapshot table encode/decode", () => {
  it("round trips every field, entries aligned to 8", () => {
    const snaps = [snap(0), snap(1, { name: "a longer name with spaces", id: "17", vmStateSize: 4096, vmStateSizeLarge: 4096 }), snap(2)];
    const back = decodeBack(snaps);
    expect(back.map((s) => s.offset)).toEqual([TABLE, TABLE + 72, TABLE + 72 + 96]);
    back.forEach((s, i) => {
      const { offset: _o, size: _s, extra: _e, ...rest } = s;
      const { offset: _o2, extra: _e2, ...want } = snaps[i]!;
      expect(rest).toEqual(want);
    });
    expect(back[1]!.extra).toEqual(encodeSnapshotTable([snaps[1]!]).subarray(40, 64));
  });

  it("keeps unknown extra data and shorter (v2-era) extra data", () => {
    const unknown = new Uint8Array(40).fill(7);
    const withUnknown = snap(0, { extraDataSize: 40, extra: unknown });
    const [a] = decodeBack([withUnknown]);
    expect(a!.extraDataSize).toBe(40);
    expect(Array.from(a!.extra.subarray(24))).toEqual(new Array(16).fill(7));
    expect(a!.icount).toBe(42);

    const bare = snap(0, { extraDataSize: 0, extra: new Uint8Array(0), vmStateSizeLarge: undefined, diskSize: undefined, icount: undefined });
    const [b] = decodeBack([bare], header({ version: 2, nbSnapshots: 1, snapshotsOffset: TABLE, headerLength: 72 }));
    expect(b!.extraDataSize).toBe(0);
    expect(b!.diskSize).toBeUndefined();
    expect(b!.vmStateSizeLarge).toBeUndefined();

    const sixteen = snap(0, { extraDataSize: 16, extra: new Uint8Array(0), icount: undefined });
    const [c] = decodeBack([sixteen]);
    expect(c!.extraDataSize).toBe(16);
    expect(c!.diskSize).toBe(2 ** 30);
    expect(c!.icount).toBeUndefined();
  });

  it("reads QEMU's 'no icount' (all ones) as absent and keeps the bytes", () => {
    const extra = new Uint8Array(24);
    extra.fill(0xff, 16);
    const [s] = decodeBack([snap(0, { extra, icount: undefined })]);
    expect(s!.icount).toBeUndefined();
    expect(encodeSnapshotTable([s!])).toEqual(encodeSnapshotTable([snap(0, { extra, icount: undefined })]));
  });

  it("an empty table reads nothing", () => {
    const read: ReadAt = () => {
      throw new Error("must not read");
    };
    expect(decodeSnapshotTable(read, header(), 0x100000, FILE)).toEqual([]);
  });
});

describe("snapshot table limits QEMU enforces at open", () => {
  it("extra_data_size above 1024", () => {
    const t = encodeSnapshotTable([snap(0)]);
    put32(t, 36, 1025);
    const img = image(t, TABLE + 0x10000);
    const e = fieldOf(() => decodeSnapshotTable(img.read, header({ nbSnapshots: 1, snapshotsOffset: TABLE }), img.size, FILE));
    expect([e.structure, e.field, e.offset]).toEqual(["snapshot table", "extra_data_size", TABLE + 36]);
    expect(e.message).toMatch(/1025 bytes of extra data exceed QEMU's limit of 1024/);
    expect(e.message).toContain(FILE);
  });

  it("a table over 64 MiB", () => {
    // Every entry claims 64 KiB id and name: the 513th ends past 64 MiB.
    const entry = new Uint8Array(40);
    put16(entry, 12, 0xffff);
    put16(entry, 14, 0xffff);
    put32(entry, 36, 0);
    const read: ReadAt = (b) => {
      b.fill(0);
      if (b.length === 40) b.set(entry);
      return b.length;
    };
    const n = Math.ceil(MAX_SNAPSHOTS_SIZE / (40 + 2 * 0xffff)) + 1;
    const e = fieldOf(() => decodeSnapshotTable(read, header({ nbSnapshots: n, snapshotsOffset: TABLE }), 2 ** 40, FILE));
    expect(e.field).toBe("nb_snapshots");
    expect(e.message).toMatch(/64 MiB/);
  });

  it("too many snapshots, unaligned table, L1 offset beyond 2^53", () => {
    const read: ReadAt = (b) => b.fill(0).length;
    expect(fieldOf(() => decodeSnapshotTable(read, header({ nbSnapshots: 65537, snapshotsOffset: TABLE }), 2 ** 30, FILE)).field).toBe("nb_snapshots");
    expect(fieldOf(() => decodeSnapshotTable(read, header({ nbSnapshots: 1, snapshotsOffset: TABLE + 8 }), 2 ** 30, FILE)).field).toBe("snapshots_offset");
    const t = encodeSnapshotTable([snap(0)]);
    put32(t, 0, 0x00200000);
    const img = image(t);
    const e = fieldOf(() => decodeSnapshotTable(img.read, header({ nbSnapshots: 1, snapshotsOffset: TABLE }), img.size, FILE));
    expect([e.field, e.offset]).toEqual(["l1_table_offset", TABLE]);
  });
});

describe("snapshot problems qemu-img check reports", () => {
  const h = header({ nbSnapshots: 4, snapshotsOffset: TABLE });
  const snaps = [
    snap(0),
    snap(1, { extraDataSize: 8, extra: new Uint8Array(0), diskSize: undefined, icount: undefined }),
    snap(2, { l1TableOffset: 0x40200 }),
    snap(3, { l1Size: 4 * 2 ** 20 + 1 }),
  ];
  const t = encodeSnapshotTable(snaps);

  it("incomplete v3 entries, unaligned and oversized L1 tables; decode itself stays lenient like QEMU's open", () => {
    const img = image(t);
    const back = decodeSnapshotTable(img.read, h, img.size, FILE);
    const p = snapshotProblems(back, h, img.size, FILE);
    expect(p.map((e) => [e.field, e.offset])).toEqual([
      ["extra_data_size", back[1]!.offset + 36],
      ["l1_table_offset", back[2]!.offset],
      ["l1_size", back[3]!.offset + 8],
    ]);
    expect(p[0]!.message).toMatch(/entry 1 is incomplete/);
    expect(p[1]!.message).toMatch(/snapshot 3 \(snap-2\).*not cluster aligned/);
    // strict turns the first problem into an error.
    expect(fieldOf(() => decodeSnapshotTable(img.read, h, img.size, FILE, { strict: true })).field).toBe("extra_data_size");
  });

  it("v2 entries may lack extra data", () => {
    const v2 = header({ version: 2, nbSnapshots: 1, snapshotsOffset: TABLE, headerLength: 72 });
    const img = image(encodeSnapshotTable([snaps[1]!]));
    expect(snapshotProblems(decodeSnapshotTable(img.read, v2, img.size, FILE), v2, img.size, FILE)).toEqual([]);
  });

  it("a table past the end of the file reads as zeros (as QEMU does) and is reported", () => {
    const read: ReadAt = (b) => b.fill(0).length * 0;
    const back = decodeSnapshotTable(read, header({ nbSnapshots: 2, snapshotsOffset: 0x100000 }), 0x50000, FILE);
    expect(back.map((s) => [s.id, s.name, s.l1TableOffset, s.extraDataSize])).toEqual([
      ["", "", 0, 0],
      ["", "", 0, 0],
    ]);
    const p = snapshotProblems(back, header({ nbSnapshots: 2, snapshotsOffset: 0x100000 }), 0x50000, FILE);
    expect(p.map((e) => e.field)).toEqual(["nb_snapshots", "extra_data_size", "nb_snapshots", "extra_data_size"]);
    expect(p[0]!.message).toMatch(/past the end of the file/);
  });

  it("an L1 table past the end of the file", () => {
    const img = image(encodeSnapshotTable([snap(0, { l1TableOffset: 0x800000 })]));
    const hh = header({ nbSnapshots: 1, snapshotsOffset: TABLE });
    const p = snapshotProblems(decodeSnapshotTable(img.read, hh, img.size, FILE), hh, img.size, FILE);
    expect(p.map((e) => e.field)).toEqual(["l1_table_offset"]);
    expect(p[0]!.message).toMatch(/runs past the end of the file/);
  });
});

describe("snapshot tables written by qemu-img", () => {
  const tmp = tmpDir();
  let img: LoadedImage;
  const f = tmp.path("snap.qcow2");
  beforeAll(() => {
    qemuImg("create", "-q", "-f", "qcow2", f, "64M");
    qemuIo(f, "write -P 1 0 128k");
    qemuImg("snapshot", "-c", "first", f);
    qemuIo(f, "write -P 2 64k 64k");
    qemuImg("snapshot", "-c", "second one", f);
    qemuImg("snapshot", "-c", "third", f);
    qemuImg("snapshot", "-d", "second one", f);
    img = loadImage(f);
  });
  afterAll(() => tmp.cleanup());

  it("decodes what qemu-img info lists", () => {
    const snaps = decodeSnapshotTable(img.read, img.header, img.bytes.length, f, { strict: true });
    const info = infoJson(f).snapshots as Record<string, number | string>[];
    expect(snaps.map((s) => ({ id: s.id, name: s.name, "date-sec": s.dateSec, "date-nsec": s.dateNsec, "vm-clock-nsec": s.vmClockNsec % 1e9, "vm-clock-sec": Math.floor(s.vmClockNsec / 1e9), "vm-state-size": s.vmStateSizeLarge, icount: s.icount }))).toEqual(
      info.map((s) => ({ id: s.id, name: s.name, "date-sec": s["date-sec"], "date-nsec": s["date-nsec"], "vm-clock-nsec": s["vm-clock-nsec"], "vm-clock-sec": s["vm-clock-sec"], "vm-state-size": s["vm-state-size"], icount: s.icount })),
    );
    expect(snaps.map((s) => s.diskSize)).toEqual([64 * 2 ** 20, 64 * 2 ** 20]);
    expect(snaps.every((s) => s.l1TableOffset % 65536 === 0 && s.l1Size === img.header.l1Size)).toBe(true);
  });

  it("encodes the table byte for byte as QEMU wrote it", () => {
    const snaps = decodeSnapshotTable(img.read, img.header, img.bytes.length, f);
    const enc = encodeSnapshotTable(snaps);
    expect(enc).toEqual(img.bytes.slice(img.header.snapshotsOffset, img.header.snapshotsOffset + enc.length));
  });
});
