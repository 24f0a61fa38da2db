// Issue 14's rough edges in the command language: the report's words for a cache miss as breakpoints
// (`break cache_miss l2`, `break l2-miss`), one wording for a cache with no lookups, and an event list that says
// when it is capped.
import { writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openTraceSession } from "../../inspector/session/open-session.js";
import { MAX_EVENT_ROWS } from "../../inspector/session/session-views.js";
import { hitRate, NO_LOOKUPS } from "../../engine/replay/human-units.js";
import { compareRow, formatCompareTable } from "../../engine/replay/compare.js";
import { replayTrace } from "../../engine/replay/replay-stats.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { defaultConfig } from "../../engine/image/engine-config.js";
import { openWorkload } from "../../engine/workload/index.js";
import { tmpDir } from "../format/qemu-images.js";
import { tourTrace, type Captured } from "./helpers.js";

let open: Captured[] = [];
const track = (c: Captured) => (open.push(c), c);
afterEach(() => {
  for (const c of open) c.session.close();
  open = [];
});
const tmp = tmpDir("qcowdbg-vocab-");
afterAll(() => tmp.cleanup());

describe("breakpoints in the report's words", () => {
  it("break cache_miss l2 stops on L2 misses only; break refcount-miss on refcount misses; both say so in info break", () => {
    const c = track(tourTrace());
    expect(c.run("break cache_miss l2")).toEqual(["Breakpoint 1: L2 cache miss (event qcow2_cache_get_replace_entry)"]);
    expect(c.run("c")[0]).toMatch(/^Breakpoint 1: #\d+ qcow2_cache_get_replace_entry {2}L2 miss: /);
    // The refcount miss of request 8 (what plain `break cache_miss` stops on next) is passed over.
    for (let i = 0; i < 20; i++) {
      const line = c.run("c")[0]!;
      expect(line).not.toMatch(/refcount miss/);
      if (!line.startsWith("Breakpoint 1")) {
        expect(line).toBe("The trace ended: 63 requests replayed.");
        break;
      }
    }
    c.run("delete");
    const d = track(tourTrace());
    expect(d.run("break refcount-miss")).toEqual(["Breakpoint 1: refcount cache miss (event qcow2_cache_get_replace_entry)"]);
    expect(d.run("c")[0]).toMatch(/refcount miss: slot 0 \(empty\) for 0x20000$/);
    expect(d.run("break l2-miss")[0]).toBe("Breakpoint 2: L2 cache miss (event qcow2_cache_get_replace_entry)");
    expect(d.run("break l2-miss refcount")[0]).toMatch(/"l2-miss" already names its cache; use: break l2-miss/);
    expect(d.run("break cache_miss nope")[0]).toMatch(/cache/);
  });
});

describe("one wording for a cache with no lookups", () => {
  it("counters, compare table and the helper all say 'no lookups'", () => {
    expect(hitRate(0, 0)).toBe(NO_LOOKUPS);
    expect(hitRate(3, 1)).toBe("75.0%");
    const c = track(tourTrace());
    expect(c.session.views.counterLines()[0]).toBe(`L2 hit ${NO_LOOKUPS} (0/0), refcount hit ${NO_LOOKUPS}`);
    // The cache panes say it in the same words (they said "hit -").
    for (const which of ["l2", "refcount"] as const) {
      const pane = c.session.views.cachePane(which);
      expect(pane.rows[0]!.text).toContain(`hit ${NO_LOOKUPS} (0/0)`);
      expect(pane.summary).toContain(`hit ${NO_LOOKUPS}`);
    }
    // A read-only trace over the tour image never looks up a refcount.
    const trace = tmp.path("reads.qemu-io");
    writeFileSync(trace, "read 0 4k\nread 64k 4k\n");
    const s = replayTrace(c.session.imagePath, openWorkload(trace).requests(), { config: defaultConfig(), profile: builtinProfile("nvme")! });
    const table = formatCompareTable([compareRow("baseline", s)]).join("\n");
    expect(table).toMatch(/refcount hit rate +no lookups/);
  });
});

describe("the event list of a huge request", () => {
  it("says how many events it leaves out, and `events` prints them all", () => {
    const img = tmp.path("small-clusters.qcow2");
    const r = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "cluster_size=512", img, "64M"]);
    expect(r.status).toBe(0);
    const trace = tmp.path("big.qemu-io");
    writeFileSync(trace, "write 0 4M\n");
    const s = openTraceSession(img, trace);
    try {
      s.execute("next");
      const pane = s.views.requestPane();
      const total = Number(/first 4096 of (\d+) events/.exec(pane.title)?.[1]);
      expect(total).toBeGreaterThan(MAX_EVENT_ROWS);
      expect(pane.rows.at(-1)!.text).toBe(`(${total - MAX_EVENT_ROWS} more events not listed: the pane shows the first ${MAX_EVENT_ROWS}; \`events\` in the REPL prints every one)`);
      expect(s.views.eventLines(false)).toHaveLength(total);
    } finally {
      s.close();
    }
  });
});
