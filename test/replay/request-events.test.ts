// A replay that needs no event log costs each request from a sink holding that request's events only
// (request-events.ts), or, explaining no request, charges each event as it is emitted (CostingSink); one with a
// reader of the log (a per-request hook) records every event in the recorder. All must give the same summary, field by field: totals, percentiles, time by cause, caches, the slowest requests'
// explanations. Seeded random traces of every op (and flags: FUA, preflush, compressed writes, past the end) over
// images with allocation, COW, a backing chain, compression, extended L2, an external data file, small caches.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfigOptions, type EngineConfig } from "../../engine/image/engine-config.js";
import { builtinProfile, type DeviceProfile } from "../../engine/replay/device-profiles.js";
import { replayTrace, type ReplaySummary } from "../../engine/replay/replay-stats.js";
import { CostingSink, RequestEvents } from "../../engine/replay/request-events.js";
import { CHARGED_KINDS, CostModel, TALLY_COUNT } from "../../engine/replay/cost-model.js";
import { emitShape, shapeValues, SHAPE_COUNT, SHAPE_VALUES, SHAPES, V_LEN, V_NODE, V_RSLOT, V_SIDX, V_SLOT } from "../../engine/events/event-shapes.js";
import { EVENT_KIND_COUNT } from "../../engine/events/event-schema.js";
import { EventKind } from "../../engine/events/event-kind.js";
import type { HostProfile } from "../../engine/replay/host-profile.js";
import { TEST_HOST } from "./host-fixture.js";
import type { GuestOp, GuestRequest } from "../../engine/workload/guest-request.js";
import { prng } from "../../engine/prng.js";
import { infoJson, qemuImg, tmpDir } from "../format/qemu-images.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const tmp = tmpDir("qcowdbg-request-events-");
afterAll(() => tmp.cleanup());

/** Seeded requests over `size` bytes: every op, sizes from 512 B to 3 clusters, some past the end. */
function trace(seed: number, n: number, size: number): GuestRequest[] {
  const r = prng(seed);
  const ops: GuestOp[] = ["write", "write", "write", "read", "read", "write-zeroes", "discard", "flush"];
  const out: GuestRequest[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    const op = ops[Math.floor(r() * ops.length)]!;
    const length = op === "flush" ? 0 : 512 * (1 + Math.floor(r() * (r() < 0.2 ? 384 : 16)));
    // Mostly within a few hot regions (hits, overwrites), some anywhere, a few past the end.
    const region = r() < 0.7 ? Math.floor(r() * 4) * (size / 8) : Math.floor(r() * size);
    const offset = op === "flush" ? 0 : r() < 0.01 ? size - 512 : Math.floor((region + r() * (size / 16)) / 512) * 512 % size;
    t += r() * 1e-4;
    out.push({
      time: r() < 0.05 ? NaN : t,
      op,
      offset,
      length,
      fua: op === "write" && r() < 0.05,
      preflush: r() < 0.03,
      source: `t:${i + 1}`,
      ...(op === "write" && r() < 0.04 ? { compressed: true } : {}),
      ...(op === "write-zeroes" && r() < 0.5 ? { mayUnmap: true } : {}),
    });
  }
  return out;
}

function comparable(s: ReplaySummary): unknown {
  return { ...s, wallSeconds: 0, requestsPerSecond: 0 };
}

function run(image: string, reqs: GuestRequest[], config: EngineConfig, profile: DeviceProfile, log: boolean, topN = 25): ReplaySummary {
  // A per-request hook reads the log, so that run records every event in the recorder. Without one, topN 0 (no
  // request explained) costs events as they are emitted (CostingSink), else from one request's (RequestEvents).
  return replayTrace(image, reqs, { config, profile, topN, ...(log ? { onOpen: () => undefined } : {}) });
}

