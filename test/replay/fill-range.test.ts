// A replay that cannot measure anything says so: every request past the image exits 1 with the ways to fit the
// trace; --fill writes the ranges a read-only trace reads into a copy (qemu-io), so its reads of a fresh image take
// the metadata and data path of a used one. The user's image is never modified.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { qemuImg, tmpDir } from "../format/qemu-images.js";
import { fillScript, readRanges } from "../../engine/replay/fill.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CLI = here("../../dist/cli/main.js");
const tmp = tmpDir("qcowdbg-fill-");
afterAll(() => tmp.cleanup());
const hasQemuIo = spawnSync("qemu-io", ["--version"]).status === 0;
const replay = (...args: string[]) => spawnSync("node", [CLI, "replay", ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
const sha256 = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe("all requests out of range", () => {
  it("exits 1 with one line that names --fit and --fill", () => {
    const img = tmp.path("small.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "64M");
    const trace = tmp.path("far.qemu-io");
    writeFileSync(trace, "read 1G 4k\nwrite 2G 4k\n");
    const r = replay(img, trace, "--no-recommend");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^qcowdbg: replay: all 2 requests of .*far\.qemu-io fall past the image's virtual size \(67108864 bytes\): nothing was replayed\. Map them onto the image with --fit wrap\|scale\|drop, .* add --fill/);
    // Some in range: replayed, the rest counted, exit 0.
    writeFileSync(trace, "read 1G 4k\nread 0 4k\n");
    expect(replay(img, trace, "--no-recommend").status).toBe(0);
  });
});

describe("--fill", () => {
  it("merges read ranges and writes them in chunks", () => {
    const req = (op: "read" | "write", offset: number, length: number) => ({ op, offset, length, time: 0, fua: false, preflush: false, source: "t" });
    expect(readRanges([req("read", 8192, 4096), req("read", 0, 4096), req("read", 4096, 4096), req("write", 65536, 4096), req("read", 1 << 20, 4096)], 1 << 20)).toEqual([[0, 12288]]);
    expect(fillScript([[0, 40 << 20]])).toEqual(["write -q -P 0x5a 0 16777216", "write -q -P 0x5a 16777216 16777216", "write -q -P 0x5a 33554432 8388608"]);
  });

  it.skipIf(!hasQemuIo)("makes a read-only trace on a fresh image read data through allocated L2 tables; the image is untouched", () => {
    const img = tmp.path("fresh.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "4G");
    const trace = tmp.path("reads.qemu-io");
    const lines: string[] = [];
    for (let i = 0; i < 50; i++) lines.push(`read ${((i * 7919) % 65536) * 65536} 4k`);
    writeFileSync(trace, lines.join("\n") + "\n");
    const before = sha256(img);
    const plain = JSON.parse(replay(img, trace, "--no-recommend", "--output", "json").stdout);
    expect(plain.summary.data.hostReadBytes).toBe(0);
    const r = replay(img, trace, "--no-recommend", "--output", "json", "--fill");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/--fill: 50 read ranges \(204800 bytes\) written into a copy of/);
    const filled = JSON.parse(r.stdout);
    expect(filled.summary.data.hostReadBytes).toBe(50 * 4096);
    expect(filled.summary.caches.l2.misses).toBeGreaterThan(0);
    expect(filled.summary.totalUs).toBeGreaterThan(plain.summary.totalUs);
    expect(sha256(img)).toBe(before);
    expect(readdirSync(path.dirname(img)).filter((f) => f.startsWith(".qcowdbg"))).toEqual([]);
    // The report names the user's image, not the temporary copy, and says the copy was filled.
    expect(filled.summary.image.path).toBe(img);
    expect(filled.trace.filled).toBe(true);
    const text = replay(img, trace, "--no-recommend", "--fill");
    expect(text.stdout.split("\n")[0]).toBe(`qcowdbg replay: ${img} (filled copy: --fill wrote the trace's read ranges first) <- ${trace} (qemu-io, 50 requests)`);
  });

  it("says each trace note once, though --fill reads the trace twice", () => {
    const img = tmp.path("notes.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "64M");
    const trace = tmp.path("far-reads.qemu-io");
    writeFileSync(trace, "read 0 4k\nread 1G 4k\n");
    const r = replay(img, trace, "--no-recommend", "--fit", "scale", ...(hasQemuIo ? ["--fill"] : []));
    expect(r.status).toBe(0);
    const notes = r.stderr.split("\n").filter((l) => l.includes("scale: device size"));
    expect(notes).toHaveLength(1);
  });
});
