// Time travel is exact: any sequence of forward and backward moves (steps, nexts, jumps, continues to
// breakpoints and watchpoints, in both directions) ends in the state a plain forward run reaches at the same
// position: L1, refcount table, cache arrays and tables, shadow bytes, event log, counters, and the event view.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplayEngine } from "../../engine/replay/replay-engine.js";
import { Timeline } from "../../engine/replay/timeline.js";
import type { BreakpointSpec, WatchSpec } from "../../engine/replay/timeline-api.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import { tmpDir } from "../format/qemu-images.js";
import { engineState, eventsInto, makeImage, propertyLayouts } from "./timeline-fixtures.js";

const dir = tmpDir("qcowdbg-timeline-");
interface Img {
  path: string;
  cs: number;
  size: number;
}
const images: Img[] = [];

beforeAll(() => {
  const specs = propertyLayouts((name) => dir.path(name));
  for (const [name, s] of specs) images.push({ path: makeImage(dir.path(name), s), cs: s.clusterSize, size: s.size });
});
afterAll(() => dir.cleanup());

const OPS: GuestRequest["op"][] = ["write", "write", "write", "write-zeroes", "discard", "flush", "read"];

function requestsArb(img: Img): fc.Arbitrary<GuestRequest[]> {
  const sectors = img.size / 512;
  const one = fc.record({
    op: fc.constantFrom(...OPS),
    sector: fc.nat(sectors - 1),
    count: fc.integer({ min: 1, max: Math.max(1, (3 * img.cs) / 512) }),
    mayUnmap: fc.boolean(),
    fua: fc.integer({ min: 0, max: 9 }),
    compressed: fc.integer({ min: 0, max: 4 }),
  });
  return fc.array(one, { minLength: 1, maxLength: 60 }).map((xs) =>
    xs.map((x, i): GuestRequest => {
      const offset = x.op === "flush" ? 0 : x.sector * 512;
      const length = x.op === "flush" ? 0 : Math.min(x.count * 512, img.size - offset);
      const r: GuestRequest = { time: i * 0.001, op: x.op, offset, length, fua: x.fua === 0, preflush: false, source: `prop:${i + 1}` };
      if (x.op === "write-zeroes") r.mayUnmap = x.mayUnmap;
      if (x.op === "write" && x.compressed === 0) {
        // A compressed write covers one whole cluster (qemu-io write -c); its packing cursor is engine state too.
        r.compressed = true;
        r.offset = Math.floor(offset / img.cs) * img.cs;
        r.length = Math.min(img.cs, img.size - r.offset);
      }
      return r;
    }),
  );
}

type Move =
  | { k: "step" | "next" | "rstep" | "rnext" | "cont" | "rcont" }
  | { k: "runTo"; frac: number }
  | { k: "time"; t: number };

