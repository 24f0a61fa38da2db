// The crash explorer's parts: the state plan (exhaustive to 2^12, a seeded sample past it, torn variants), the
// guest history's judgement of a sector, and the host write log's labels on a real allocating write + flush.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { planStates, prng, EXHAUSTIVE_BITS } from "../../engine/crash/crash-states.js";
import { GuestHistory, sectorHash } from "../../engine/crash/guest-history.js";
import { CrashExplorer } from "../../engine/crash/crash-explorer.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import { parseConfigOptions } from "../../engine/image/engine-config.js";

const hasQemu = spawnSync("qemu-img", ["--version"]).status === 0;

describe("planStates", () => {
  it("enumerates every subset up to 2^12", () => {
    const p = planStates(EXHAUSTIVE_BITS, new Array<boolean>(EXHAUSTIVE_BITS).fill(false), 16, prng(1), false);
    expect(p.exhaustive).toBe(true);
    expect(p.states.length).toBe(4096);
    expect(new Set(p.states.map((s) => s.keep.join(""))).size).toBe(4096);
  });

  it("samples past 2^12 with the extremes, reproducibly for a seed", () => {
    const plan = (seed: number) => planStates(40, new Array<boolean>(40).fill(false), 16, prng(seed), false);
    const a = plan(5), b = plan(5), c = plan(6);
    expect(a.exhaustive).toBe(false);
    expect(a.possible).toBe(2 ** 40);
    expect(a.states.length).toBeLessThanOrEqual(16);
    expect(a.states[0]!.keep.every((k) => k === 0)).toBe(true);
    expect(a.states[1]!.keep.every((k) => k === 1)).toBe(true);
    expect(a.states.map((s) => s.keep.join(""))).toEqual(b.states.map((s) => s.keep.join("")));
    expect(a.states.map((s) => s.keep.join(""))).not.toEqual(c.states.map((s) => s.keep.join("")));
  });

  it("adds two torn states per multi-sector write", () => {
    const p = planStates(3, [true, false, true], 16, prng(1), true);
    const torn = p.states.filter((s) => s.torn >= 0);
    expect(torn.map((s) => [s.torn, s.keep.join("")])).toEqual([[0, "000"], [0, "011"], [2, "110"], [2, "110"]]);
    expect(p.possible).toBe(8 + 2 * 4);
  });
});

describe("what-if options", () => {
  it("parses refcount-before-l2 and cow-before-l2 (QEMU's ordering when unset)", () => {
    const c = parseConfigOptions("refcount-before-l2=off,cow-before-l2=off");
    expect([c.refcountBeforeL2, c.cowBeforeL2]).toEqual([false, false]);
    const d = parseConfigOptions("");
    expect([d.refcountBeforeL2, d.cowBeforeL2]).toEqual([undefined, undefined]);
    expect(() => parseConfigOptions("cow-before-l2=maybe")).toThrow(/not on\/off/);
  });
});

describe("GuestHistory", () => {
  const sector = (v: number) => new Uint8Array(512).fill(v);
  const h = (v: number) => sectorHash(sector(v), 0);

  it("accepts the flushed version and later ones; an older one is lost, anything else garbage", () => {
    const g = new GuestHistory();
    const original = () => h(0);
    g.wrote(0, sector(1));
    expect(g.judge(0, h(0), original)).toBe("ok"); // not flushed yet: the old content may come back
    expect(g.judge(0, h(1), original)).toBe("ok");
    g.flushes++;
    g.wrote(0, sector(2));
    expect(g.judge(0, h(1), original)).toBe("ok");
    expect(g.judge(0, h(2), original)).toBe("ok");
    expect(g.judge(0, h(0), original)).toBe("lost");
    expect(g.judge(0, h(9), original)).toBe("garbage");
    g.flushes++;
    expect(g.judge(0, h(1), original)).toBe("lost");
    expect(g.judge(1, h(0), original)).toBe("ok");
    expect(g.judge(1, h(3), original)).toBe("garbage");
  });

  it("lets a discarded sector read anything", () => {
    const g = new GuestHistory();
    g.wrote(0, sector(1));
    g.flushes++;
    g.discarded(0, 512);
    g.flushes++;
    expect(g.judge(0, h(7), () => h(0))).toBe("ok");
  });
});

describe.skipIf(!hasQemu)("host write log", () => {
  it("labels each write of an allocating write + flush with its cause and step, and syncs in QEMU's order", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-crash-log-"));
    try {
      const img = path.join(dir, "a.qcow2");
      execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "64M"]);
      const before = fs.readFileSync(img);
      const ex = new CrashExplorer(img, { sample: 4 });
      const seen: string[][] = [];
      ex.log.afterSync = ((orig) => (ops) => {
        seen.push(ops.map((o) => `${o.cause}@${o.request}`));
        orig?.(ops);
      })(ex.log.afterSync);
      const req = (op: GuestRequest["op"], offset: number, length: number): GuestRequest => ({ time: 0, op, offset, length, fua: false, preflush: false, source: "t" });
      ex.apply(req("write", 0, 65536));
      ex.apply(req("flush", 0, 0));
      const s = ex.finish();
      ex.close();
      // l2_allocate: refcount block, sync; the new L2 table, sync; the L1 entry (bdrv_pwrite_sync). Then the guest
      // data; at the flush the L2 write-back first syncs its dependency (the refcount block), then goes out itself.
      expect(seen).toEqual([["refcount@1"], ["l2@1"], ["l1@1"], ["guest-data@1", "refcount@2"], ["l2@2"]]);
      expect(s.worst).toBe("leaks");
      expect(s.counts.corrupt).toBe(0);
      expect(fs.readFileSync(img).equals(before)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("CauseTee", () => {
  it("passes every event field on to the recorder, add_task's pool and qiov_offset (d) included", async () => {
    const { CauseTee, HostWriteLog } = await import("../../engine/crash/host-write-log.js");
    const { EventRecorder } = await import("../../engine/events/recorder.js");
    const { EventKind } = await import("../../engine/events/event-kind.js");
    const rec = new EventRecorder();
    const tee = new CauseTee(rec, new HostWriteLog());
    tee.emit(EventKind.AddTask, 0, 1, 0, 0x50000, 65536, 4096, 8192 * 2 + 1);
    expect([rec.kindAt(0), rec.aAt(0), rec.bAt(0), rec.cAt(0), rec.dAt(0)]).toEqual([EventKind.AddTask, 0x50000, 65536, 4096, 8192 * 2 + 1]);
  });
});
