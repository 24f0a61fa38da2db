// The shared real capture, parsed from the binary and from what the real blkparse printed for it: the two must
// give the same Q events, request by request, and exactly the Q lines blkparse printed.
import * as fs from "node:fs";
import { expect, it } from "vitest";
import { collect, describeShared, essence, SAMPLE_BIN, SAMPLE_TXT } from "./helpers.js";

/** The Q lines of blkparse's own output, read independently of the parser under test. */
function blkparseQueueLines(): { dev: string; time: string; rwbs: string; sector: number; count: number }[] {
  const out = [];
  for (const line of fs.readFileSync(SAMPLE_TXT, "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && f[5] === "Q") out.push({ dev: f[0]!, time: f[3]!, rwbs: f[6]!, sector: Number(f[7]), count: Number(f[9]) });
  }
  return out;
}

describeShared("nvme-readahead sample", () => {
  it("binary and blkparse text give the same requests, in the same order", () => {
    const bin = collect(SAMPLE_BIN);
    const txt = collect(SAMPLE_TXT);
    expect(bin.reqs.length).toBe(963);
    expect(txt.reqs.length).toBe(963);
    for (let i = 0; i < bin.reqs.length; i++) expect(essence(bin.reqs[i]!), `request ${i}`).toEqual(essence(txt.reqs[i]!));
  });

  it("matches the Q lines blkparse printed (sector, size, RWBS, time, order)", () => {
    const q = blkparseQueueLines();
    expect(q.length).toBe(963);
    const { reqs } = collect(SAMPLE_BIN);
    reqs.forEach((r, i) => {
      const line = q[i]!;
      expect(r.offset).toBe(line.sector * 512);
      expect(r.length).toBe(line.count * 512);
      expect(r.op).toBe("read");
      expect(line.rwbs).toBe("RA");
      expect(r.fua || r.preflush).toBe(false);
      expect(r.device).toBe(line.dev);
      expect(r.time.toFixed(9)).toBe(line.time);
    });
  });

  it("counts records and lines, and says the records carry another cpu than the file name", () => {
    const bin = collect(SAMPLE_BIN);
    expect(bin.stats.lines).toBe(6743);
    expect(bin.stats.skipped).toBe(0);
    expect(bin.notices.some((n) => /cpu 1 but the file is named for cpu 0; kept/.test(n))).toBe(true);
    const txt = collect(SAMPLE_TXT);
    expect(txt.stats.lines).toBe(6753);
    expect(txt.stats.requests).toBe(963);
  });

  it("selects D and C events instead of Q", () => {
    for (const events of ["D", "C"] as const) {
      const bin = collect(SAMPLE_BIN, { events });
      const txt = collect(SAMPLE_TXT, { events });
      expect(bin.reqs.length).toBe(963);
      expect(bin.reqs.map(essence)).toEqual(txt.reqs.map(essence));
    }
    const q = collect(SAMPLE_BIN).reqs;
    const c = collect(SAMPLE_BIN, { events: "C" }).reqs;
    // every completion comes after its queue event, same sectors
    c.forEach((r, i) => {
      expect(r.offset).toBe(q[i]!.offset);
      expect(r.time).toBeGreaterThan(q[i]!.time);
    });
  });

  it("undoes the partition remap on request", () => {
    const whole = collect(SAMPLE_TXT).reqs;
    const part = collect(SAMPLE_TXT, { undoRemap: true }).reqs;
    const partBin = collect(SAMPLE_BIN, { undoRemap: true }).reqs;
    expect(part.map(essence)).toEqual(partBin.map(essence));
    // 259,3 starts 2549760 sectors into 259,0 (first line: 2348060440 <- (259,3) 2345510680)
    part.forEach((r, i) => {
      expect(r.device).toBe("259,3");
      expect(r.offset).toBe(whole[i]!.offset - 2549760 * 512);
    });
  });
});
