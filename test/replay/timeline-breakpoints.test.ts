// Breakpoints and watchpoints of every kind, forwards and backwards, on a fresh 4 KiB-cluster image where the
// expected stops are worked out from a plain forward run's event log.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventKind } from "../../engine/events/event-kind.js";
import type { EngineEvent } from "../../engine/events/recorder.js";
import { Timeline } from "../../engine/replay/timeline.js";
import type { StopReason } from "../../engine/replay/timeline-api.js";
import { tmpDir } from "../format/qemu-images.js";
import { engineState, forwards, makeImage, openEngine, request } from "./timeline-fixtures.js";

const dir = tmpDir("qcowdbg-timeline-bp-");
let image = "";
const CS = 4096;
const M = 1024 * 1024;
// The data cluster QEMU's first-fit gives guest 8 KiB: header, reftable, refblock, L1, L2 (4), guest 0 (5), then 6.
const reqs = [
  request("write", 0, 4096, 0),
  request("write", 8192, 4096, 0.5),
  request("write", 2 * M, 4096, 1),
  request("discard", 8192, 4096, 1.5),
  request("flush", 0, 0, 2),
  request("write", 12288, 4096, 2.5),
];

/** Events of request i (0-based) in a forward run. */
let log: EngineEvent[][] = [];
let X = 0;

beforeAll(() => {
  image = makeImage(dir.path("bp.qcow2"), { clusterSize: CS, size: 4 * M });
  const e = forwards(image, CS, [], 0);
  log = reqs.map((r) => {
    const o = e.apply(r);
    return [...e.recorder.events(o.firstEvent, o.endEvent)];
  });
  e.close();
  const oracle = forwards(image, CS, reqs, 2);
  const l2 = oracle.image.l2Cache;
  const slot = l2.lookup(oracle.image.l1Entry(0)[1] & ~0x1ff);
  X = Math.floor((new DataView(l2.table(slot).buffer, l2.table(slot).byteOffset).getUint32(2 * 8 + 4) & ~0x1ff) / CS);
  oracle.close();
});
afterAll(() => dir.cleanup());

function timeline(opts: ConstructorParameters<typeof Timeline>[2] = {}): Timeline {
  return new Timeline(openEngine(image, CS), reqs, opts);
}

function close(tl: Timeline): void {
  tl.dispose();
  tl.engine.close();
}

function shown(tl: Timeline): EngineEvent {
  const v = tl.view();
  expect(v.events.length).toBe(v.position.event);
  return v.events[v.events.length - 1]!;
}

/** Position (request, event) of the first event of request i matching `f` in the forward log. */
function firstIn(i: number, f: (e: EngineEvent) => boolean): { request: number; event: number } {
  const k = log[i]!.findIndex(f);
  expect(k).toBeGreaterThanOrEqual(0);
  return { request: i, event: k + 1 };
}

function stops(tl: Timeline, dir: "fwd" | "back", max = 50): { pos: { request: number; event: number }; reason: StopReason }[] {
  const out = [];
  for (let i = 0; i < max; i++) {
    const reason = dir === "fwd" ? tl.continue() : tl.reverseContinue();
    if (reason.kind === "end" || reason.kind === "start") break;
    out.push({ pos: tl.position(), reason });
  }
  return out;
}