const images: { name: string; path: () => string; size: number }[] = [];
beforeAll(() => {
  const mk = (name: string, ...opts: string[]) => {
    const p = tmp.path(`${name}.qcow2`);
    qemuImg("create", "-q", "-f", "qcow2", ...opts, p, "1G");
    images.push({ name, path: () => p, size: 2 ** 30 });
  };
  mk("fresh-64k");
  mk("fresh-4k", "-o", "cluster_size=4096");
  mk("extended-l2", "-o", "cluster_size=131072,extended_l2=on");
  mk("prealloc", "-o", "preallocation=metadata");
  mk("lazy", "-o", "lazy_refcounts=on");
  const base = tmp.path("base.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", base, "1G");
  qemuImg("create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", tmp.path("overlay.qcow2"));
  images.push({ name: "overlay", path: () => tmp.path("overlay.qcow2"), size: 2 ** 30 });
  const data = tmp.path("ext.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", "-o", `data_file=${tmp.path("ext.data")}`, data, "1G");
  images.push({ name: "data-file", path: () => data, size: 2 ** 30 });
  for (const s of ["tour.qcow2", "compressed-zlib.qcow2", "chain-top.qcow2"]) {
    const p = here(`../../samples/images/${s}`);
    images.push({ name: s, path: () => p, size: Number(infoJson(p)["virtual-size"]) });
  }
});

