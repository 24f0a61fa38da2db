// The pane view models: the host-cluster map against qemu-img check's own counts, what a step marks as changed,
// and that going back shows exactly what was shown before.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Qcow2Image } from "../../engine/image/qcow2-image.js";
import { openTraceSession } from "../../inspector/session/open-session.js";
import { buildHostMap, foldMap, HostKind } from "../../inspector/session/cluster-map.js";
import { lruRanks, nextVictim } from "../../inspector/session/cache-view.js";
import type { Session } from "../../inspector/session/session.js";
import { ROOT, TOUR_IMAGE, TOUR_TRACE } from "./helpers.js";

const GOLD = path.join(ROOT, "samples/goldens");
let sessions: Session[] = [];
afterEach(() => {
  for (const s of sessions) s.close();
  sessions = [];
});
function tour(config = {}, record?: boolean): Session {
  const s = openTraceSession(TOUR_IMAGE, TOUR_TRACE, { config, record });
  // As the TUI has it: panes on screen, so commands mark what they changed.
  s.views.screen = true;
  sessions.push(s);
  return s;
}

interface CheckGolden {
  "allocated-clusters": number;
  "fragmented-clusters"?: number;
  leaks?: number;
  "image-end-offset": number;
}

const index = JSON.parse(fs.readFileSync(path.join(GOLD, "index.json"), "utf8")) as { samples: { name: string; image: string; format: string }[] };
const withCheck = index.samples.filter((s) => s.format === "qcow2" && fs.existsSync(path.join(GOLD, s.name, "check.json")) && fs.existsSync(path.join(ROOT, "samples/images", s.image)));

describe("host-cluster map", () => {
  it.each(withCheck.map((s) => [s.name, s.image]))("%s: allocated, fragmented and leaked clusters and the file end agree with qemu-img check", (name, image) => {
    const gold = JSON.parse(fs.readFileSync(path.join(GOLD, name, "check.json"), "utf8")) as CheckGolden;
    const img = Qcow2Image.open(path.join(ROOT, "samples/images", image), { allowCorrupt: true, noBacking: true });
    try {
      const m = buildHostMap(img);
      expect(m.allocated).toBe(gold["allocated-clusters"]);
      expect(m.fragmented).toBe(gold["fragmented-clusters"] ?? 0);
      expect(m.counts[HostKind.Leaked]).toBe(gold.leaks ?? 0);
      expect(m.clusters * m.clusterSize).toBe(gold["image-end-offset"]);
      expect(m.kinds[0]).toBe(HostKind.Header);
    } finally {
      img.close();
    }
  });

  it("after the whole tour trace, maps the file qemu-io left (tour-after-trace)", () => {
    const gold = JSON.parse(fs.readFileSync(path.join(GOLD, "tour-after-trace/check.json"), "utf8")) as CheckGolden;
    const s = tour({ cacheMode: "writethrough" });
    s.execute("run-to 63");
    const m = s.views.hostMap()!;
    expect([m.allocated, m.fragmented, m.clusters * m.clusterSize]).toEqual([gold["allocated-clusters"], gold["fragmented-clusters"], gold["image-end-offset"]]);
    expect(m.counts[HostKind.Leaked]).toBe(0);
  });

  it("folds many clusters into a cell by the most telling kind", () => {
    const kinds = new Uint8Array([HostKind.Data, HostKind.Data, HostKind.Free, HostKind.L2, HostKind.Free, HostKind.Free]);
    const f = foldMap({ clusterSize: 65536, clusters: 6, kinds, counts: new Float64Array(12), allocated: 0, fragmented: 0, truncated: false }, 3);
    expect(f.perCell).toBe(2);
    expect([...f.kinds]).toEqual([HostKind.Data, HostKind.L2, HostKind.Free]);
  });
});

describe("cache panes", () => {
  it("rank slots by LRU and name QEMU's next victim: the unpinned slot with the smallest counter", () => {
    const s = { offsets: new Float64Array([0x50000, 0x60000, 0x70000, 0]), lru: new Float64Array([5, 2, 9, 0]), refs: new Int32Array([0, 1, 0, 0]), dirty: new Uint8Array(4) };
    expect([...lruRanks(s)]).toEqual([2, 1, 3, 0]);
    expect(nextVictim(s)).toBe(3);
    s.refs[3] = 1;
    expect(nextVictim(s)).toBe(0);
  });
});