describe("timeline breakpoints", () => {
  it("the fixture's data cluster for guest 8 KiB is the one first-fit picks", () => {
    expect(X).toBe(6);
  });

  it("event: stops at each qcow2_l2_allocate, forwards then backwards", () => {
    const tl = timeline();
    const bp = tl.addBreakpoint({ kind: "event", eventName: "qcow2_l2_allocate" });
    const fwd = stops(tl, "fwd");
    const isAlloc = (e: EngineEvent) => e.kind === EventKind.L2Allocate;
    expect(fwd.map((s) => s.pos)).toEqual([firstIn(0, isAlloc), firstIn(2, isAlloc)]);
    expect(fwd.every((s) => s.reason.kind === "breakpoint" && s.reason.breakpoint === bp.id)).toBe(true);
    expect(tl.position()).toEqual({ request: reqs.length, event: 0 });
    const back = stops(tl, "back");
    expect(back.map((s) => s.pos)).toEqual([firstIn(2, isAlloc), firstIn(0, isAlloc)]);
    expect(tl.position()).toEqual({ request: 0, event: 0 });
    expect(bp.hits).toBe(4);
    tl.runTo(3);
    expect(tl.continue().kind).toBe("end");
    expect(() => tl.addBreakpoint({ kind: "event", eventName: "no_such_event" })).toThrow(/unknown event/);
    close(tl);
  });

  it("offset: stops before the request touching the range", () => {
    const tl = timeline();
    tl.addBreakpoint({ kind: "offset", from: 2 * M, to: 2 * M + 1 });
    expect(tl.continue().kind).toBe("breakpoint");
    expect(tl.position()).toEqual({ request: 2, event: 0 });
    expect(tl.view().current).toEqual(reqs[2]);
    expect(tl.continue().kind).toBe("end");
    expect(tl.reverseContinue().kind).toBe("breakpoint");
    expect(tl.position()).toEqual({ request: 2, event: 0 });
    expect(tl.reverseContinue().kind).toBe("start");
    close(tl);
  });

  it("cluster: the first touch of the data cluster is first-fit reading its refcount", () => {
    const tl = timeline();
    tl.addBreakpoint({ kind: "cluster", hostCluster: X });
    const fwd = stops(tl, "fwd");
    expect(fwd[0]!.pos).toEqual(firstIn(1, (e) => e.kind === EventKind.RefcountRead && e.a === X));
    // Every later stop shows an event naming that cluster, by index or by byte offset.
    tl.runTo(0);
    for (const s of fwd) {
      tl.runTo(s.pos.request);
      for (let k = 0; k < s.pos.event; k++) tl.step();
      const e = shown(tl);
      const names = [e.a, e.b, e.c].some((v) => v === X || Math.floor(v / CS) === X);
      expect(names, JSON.stringify(e)).toBe(true);
    }
    // The discard (request 4) frees it; the write of request 6 takes it again.
    expect(new Set(fwd.map((s) => s.pos.request))).toEqual(new Set([1, 3, 5]));
    close(tl);
  });

  it("l1: stops where L1 entry 1 gets its table", () => {
    const tl = timeline();
    tl.addBreakpoint({ kind: "l1", index: 1 });
    expect(tl.continue().kind).toBe("breakpoint");
    expect(tl.position()).toEqual(firstIn(2, (e) => e.kind === EventKind.L2Allocate && e.a === 1));
    close(tl);
  });

  it("l2: only updates of the chosen entry stop as l2_update", () => {
    const tl = timeline();
    tl.addBreakpoint({ kind: "l2", l1Index: 0, l2Index: 2 });
    const fwd = stops(tl, "fwd");
    const updates = fwd.filter((s) => {
      tl.runTo(s.pos.request);
      for (let k = 0; k < s.pos.event; k++) tl.step();
      return shown(tl).kind === EventKind.L2Update;
    });
    expect(updates.map((s) => s.pos)).toEqual([
      firstIn(1, (e) => e.kind === EventKind.L2Update),
      firstIn(3, (e) => e.kind === EventKind.L2Update),
    ]);
    // Nothing of L1 entry 1 (request 3) stops it.
    expect(fwd.some((s) => s.pos.request === 2)).toBe(false);
    close(tl);
  });

  it("latency: stops before the slow request, both ways; needs a cost model", () => {
    const plain = timeline();
    expect(() => plain.addBreakpoint({ kind: "latency", overMicros: 500 })).toThrow(/cost model/);
    close(plain);
    const seen: number[] = [];
    const tl = timeline({
      latencyOf: (i, ctx) => {
        seen.push(ctx.endEvent - ctx.firstEvent);
        return i === 3 ? 900 : 10;
      },
    });
    tl.addBreakpoint({ kind: "latency", overMicros: 500 });
    const r = tl.continue();
    expect(r.kind).toBe("breakpoint");
    expect(r.detail).toMatch(/900/);
    expect(tl.position()).toEqual({ request: 3, event: 0 });
    // The callback saw each request's events.
    expect(seen.slice(0, 4)).toEqual(log.slice(0, 4).map((l) => l.length));
    tl.runTo(reqs.length);
    expect(tl.reverseContinue().kind).toBe("breakpoint");
    expect(tl.position()).toEqual({ request: 3, event: 0 });
    close(tl);
  });

  it("predicate: stops before each matching request", () => {
    const tl = timeline();
    tl.addBreakpoint({ kind: "predicate", describe: "discards", test: (r) => r.op === "discard" });
    expect(stops(tl, "fwd").map((s) => s.pos)).toEqual([{ request: 3, event: 0 }]);
    close(tl);
  });

  it("a callback that throws leaves the timeline where it was, and the engine in the forward state", () => {
    const tl = timeline({
      latencyOf: (i) => {
        if (i === 4) throw new RangeError("cost model failed");
        return 1;
      },
    });
    tl.runTo(1);
    tl.addBreakpoint({ kind: "latency", overMicros: 100 });
    expect(() => tl.continue()).toThrow(RangeError);
    expect(tl.position()).toEqual({ request: 1, event: 0 });
    const oracle = forwards(image, CS, reqs, 1);
    expect(engineState(tl.engine)).toEqual(engineState(oracle));
    oracle.close();
    close(tl);
  });

  it("disabled and deleted breakpoints do not stop", () => {
    const tl = timeline();
    const a = tl.addBreakpoint({ kind: "predicate", describe: "all", test: () => true });
    const b = tl.addBreakpoint({ kind: "event", eventName: "data_write" });
    a.enabled = false;
    expect(tl.deleteBreakpoint(b.id)).toBe(true);
    expect(tl.deleteBreakpoint(b.id)).toBe(false);
    expect(tl.breakpoints().map((x) => x.id)).toEqual([a.id]);
    expect(tl.continue().kind).toBe("end");
    close(tl);
  });
});