describe("RequestEvents", () => {
  it("holds one request's events, as the recorder reads them back", () => {
    const s = new RequestEvents();
    for (let i = 0; i < 200; i++) s.emit(3, i & 1, 1, i, i * 2 ** 40, i, -1);
    expect(s.length).toBe(200);
    expect([s.kindAt(199), s.nodeAt(199), s.slotAt(199), s.aAt(199), s.bAt(199), s.cAt(199)]).toEqual([3, 1, 199, 199 * 2 ** 40, 199, -1]);
    s.clear();
    expect(s.length).toBe(0);
    expect(s.counts[3]).toBe(200);
    s.enabled = false;
    s.emit(3, 0, 1, 0, 0, 0, 0);
    expect([s.length, s.counts[3]]).toEqual([0, 201]);
  });

  // A calibrated profile too: its host model charges more kinds (allocation, zero ranges, page cache).
  const host: HostProfile = { ...TEST_HOST, cachedRead: { us: 10, usPerKiB: 1 }, bufferedWrite: { us: 5, usPerKiB: 2 }, bufferedAllocWrite: { us: 7, usPerKiB: 3 } };
  const models = (): CostModel[] => [new CostModel(builtinProfile("hdd")!, { cacheMode: "writeback", clusterSize: 65536 }), new CostModel({ ...builtinProfile("nvme")!, host }, { cacheMode: "writeback", clusterSize: 65536 })];

  it("charge() changes nothing for a kind outside CHARGED_KINDS, so a shape's other events may be skipped", () => {
    const charged = new Set<number>(CHARGED_KINDS);
    let skipped = 0;
    for (let kind = 0; kind < EVENT_KIND_COUNT; kind++) {
      if (charged.has(kind)) continue;
      for (const [m, fresh] of models().map((x, i) => [x, models()[i]!] as const)) {
        m.begin(true);
        fresh.begin(true);
        m.charge(kind, 0, 1, 65536 * 7, 4096, 3);
        m.charge(kind, 1, 2, 0, 512, 9);
        expect([...m.causes], `kind ${kind}`).toEqual([...fresh.causes]);
        expect([...m.tally], `kind ${kind}`).toEqual(new Array(TALLY_COUNT).fill(0));
        // Nor the head position or the last allocation: the next I/O costs what it costs on a fresh model.
        for (const x of [m, fresh]) {
          x.charge(EventKind.ClusterAlloc, 0, 0, 65536 * 7, 1, 0);
          x.charge(EventKind.SkipCow, 0, 0, 0, 1, 0);
          x.charge(EventKind.DataWrite, 0, 0, 65536 * 7 + 4096, 4096, 0);
        }
        expect(m.finish(), `kind ${kind}`).toBe(fresh.finish());
      }
      skipped++;
    }
    expect(skipped).toBeGreaterThan(10);
  });

  it("takes the fast path's shapes whole: the same counts, costs, tallies and (read back) events as one by one", () => {
    const r = prng(7);
    for (let id = 0; id < SHAPE_COUNT; id++) {
      for (let round = 0; round < 20; round++) {
        const p = round & 1;
        // Offsets anywhere in 64 GiB, a length of up to 64 KiB, node 0 or 1, small slot numbers.
        for (let k = 0; k < SHAPE_VALUES; k++) shapeValues[k] = r() < 0.1 ? 0 : Math.floor((r() * 2 ** 36) / 512) * 512;
        shapeValues[V_NODE] = r() < 0.8 ? 0 : 1;
        shapeValues[V_LEN] = 512 * (1 + Math.floor(r() * 128));
        shapeValues[V_SLOT] = Math.floor(r() * 16);
        shapeValues[V_RSLOT] = Math.floor(r() * 4);
        shapeValues[V_SIDX] = Math.floor(r() * 8192);
        const values = shapeValues.slice();
        const [ma, mb, mc, md] = [models()[p], models()[p], models()[p], models()[p]];
        const whole = new RequestEvents();
        const single = Object.assign(new RequestEvents(), { shape: undefined });
        const wholeC = new CostingSink();
        const singleC = Object.assign(new CostingSink(), { shape: undefined });
        whole.model = ma!;
        single.model = mb!;
        wholeC.model = mc!;
        singleC.model = md!;
        for (const [s, m] of [[whole, ma], [single, mb], [wholeC, mc], [singleC, md]] as const) {
          // An event before the shape and one after: the shape sits between them in order.
          s.charging = true;
          m!.begin(true);
          s.emit(EventKind.DataRead, 0, 0, -1, 512, 512, 0);
          shapeValues.set(values);
          emitShape(s, id);
          s.emit(EventKind.FlushToDisk, 0, 0, -1, 0, 0, 0);
          s.charging = false;
        }
        const label = `shape ${id} round ${round}`;
        expect(ma!.finish(), label).toBeGreaterThan(0);
        expect(whole.length, label).toBe(SHAPES[id]!.events + 2);
        for (const [a, b, ma2, mb2] of [[whole, single, ma, mb], [wholeC, singleC, mc, md]] as const) {
          expect(a.length, label).toBe(b.length);
          expect([...a.counts], label).toEqual([...b.counts]);
          expect(ma2!.finish(), label).toBe(mb2!.finish());
          expect([...ma2!.causes], label).toEqual([...mb2!.causes]);
          expect([...ma2!.tally], label).toEqual([...mb2!.tally]);
        }
        const fields = (s: RequestEvents) => Array.from({ length: s.length }, (_, i) => [s.kindAt(i), s.nodeAt(i), s.cacheAt(i), s.slotAt(i), s.aAt(i), s.bAt(i), s.cAt(i)]);
        expect(fields(whole), label).toEqual(fields(single));
      }
    }
  });

  const configs: [string, string][] = [
    ["", "nvme"],
    ["l2-cache-size=8K,refcount-cache-size=4K", "hdd"],
    ["cache=writethrough,l2-cache-entry-size=4K", "sata-ssd"],
    ["cache-policy=2q,l2-cache-size=64K", "network"],
  ];
  it("gives the same summary as the recorder, field by field, over seeded traces, images and configurations", () => {
    let compared = 0;
    images.forEach((img, k) => {
      for (let seed = 1; seed <= 3; seed++) {
        const [opts, prof] = configs[(k + seed) % configs.length]!;
        const config = parseConfigOptions(opts);
        const profile = builtinProfile(prof)!;
        const reqs = trace(1000 * k + seed, 400, img.size);
        const lean = run(img.path(), reqs, config, profile, false);
        const logged = run(img.path(), reqs, config, profile, true);
        expect(lean.requests, `${img.name} seed ${seed}`).toBe(400);
        expect(comparable(lean), `${img.name} seed ${seed} ${opts} ${prof}`).toEqual(comparable(logged));
        expect(logged.slowest.length).toBeGreaterThan(0);
        const costed = run(img.path(), reqs, config, profile, false, 0);
        expect(comparable(costed), `${img.name} seed ${seed} ${opts} ${prof}, costed as emitted`).toEqual(comparable(run(img.path(), reqs, config, profile, true, 0)));
        expect(comparable({ ...costed, slowest: [] })).toEqual(comparable({ ...logged, slowest: [] }));
        compared++;
      }
    });
    expect(compared).toBe(images.length * 3);
  }, 120_000);
});
