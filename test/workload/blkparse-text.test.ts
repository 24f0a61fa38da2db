// blkparse text: strict line-numbered errors, lenient skipping, and a property: requests rendered the way
// blkparse 1.2.0 prints them (HEADER "%3d,%-3d %2d %8d %5d.%09lu %5u %2s %3s " plus the action's tail) parse back.
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { GuestRequest } from "../../engine/workload/index.js";
import { collect, essence, itShared, SAMPLE_TXT, tmpDir } from "./helpers.js";

const dir = tmpDir("blkparse");
let seq = 0;
function file(lines: string[]): string {
  const p = path.join(dir, `t${seq++}.txt`);
  fs.writeFileSync(p, lines.join("\n") + "\n");
  return p;
}

function header(dev: [number, number], cpu: number, s: number, ns: number, pid: number, act: string, rwbs: string): string {
  const secs = Math.floor(ns / 1e9);
  const frac = String(ns % 1e9).padStart(9, "0");
  return `${String(dev[0]).padStart(3)},${String(dev[1]).padEnd(3)} ${String(cpu).padStart(2)} ${String(s).padStart(8)} ${String(secs).padStart(5)}.${frac} ${String(pid).padStart(5)} ${act.padStart(2)} ${rwbs.padStart(3)} `;
}

describe("blkparse text errors", () => {
  const good = "  8,0    1        3     0.000252703 17852  Q   W 24803160 + 160 [kworker/u256:1]";
  it("strict: the first malformed line stops the parse with file:line: what", () => {
    const p = file([good, "this is not blkparse", good]);
    expect(() => collect(p)).toThrow(`${p}:2: not a blkparse event line: "this is not blkparse"`);
    const q = file([good, "  8,0    1        3     0.000252703 17852  Q   W 24803160 + x [k]"]);
    expect(() => collect(q)).toThrow(`${q}:2: bad Q event: expected "SECTOR + COUNT [comm]", got "24803160 + x [k]"`);
    const r = file([good, "  8,0    1        3     0.000252703 17852  Q  WX 24803160 + 8 [k]"]);
    expect(() => collect(r)).toThrow(`${r}:2: bad RWBS "WX"`);
    const a = file(["  8,2    1        1     0.000000000 17852  A   W 24391512 + 160 <- (253,0)"]);
    // remap lines are read (and checked) when remaps are undone
    expect(() => collect(a, { undoRemap: true })).toThrow(/:1: bad remap/);
    expect(collect(a).reqs).toEqual([]);
  });

  it("lenient: malformed lines are counted and skipped", () => {
    const p = file([good, "garbage", good.replace("Q   W", "Q  ZZ"), good]);
    const { reqs, stats, notices } = collect(p, { lenient: true });
    expect(reqs.length).toBe(2);
    expect(stats.skipped).toBe(2);
    expect(notices[0]).toContain(":2: skipped: not a blkparse event line");
  });

  itShared("skips the summary blocks, and stderr lines if they were captured too", () => {
    const lines = fs.readFileSync(SAMPLE_TXT, "utf8").split("\n");
    const p = file(["Input file sample.blktrace.0 added", ...lines]);
    expect(collect(p).reqs.length).toBe(963);
  });

  it("restores the high bits blkparse's 32-bit %u drops from a split's new sector", () => {
    const big = 2 ** 33 + 100;
    const p = file([
      header([8, 0], 0, 1, 1000, 1, "Q", "W") + `${big} + 512 [a]`,
      header([8, 0], 0, 2, 2000, 1, "X", "W") + `${big} / ${(big + 256) % 2 ** 32} [a]`,
      header([8, 0], 0, 3, 3000, 1, "Q", "W") + `${big + 256} + 256 [a]`,
    ]);
    const { reqs } = collect(p);
    expect(reqs.map((r) => [r.offset, r.length])).toEqual([[big * 512, 512 * 512]]);
  });

  it("accepts an I/O without a sector as a flush only when RWBS says so", () => {
    const p = file([header([8, 0], 0, 1, 5, 9, "Q", "FWS") + "[sync]", header([8, 0], 0, 2, 6, 9, "Q", "N") + "[x]"]);
    expect(collect(p).reqs.map((r) => r.op)).toEqual(["flush"]);
  });
});

