// The small pieces behind info/map/export: printf %g and size_to_str against C and qemu-img, QEMU's backing name
// resolution, format probing, SEEK_DATA/SEEK_HOLE through FileStorage, and export's refusal to overwrite its input.
import { execFileSync } from "node:child_process";
import { closeSync, ftruncateSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { exportRaw } from "../../engine/check/export.js";
import { formatG, fullBackingFilename, imageInfo, infoHuman, probeFormat, sizeToStr } from "../../engine/check/info.js";
import { openForInspection } from "../../engine/check/open-inspection.js";
import { FileStorage } from "../../engine/storage/file-storage.js";
import { seekHoleAvailable } from "../../engine/storage/seek-hole.js";
import { qemuImg, qemuIo, tmpDir } from "../format/qemu-images.js";

const tmp = tmpDir("qcowdbg-inspect-units-");
afterAll(() => tmp.cleanup());

describe("printf and size_to_str", () => {
  it("formats %.3g as C does", () => {
    // Values printed by C's printf("%.3g") (Python's % operator uses the same rules).
    const cases: [number, string][] = [
      [999.6, "1e+03"],
      [0.000123456, "0.000123"],
      [123456, "1.23e+05"],
      [1.5, "1.5"],
      [100, "100"],
      [0.9765625, "0.977"],
      [0.99951171875, "1"],
      [1e-5, "1e-05"],
      [15.999, "16"],
    ];
    for (const [v, s] of cases) expect(formatG(v, 3), String(v)).toBe(s);
  });

  it("prints virtual sizes as qemu-img info does", () => {
    const sizes = [0, 512, 1536, 1000 * 512, 1023 * 1024, 1024 * 1024 - 512, 999 * 1024 * 1024, 10 ** 9, 5 * 2 ** 30 + 512, 2 ** 40, 1000 * 2 ** 40];
    for (const size of sizes) {
      const f = tmp.path(`size-${size}.qcow2`);
      qemuImg("create", "-q", "-f", "qcow2", f, String(size));
      const line = qemuImg("info", f).split("\n").find((l) => l.startsWith("virtual size:"));
      expect(`virtual size: ${sizeToStr(size)} (${size} bytes)`).toBe(line);
      expect(infoHuman(imageInfo(f))).toContain(`${line}\n`);
    }
    expect(sizeToStr(1000)).toBe("0.977 KiB");
    expect(sizeToStr(999)).toBe("999 B");
  });
});

describe("backing file names (bdrv_get_full_backing_filename)", () => {
  it("joins a relative name to the overlay's directory without normalising", () => {
    expect(fullBackingFilename("top.qcow2", "base.raw")).toBe("base.raw");
    expect(fullBackingFilename("./dir/top.qcow2", "../base.raw")).toBe("./dir/../base.raw");
    expect(fullBackingFilename("/abs/top.qcow2", "base.raw")).toBe("/abs/base.raw");
  });
  it("keeps absolute and protocol names as they are", () => {
    expect(fullBackingFilename("dir/top.qcow2", "/x/base.raw")).toBe("/x/base.raw");
    expect(fullBackingFilename("dir/top.qcow2", "nbd:localhost:10809")).toBe("nbd:localhost:10809");
    // A ':' after a '/' is part of a path, not a protocol.
    expect(fullBackingFilename("dir/top.qcow2", "sub/a:b")).toBe("dir/sub/a:b");
  });
});

describe("format probing", () => {
  it("tells qcow2 from raw and names formats it does not open", () => {
    const q = tmp.path("probe.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", q, "1M");
    expect(probeFormat(q)).toBe("qcow2");
    const r = tmp.path("probe.raw");
    writeFileSync(r, Buffer.alloc(4096, 7));
    expect(probeFormat(r)).toBe("raw");
    const empty = tmp.path("empty.raw");
    writeFileSync(empty, "");
    expect(probeFormat(empty)).toBe("raw");
    const vmdk = tmp.path("probe.vmdk");
    qemuImg("create", "-q", "-f", "vmdk", vmdk, "1M");
    expect(() => probeFormat(vmdk)).toThrow(/vmdk image/);
    const v1 = tmp.path("v1.qcow");
    qemuImg("create", "-q", "-f", "qcow", v1, "1M");
    expect(() => probeFormat(v1)).toThrow(/qcow \(version 1\)/);
  });
});

describe.skipIf(!seekHoleAvailable())("FileStorage.holeStatus (SEEK_DATA/SEEK_HOLE)", () => {
  it("reports data, holes and the trailing hole, and forgets them after a write", () => {
    const f = tmp.path("holes.bin");
    const fd = openSync(f, "w");
    writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 1 << 20);
    ftruncateSync(fd, 4 << 20);
    closeSync(fd);
    const s = new FileStorage(f, true);
    try {
      expect(s.holeStatus(0, 8 << 20)).toEqual({ zero: true, bytes: 1 << 20 });
      expect(s.holeStatus(4096, 100)).toEqual({ zero: true, bytes: 100 });
      const data = s.holeStatus(1 << 20, 8 << 20);
      expect(data.zero).toBe(false);
      expect(data.bytes % 4096).toBe(0);
      const after = (1 << 20) + data.bytes;
      expect(s.holeStatus(after, 1 << 20)).toEqual({ zero: true, bytes: 1 << 20 });
      expect(s.holeStatus(10 << 20, 512)).toEqual({ zero: true, bytes: 512 });
      s.write(new Uint8Array(4096).fill(2), 0);
      expect(s.holeStatus(0, 4096)).toEqual({ zero: false, bytes: 4096 });
    } finally {
      s.close();
    }
  });
});

