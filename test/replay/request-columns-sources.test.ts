// RequestColumns keeps a block trace's sources from the parts its parser joined (SOURCE_PARTS) instead of reading
// each string back: the requests it gives back must be the parsed ones exactly, and a request whose source was
// changed after parsing must not be taken for the parsed one.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { RequestColumns } from "../../engine/replay/request-columns.js";
import { openWorkload, type GuestRequest } from "../../engine/workload/index.js";
import { tmpDir } from "../format/qemu-images.js";

const dir = tmpDir("qcowdbg-columns-sources-");

function trace(name: string, n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const ns = 1000 + i * 1717;
    const t = `${Math.floor(ns / 1e9)}.${String(ns % 1e9).padStart(9, "0")}`;
    lines.push(`  8,0    1 ${String(i + 1).padStart(8)} ${t.padStart(15)} 41237  Q   ${i % 7 === 3 ? "FWS" : "W"} ${(i * 8) % 50000} + 8 [fio]`);
    lines.push(`  8,0    1 ${String(i + 2).padStart(8)} ${t.padStart(15)} 41237  C   W ${(i * 8) % 50000} + 8 [0]`);
  }
  const p = dir.path(name);
  fs.writeFileSync(p, lines.join("\n") + "\n");
  return p;
}

describe("RequestColumns from a block trace parser", () => {
  it("gives back every parsed request exactly, labels with digits and separators included", () => {
    for (const name of ["plain.txt", "a:1", "x#2:3.txt"]) {
      const p = trace(name, 3000);
      const parsed: GuestRequest[] = [];
      const c = new RequestColumns(64);
      for (const r of openWorkload(p, { format: "blkparse" }).requests()) {
        c.push(r);
        parsed.push({ ...r });
      }
      expect(c.length).toBe(parsed.length);
      expect(parsed[5]!.source).toBe(`${path.basename(p)}:11`);
      for (let i = 0; i < parsed.length; i++) expect(c.get(i)).toStrictEqual(parsed[i]);
    }
  });

  it("reads the string of a request whose source changed after it was parsed", () => {
    const p = trace("changed.txt", 10);
    const c = new RequestColumns();
    const kept: GuestRequest[] = [];
    let i = 0;
    for (const r of openWorkload(p, { format: "blkparse" }).requests()) {
      // Same length as before, then another head, then a source with no number.
      if (i === 2) r.source = r.source.replace(":5", ":9");
      if (i === 3) r.source = "other.txt:7";
      if (i === 4) r.source = "changed.txt:x";
      i++;
      c.push(r);
      kept.push({ ...r });
    }
    expect(kept.map((r, k) => c.get(k).source)).toEqual(kept.map((r) => r.source));
    expect(c.get(2).source).toBe("changed.txt:9");
  });

  it("gives the same requests through one rewritten object as through get()", () => {
    const reqs: GuestRequest[] = [
      { time: 0.5, op: "write", offset: 4096, length: 512, fua: true, preflush: false, source: "a.log:12", device: "8,0" },
      { time: 0.75, op: "write-zeroes", offset: 0, length: 65536, fua: false, preflush: false, source: "plain", mayUnmap: false, pattern: 300 },
      { time: 1, op: "write", offset: 512, length: 512, fua: false, preflush: true, source: "b.bin#0", pattern: 7, compressed: true },
      { time: 1.25, op: "flush", offset: 0, length: 0, fua: false, preflush: false, source: "t:007", compressed: false, mayUnmap: true },
    ];
    const c = RequestColumns.from(reqs);
    const seen: GuestRequest[] = [];
    for (const r of c.requestsReused()) {
      const { time, op, offset, length, fua, preflush, source, device, pattern, compressed, mayUnmap } = r;
      const copy: GuestRequest = { time, op, offset, length, fua, preflush, source };
      if (device !== undefined) copy.device = device;
      if (pattern !== undefined) copy.pattern = pattern;
      if (compressed !== undefined) copy.compressed = compressed;
      if (mayUnmap !== undefined) copy.mayUnmap = mayUnmap;
      seen.push(copy);
    }
    expect(seen).toStrictEqual(reqs);
    expect([...c.requestsReused(1, 3)].length).toBe(2);
  });
});