// ---------------------------------------------------------------- property: render -> parse
type Kind = "read" | "write" | "discard" | "flush";
interface Gen {
  kind: Kind;
  sector: number;
  sectors: number;
  ra: boolean;
  sync: boolean;
  meta: boolean;
  preflush: boolean;
  fua: boolean;
  dev: [number, number];
  gapNs: number;
  pid: number;
}

const genReq = fc.record({
  kind: fc.constantFrom<Kind>("read", "write", "discard", "flush"),
  sector: fc.integer({ min: 0, max: 2 ** 40 }),
  sectors: fc.integer({ min: 1, max: 4096 }),
  ra: fc.boolean(),
  sync: fc.boolean(),
  meta: fc.boolean(),
  preflush: fc.boolean(),
  fua: fc.boolean(),
  dev: fc.constantFrom<[number, number]>([8, 0], [259, 0], [253, 1]),
  gapNs: fc.integer({ min: 0, max: 5e9 }),
  pid: fc.integer({ min: 0, max: 99999 }),
});

function rwbs(g: Gen): string {
  if (g.kind === "flush") return "FWS";
  let s = g.kind === "write" && g.preflush ? "F" : "";
  s += g.kind === "read" ? "R" : g.kind === "write" ? "W" : "D";
  if (g.kind === "write" && g.fua) s += "F";
  if (g.kind === "read" && g.ra) s += "A";
  if (g.sync) s += "S";
  if (g.meta) s += "M";
  return s;
}

/** The lines blkparse prints for one request's life (Q G I D C, plus P/U noise), and the request itself. */
function render(gs: Gen[], withElapsed: boolean): { lines: string[]; want: Omit<GuestRequest, "source">[] } {
  const lines: string[] = [];
  const want: Omit<GuestRequest, "source">[] = [];
  let ns = 0;
  let s = 0;
  for (const g of gs) {
    ns += g.gapNs;
    const r = rwbs(g);
    const flush = g.kind === "flush";
    const io = flush ? `[p${g.pid}]` : `${g.sector} + ${g.sectors} [p${g.pid}]`;
    const cpu = g.pid % 4;
    lines.push(header(g.dev, cpu, ++s, ns, g.pid, "Q", r) + io);
    lines.push(header(g.dev, cpu, ++s, ns + 10, g.pid, "G", r) + io);
    lines.push(header(g.dev, cpu, ++s, ns + 11, g.pid, "P", "N") + `[p${g.pid}]`);
    lines.push(header(g.dev, cpu, ++s, ns + 12, g.pid, "I", r) + io);
    lines.push(header(g.dev, cpu, ++s, ns + 13, g.pid, "U", "N") + `[p${g.pid}] 1`);
    const el = withElapsed ? "(      13) " : "";
    lines.push(header(g.dev, cpu, ++s, ns + 14, g.pid, "D", r) + (flush ? `${el}[p${g.pid}]` : `${g.sector} + ${g.sectors} ${el}[p${g.pid}]`));
    lines.push(header(g.dev, cpu, ++s, ns + 20, 0, "C", r) + (flush ? "0 [0]" : `${g.sector} + ${g.sectors} ${withElapsed ? "(       6) " : ""}[0]`));
    want.push({
      time: ns / 1e9,
      op: g.kind,
      offset: flush ? 0 : g.sector * 512,
      length: flush ? 0 : g.sectors * 512,
      fua: g.kind === "write" && g.fua,
      preflush: g.kind === "write" && g.preflush,
      device: `${g.dev[0]},${g.dev[1]}`,
    });
  }
  lines.push("CPU0 (8,0):", " Reads Queued:           1,       16KiB\t Writes Queued:           3,     1032KiB", "", "Events (8,0): 7 entries");
  return { lines, want };
}

describe("blkparse text property", () => {
  it("requests rendered as blkparse prints them parse back, for Q, D and C, with and without -t", () => {
    fc.assert(
      fc.property(fc.array(genReq, { minLength: 1, maxLength: 30 }), fc.boolean(), (gs, withElapsed) => {
        const { lines, want } = render(gs, withElapsed);
        const p = file(lines);
        expect(collect(p).reqs.map(essence)).toEqual(want);
        const issued = collect(p, { events: "D" }).reqs.map(essence);
        expect(issued.map((r) => [r.op, r.offset, r.length, r.device])).toEqual(want.map((r) => [r.op, r.offset, r.length, r.device]));
        expect(collect(p, { events: "C" }).reqs.length).toBe(want.length);
        fs.unlinkSync(p);
      }),
      { numRuns: 150 },
    );
  });
});
