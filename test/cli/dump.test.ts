// `qcowdbg dump` run as users run it (node dist/cli/main.js), on images qemu-img makes, checked against what
// qemu-img info / map / check say about the same images.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLuks, infoJson, type Json, qemuImg, qemuIo, tmpDir } from "../format/qemu-images.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

function dump(...args: string[]): string {
  return execFileSync("node", [CLI, "dump", ...args], { encoding: "utf8" });
}
function dumpJson(...args: string[]): Json {
  return JSON.parse(dump(...args, "--output=json"));
}
function fails(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync("node", [CLI, "dump", ...args], { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}

const tmp = tmpDir("qcowdbg-dump-");
const plain = tmp.path("plain.qcow2");
const ext = tmp.path("extl2.qcow2");
const bm = tmp.path("bitmaps.qcow2");
const v2 = tmp.path("v2.qcow2");
const luks = tmp.path("luks.qcow2");

beforeAll(async () => {
  // Key derivation takes seconds of CPU: let it run while the other images are made.
  const luksReady = createLuks(luks);
  // 4 KiB clusters: an L2 table maps 2 MiB, so the writes at 0 and 3 MiB land in two tables.
  qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096,lazy_refcounts=on", plain, "8M");
  qemuIo(plain, "write -P 1 0 8k", "write -c -P 2 8k 4k", "write -z 16k 4k", "write -P 3 20k 4k", "write -z 20k 4k", "write -P 4 3M 4k");
  qemuImg("snapshot", "-c", "before", plain);
  qemuIo(plain, "write -P 5 4k 4k");
  qemuImg("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", ext, "8M");
  qemuIo(ext, "write -P 1 0 4k", "write -z 64k 8k", "write -P 2 130k 2k");
  qemuImg("create", "-q", "-f", "qcow2", bm, "64M");
  qemuImg("bitmap", "--add", bm, "b0");
  qemuImg("bitmap", "--add", "-g", "512", "--disable", bm, "second");
  qemuIo(bm, "write -P 1 0 64k");
  qemuImg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1M");
  await luksReady;
});
afterAll(() => tmp.cleanup());

describe("dump header", () => {
  it("JSON fields agree with qemu-img info", () => {
    const d = dumpJson(plain, "header");
    const f = Object.fromEntries((d.fields as Json[]).map((x) => [x.name, x]));
    const info = infoJson(plain);
    expect(f.magic.value).toBe("0x514649fb");
    expect(f.version.value).toBe(3);
    expect(f.size.value).toBe(info["virtual-size"]);
    expect(2 ** f.cluster_bits.value).toBe(info["cluster-size"]);
    expect(2 ** f.refcount_order.value).toBe(info["format-specific"].data["refcount-bits"]);
    expect(f.nb_snapshots.value).toBe(info.snapshots.length);
    expect(f.compatible_features).toMatchObject({ value: "0x1", names: ["lazy refcounts"], offset: 80, size: 8 });
    expect(f.incompatible_features).toMatchObject({ value: "0x0", names: [] });
    expect(d.geometry).toEqual({ cluster_size: 4096, extended_l2: false, l2_entry_bytes: 8, l2_entries: 512, refcount_bits: 16, refblock_entries: 2048 });
  });

  it("text is one aligned line per field", () => {
    const t = dump(plain, "header");
    expect(t).toMatch(/^0x00 {4}magic {20}0x514649fb$/m);
    expect(t).toMatch(/^0x14 {4}cluster_bits {13}12 +4 KiB clusters$/m);
    expect(t).toMatch(/^0x50 {4}compatible_features {6}0x1 +\[lazy refcounts\]$/m);
  });

  it("a v2 header has no v3 fields", () => {
    const names = (dumpJson(v2, "header").fields as Json[]).map((x) => x.name);
    expect(names).toContain("snapshots_offset");
    expect(names).not.toContain("header_length");
    expect(names).toHaveLength(13);
  });
});

describe("dump l1 / l2", () => {
  it("L2 entries agree with qemu-img map: host offsets of data, zero and compressed clusters", () => {
    const l1 = dumpJson(plain, "l1");
    expect(l1.non_zero.map((e: Json) => e.index)).toEqual([0, 1]);
    const rows = new Map<number, Json>();
    for (const e of l1.non_zero) for (const r of dumpJson(plain, "l2", String(e.index)).entries) rows.set(r.guest_offset, r);
    const map = JSON.parse(qemuImg("map", "--output=json", plain)) as Json[];
    let checked = 0;
    for (const m of map) {
      for (let g = m.start; g < m.start + m.length; g += 4096) {
        const r = rows.get(g);
        if (m.data && m.offset !== undefined) {
          expect(r).toMatchObject({ kind: "normal", host_offset: m.offset + (g - m.start) });
          checked++;
        } else if (m.data) {
          expect(r.kind).toBe("compressed");
          checked++;
        } else if (m.present && m.zero) {
          expect(r.kind).toBe("zero");
          checked++;
        } else {
          expect(r?.kind ?? "unallocated").toBe("unallocated");
        }
      }
    }
    expect(checked).toBe(6);
    // The cluster rewritten after the snapshot was copied: COPIED set; the shared one not.
    expect(rows.get(4096)!.copied).toBe(true);
    expect(rows.get(0)!.copied).toBe(false);
    // A zero cluster that kept its allocation shows it.
    expect(rows.get(20480)).toMatchObject({ kind: "zero" });
    expect(rows.get(20480)!.host_offset).toBeGreaterThan(0);
  });

  it("extended L2: subcluster bits, and host offsets as qemu-img map", () => {
    const d = dumpJson(ext, "l2", "0");
    expect(d.extended_l2).toBe(true);
    const [a, z, b] = d.entries;
    expect(a).toMatchObject({ guest_offset: 0, kind: "normal", subclusters: "AA" + ".".repeat(30), bitmap_raw: "0x0000000000000003" });
    expect(z).toMatchObject({ guest_offset: 65536, kind: "unallocated", host_offset: null, subclusters: "ZZZZ" + ".".repeat(28) });
    expect(b.subclusters).toBe(".A" + ".".repeat(30));
    const map = JSON.parse(qemuImg("map", "--output=json", ext)) as Json[];
    expect(a.host_offset).toBe(map.find((m) => m.start === 0).offset);
    expect(b.host_offset + 2048).toBe(map.find((m) => m.start === 133120).offset);
  });

  it("text shows the table with its offsets", () => {
    const t = dump(plain, "l2", "1");
    expect(t).toMatch(/plain\.qcow2: L2 table at 0x[0-9a-f]+ \(L1 entry 1 at 0x[0-9a-f]+/);
    expect(t).toMatch(/^index +offset +guest offset +raw +kind +host offset +COPIED$/m);
    expect(t).toMatch(/^256 +0x[0-9a-f]+ +0x300000 +0x[0-9a-f]{16} +normal +0x[0-9a-f]+ +no$/m);
  });
});

describe("dump refcounts", () => {
  it("runs cover every cluster the L2 tables use and end where qemu-img check says the image ends", () => {
    const d = dumpJson(plain, "refcounts");
    const runs = (d.blocks as Json[]).flatMap((b) => b.runs);
    const refcountOf = (host: number) => runs.find((r: Json) => host >= r.host_offset && host < r.host_offset + r.count * 4096)?.refcount ?? 0;
    const l2 = dumpJson(plain, "l2", "0").entries as Json[];
    expect(refcountOf(l2.find((r) => r.guest_offset === 0)!.host_offset)).toBe(2);
    expect(refcountOf(l2.find((r) => r.guest_offset === 4096)!.host_offset)).toBe(1);
    const end = Math.max(...runs.map((r: Json) => r.host_offset + r.count * 4096));
    const check = JSON.parse(execFileSync("qemu-img", ["check", "--output=json", plain], { encoding: "utf8" }));
    expect(end).toBe(check["image-end-offset"]);
  });
});

describe("dump snapshots, bitmaps, extensions", () => {
  it("snapshots as qemu-img info lists them", () => {
    const d = dumpJson(plain, "snapshots");
    const info = infoJson(plain).snapshots;
    expect(d.snapshots.map((s: Json) => [s.id, s.name, s.date_sec, s.icount])).toEqual(info.map((s: Json) => [s.id, s.name, s["date-sec"], s.icount]));
    expect(d.problems).toEqual([]);
    expect(dump(plain, "snapshots")).toMatch(/^0 +0x[0-9a-f]+ +1 +before +0x[0-9a-f]+ +4 /m);
  });

  it("bitmaps as qemu-img info lists them, with their tables", () => {
    const d = dumpJson(bm, "bitmaps");
    const info = infoJson(bm)["format-specific"].data.bitmaps;
    expect(d.bitmaps.map((b: Json) => ({ flags: b.flag_names, name: b.name, granularity: b.granularity }))).toEqual(info);
    expect(d.bitmaps[0].table).toMatchObject([{ index: 0, kind: "data", guest_offset: 0 }]);
    expect(d.bitmaps[1].table).toEqual([]);
    expect(dumpJson(plain, "bitmaps")).toMatchObject({ extension: null, bitmaps: [] });
  });

  it("the LUKS header behind the crypto extension is what qemu-img info shows", () => {
    const d = dumpJson(luks, "extensions");
    const crypto = d.extensions.find((e: Json) => e.type === "0x0537be77");
    expect(crypto.data.luks.info).toEqual(infoJson(luks)["format-specific"].data.encrypt);
    expect(crypto.data.luks.slots).toHaveLength(8);
    expect(dump(luks, "extensions")).toMatch(/cipher aes xts-plain64 \(aes-256\)/);
  });

  it("unknown extensions are shown with their bytes", () => {
    const f = tmp.path("unknown-ext.qcow2");
    const bytes = readFileSync(v2);
    // v2: extensions start right after the 72-byte header; the first cluster is otherwise empty there.
    bytes.set([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 3, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0], 72);
    writeFileSync(f, bytes);
    const d = dumpJson(f, "extensions");
    expect(d.extensions[0]).toMatchObject({ offset: 72, type: "0x12345678", name: "unknown", length: 3, data: { hex: "616263" } });
  });
});

describe("dump errors are one line and a non-zero exit", () => {
  it.each([
    [["nothing-here.qcow2", "header"], /No such file or directory/],
    [[CLI, "header"], /header\.magic at offset 0x0: not a qcow2 image/],
    [["PLAIN", "bogus"], /unknown structure 'bogus'/],
    [["PLAIN", "l2"], /give the L1 index/],
    [["PLAIN", "l2", "4"], /L1 index 4 is out of range \(the L1 table has 4 entries\)/],
    [["PLAIN", "l2", "x1"], /'x1' is not an L1 index/],
    [["PLAIN", "header", "--output=xml"], /--output must be text or json/],
  ])("%j", (args, message) => {
    const r = fails(...args.map((a) => (a === "PLAIN" ? plain : a)));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^qcowdbg: /);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