describe("timeline watchpoints", () => {
  it("refcount: each change of the data cluster's refcount, with old and new value", () => {
    const tl = timeline();
    tl.addWatch({ kind: "refcount", hostCluster: X });
    const fwd = stops(tl, "fwd");
    const upd = (i: number, c: number) => firstIn(i, (e) => e.kind === EventKind.RefcountUpdate && e.a === X && e.c === c);
    expect(fwd.map((s) => s.pos)).toEqual([upd(1, 1), upd(3, 0), upd(5, 1)]);
    expect(fwd.map((s) => s.reason.detail)).toEqual([expect.stringMatching(/0 -> 1/), expect.stringMatching(/1 -> 0/), expect.stringMatching(/0 -> 1/)]);
    expect(fwd.every((s) => s.reason.kind === "watchpoint")).toBe(true);
    const back = stops(tl, "back");
    expect(back.map((s) => s.pos)).toEqual([upd(5, 1), upd(3, 0), upd(1, 1)]);
    close(tl);
  });

  it("cluster: refcount changes and L2 entries mapped to it", () => {
    const tl = timeline();
    tl.addWatch({ kind: "cluster", hostCluster: X });
    const fwd = stops(tl, "fwd");
    const mapped = (i: number) => firstIn(i, (e) => e.kind === EventKind.L2Update && e.b === X * CS);
    const upd = (i: number) => firstIn(i, (e) => e.kind === EventKind.RefcountUpdate && e.a === X);
    expect(fwd.map((s) => s.pos)).toEqual([upd(1), mapped(1), upd(3), upd(5), mapped(5)]);
    close(tl);
  });

  it("l2-table: the table of L1 entry 0 moving and its entries changing", () => {
    const tl = timeline();
    tl.addWatch({ kind: "l2-table", l1Index: 0 });
    const fwd = stops(tl, "fwd");
    const l2upd = (i: number) => firstIn(i, (e) => e.kind === EventKind.L2Update);
    expect(fwd.map((s) => s.pos)).toEqual([firstIn(0, (e) => e.kind === EventKind.L1Update), l2upd(0), l2upd(1), l2upd(3), l2upd(5)]);
    expect(fwd[0]!.reason.detail).toMatch(/L1 entry 0: L2 table 0x0 -> 0x4000/);
    expect(fwd[2]!.reason.detail).toMatch(/entry 2/);
    close(tl);
  });

  it("rejects watches that cannot be evaluated", () => {
    const tl = timeline();
    expect(() => tl.addWatch({ kind: "refcount", hostCluster: -1 })).toThrow(/host cluster/);
    expect(() => tl.addWatch({ kind: "l2-table", l1Index: 1.5 })).toThrow(/L1 index/);
    close(tl);
  });
});