describe("export", () => {
  it("refuses to write over the image, its backing file or its data file", () => {
    const base = tmp.path("exp-base.raw");
    writeFileSync(base, Buffer.alloc(65536, 3));
    const top = tmp.path("exp-top.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", top, "1M");
    const df = tmp.path("exp-df.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", "-o", `data_file=${tmp.path("exp-df.data")}`, df, "1M");
    const before = readFileSync(base);
    for (const [image, out] of [
      [top, top],
      [top, base],
      [df, tmp.path("exp-df.data")],
    ] as const) {
      const node = openForInspection(image);
      try {
        expect(() => exportRaw(node, out), `${image} -> ${out}`).toThrow(/would overwrite (the image|a backing file|the image.s data file)/);
      } finally {
        node.close();
      }
    }
    expect(readFileSync(base).equals(before)).toBe(true);
    expect(probeFormat(top)).toBe("qcow2");
  });

  it("overwrites another existing file, leaving zero blocks as holes", () => {
    const img = tmp.path("exp-sparse.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "8M");
    qemuIo(img, "write -P 1 0 4k", "write -P 0 64k 64k", "write -P 2 5M 4k");
    const out = tmp.path("exp-out.raw");
    writeFileSync(out, Buffer.alloc(16 << 20, 9));
    const node = openForInspection(img);
    try {
      const r = exportRaw(node, out);
      expect(r.size).toBe(8 << 20);
      // Only the two non-zero 4 KiB blocks are written; the explicitly written zeroes stay a hole.
      expect(r.written).toBe(8192);
    } finally {
      node.close();
    }
    const bytes = readFileSync(out);
    expect(bytes.length).toBe(8 << 20);
    expect(bytes[0]).toBe(1);
    expect(bytes[5 << 20]).toBe(2);
    expect(bytes.subarray(4096, 5 << 20).every((b) => b === 0)).toBe(true);
    const want = tmp.path("exp-want.raw");
    execFileSync("qemu-img", ["convert", "-O", "raw", img, want]);
    expect(bytes.equals(readFileSync(want))).toBe(true);
    expect(statSync(out).blocks * 512).toBeLessThan(1 << 20);
  });
});