const moveArb: fc.Arbitrary<Move> = fc.oneof(
  fc.constantFrom<Move>({ k: "step" }, { k: "step" }, { k: "next" }, { k: "rstep" }, { k: "rstep" }, { k: "rnext" }, { k: "cont" }, { k: "rcont" }),
  fc.record({ k: fc.constant("runTo" as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ k: fc.constant("time" as const), t: fc.double({ min: -0.01, max: 0.05, noNaN: true }) }),
);

const stopArb: fc.Arbitrary<{ bp?: BreakpointSpec; watch?: WatchSpec }> = fc.oneof(
  fc.constantFrom("qcow2_l2_allocate", "qcow2_cache_get_replace_entry", "cluster_free", "refcount_update", "metadata_write", "cow_write").map((eventName) => ({ bp: { kind: "event", eventName } as BreakpointSpec })),
  fc.record({ from: fc.nat(1 << 20), len: fc.integer({ min: 1, max: 1 << 16 }) }).map(({ from, len }) => ({ bp: { kind: "offset", from, to: from + len } as BreakpointSpec })),
  fc.nat(40).map((hostCluster) => ({ bp: { kind: "cluster", hostCluster } as BreakpointSpec })),
  fc.nat(2).map((index) => ({ bp: { kind: "l1", index } as BreakpointSpec })),
  fc.record({ l1Index: fc.nat(1), l2Index: fc.option(fc.nat(64), { nil: undefined }) }).map((s) => ({ bp: { kind: "l2", ...s } as BreakpointSpec })),
  fc.nat(40).map((hostCluster) => ({ watch: { kind: "refcount", hostCluster } as WatchSpec })),
  fc.nat(40).map((hostCluster) => ({ watch: { kind: "cluster", hostCluster } as WatchSpec })),
  fc.nat(1).map((l1Index) => ({ watch: { kind: "l2-table", l1Index } as WatchSpec })),
);

const policyArb = fc.record({
  interval: fc.constantFrom(1, 2, 4, 8, 32),
  maxEvents: fc.constantFrom(20, 100_000),
  // A tiny budget forces thinning (merging deltas, releasing shadow pages) at every checkpoint.
  budgetBytes: fc.constantFrom(64 * 1024, 1 << 30),
});

function apply(tl: Timeline, m: Move): void {
  switch (m.k) {
    case "step":
      tl.step();
      break;
    case "next":
      tl.next();
      break;
    case "rstep":
      tl.reverseStep();
      break;
    case "rnext":
      tl.reverseNext();
      break;
    case "cont":
      tl.continue();
      break;
    case "rcont":
      tl.reverseContinue();
      break;
    case "runTo":
      tl.runTo(Math.round(m.frac * tl.requestCount));
      break;
    case "time":
      tl.runToTime(m.t);
      break;
  }
}

describe("timeline: backwards equals forwards", () => {
  it("any sequence of moves ends in the forward state of its position", () => {
    const scenario = fc.nat(images.length - 1).chain((ii) =>
      fc.record({
        ii: fc.constant(ii),
        reqs: requestsArb(images[ii]!),
        moves: fc.array(moveArb, { minLength: 1, maxLength: 16 }),
        stops: fc.array(stopArb, { maxLength: 2 }),
        policy: policyArb,
        record: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(scenario, ({ ii, reqs, moves, stops, policy, record }) => {
        const img = images[ii]!;
        const open = () => new ReplayEngine(img.path, { record, config: { l2CacheSize: 2 * Math.min(img.cs, 4096) } });
        const tl = new Timeline(open(), reqs, { checkpoints: policy });
        for (const s of stops) {
          if (s.bp) tl.addBreakpoint(s.bp);
          if (s.watch) tl.addWatch(s.watch);
        }
        try {
          for (const m of moves) {
            const before = tl.position();
            apply(tl, m);
            const after = tl.position();
            expect(after.request).toBeGreaterThanOrEqual(0);
            expect(after.request).toBeLessThanOrEqual(reqs.length);
            if (m.k === "cont" && before.request < reqs.length) expect(after.request * 1e6 + after.event).toBeGreaterThan(before.request * 1e6 + before.event);
            if (m.k === "rcont" && (before.request > 0 || before.event > 0)) expect(after.request * 1e6 + after.event).toBeLessThan(before.request * 1e6 + before.event);
          }
          const { request: r, event: e } = tl.position();
          const oracle = open();
          try {
            for (let i = 0; i < r; i++) oracle.apply(reqs[i]!);
            expect(engineState(tl.engine)).toEqual(engineState(oracle));
            const v = tl.view();
            expect(v.position).toEqual({ request: r, event: e });
            expect(v.current).toEqual(reqs[r]);
            if (e > 0) {
              // The event view: what a forward run shows after e events of request r+1 (the log is on for this).
              oracle.recorder.enabled = true;
              const want = eventsInto(oracle, reqs[r]!, e);
              if (record) expect(v.events).toEqual(want.events);
              else expect(v.events.map(({ seq: _s, ...x }) => x)).toEqual(want.events.map(({ seq: _s, ...x }) => x));
              expect(v.caches).toEqual(want.caches);
            }
          } finally {
            oracle.close();
          }
        } finally {
          tl.dispose();
          tl.engine.close();
        }
      }),
      { numRuns: Number(process.env.QCOWDBG_PROPERTY_RUNS) || 150 },
    );
  });
});