const texts = (s: Session) => {
  const v = s.views;
  return {
    request: v.requestPane().rows.map((r) => r.text),
    l2: v.cachePane("l2").rows.map((r) => r.text),
    refcount: v.cachePane("refcount").rows.map((r) => r.text),
    tables: v.tablesPane(12).rows.map((r) => r.text),
    map: v.mapPane(40, 2).rows.map((r) => r.text),
    header: v.headerPane().rows.map((r) => r.text),
    counters: v.countersPane().rows.map((r) => r.text),
    timeline: v.timelineRows(0, 63).map((r) => r.text),
  };
};

describe("what a step changed", () => {
  it("marks the cache slots, table entries, host clusters and counters a request changed", () => {
    const s = tour();
    s.execute("run-to 7");
    texts(s);
    // Request 8 writes 64K at 64K: a new data cluster, L2 entry 1, refcounts.
    s.execute("next");
    const v = s.views;
    const changed = (rows: { key: string; changed?: boolean }[]) => rows.filter((r) => r.changed).map((r) => r.key);
    expect(changed(v.tablesPane(12).rows)).toEqual([`l2:${0x40000}:1`]);
    expect(changed(v.cachePane("refcount").rows)).toContain("slot0");
    expect(changed(v.countersPane().rows)).toContain("cow");
    const m = v.mapPane(40, 2);
    expect(m.tones[0]!.some((t) => t === "changed")).toBe(true);
    expect(v.requestPane().rows.some((r) => r.changed && r.text.includes("qcow2_cluster_link_l2"))).toBe(true);
  });

  it("shows, after n then N, exactly what it showed before", () => {
    const s = tour();
    s.execute("run-to 20");
    const before = texts(s);
    s.execute("next");
    const after = texts(s);
    expect(after).not.toEqual(before);
    s.execute("reverse-next");
    expect(texts(s)).toEqual(before);
    // Going back is a change too: request 9 mapped L2 entry 2 (guest 128K); undoing it is marked.
    s.execute("run-to 8");
    s.execute("next");
    s.execute("reverse-next");
    expect(s.views.tablesPane(12).rows.filter((r) => r.changed).map((r) => r.key)).toEqual([`l2:${0x40000}:2`]);
  });
});

describe("without the event log (very long traces)", () => {
  it("shows the same counters it can know, and a request's events by re-running it", () => {
    const withLog = tour();
    const without = tour({}, false);
    for (const cmd of ["run-to 30", "next", "s", "s", "reverse-next", "run-to 50"]) {
      withLog.execute(cmd);
      without.execute(cmd);
      const a = withLog.views.countersPane().rows;
      const b = without.views.countersPane().rows;
      for (const key of ["l2", "meta", "wb"]) expect(b.find((r) => r.key === key)!.text).toBe(a.find((r) => r.key === key)!.text);
      expect(b.find((r) => r.key === "cow")!.text).toMatch(/^COW \? in \d+; alloc \? cl/);
      expect(without.views.focus().events.map((e) => [e.kind, e.a, e.b])).toEqual(withLog.views.focus().events.map((e) => [e.kind, e.a, e.b]));
    }
    expect(without.recorder()!.length).toBe(0);
  });
});

describe("without a screen", () => {
  it("commands build no pane views (a qemu-io script pays nothing for panes), and panes asked for still work", () => {
    const s = tour();
    s.views.screen = false;
    let built = 0;
    const views = s.views as unknown as { buildTables: (...a: unknown[]) => unknown };
    const orig = views.buildTables.bind(s.views);
    views.buildTables = (...a: unknown[]) => {
      built++;
      return orig(...a);
    };
    for (let i = 0; i < 5; i++) s.execute("next");
    expect(built).toBe(0);
    expect(s.views.tablesPane(12).rows.length).toBeGreaterThan(0);
    expect(built).toBe(1);
  });
});

describe("host map built in steps (the TUI builds it between keys)", () => {
  it("gives the map buildHostMap gives, and the pane says (updating) until it is rebuilt", () => {
    const s = tour();
    s.views.deferMap = true;
    s.execute("run-to 20");
    const first = s.views.mapPane(40, 2);
    expect(first.title).not.toMatch(/updating/);
    s.execute("run-to 40");
    expect(s.views.mapStale()).toBe(true);
    expect(s.views.mapPane(40, 2).title).toMatch(/\(updating\)/);
    let steps = 0;
    while (!s.views.refreshMapStep(0)) steps++;
    expect(steps).toBeGreaterThan(0);
    expect(s.views.mapStale()).toBe(false);
    const built = s.views.hostMap()!;
    const direct = buildHostMap(s.image()!);
    expect(Buffer.compare(Buffer.from(built.kinds), Buffer.from(direct.kinds))).toBe(0);
    expect([...built.counts]).toEqual([...direct.counts]);
    expect(s.views.mapPane(40, 2).title).not.toMatch(/updating/);
  });
});
