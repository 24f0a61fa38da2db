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
import { RequestEvents } from "../../engine/replay/request-events.js";
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
