// Recommendations are ranked by verified gain, gains under 1% are dropped (and named once), each says its cost,
// and the report header says where each setting comes from.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { defaultConfig, parseConfigOptions } from "../../engine/image/engine-config.js";
import { openWorkload } from "../../engine/workload/index.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { replayTrace } from "../../engine/replay/replay-stats.js";
import { MIN_GAIN, rankRecommendations, type Measured, type Recommendation } from "../../engine/replay/recommend.js";
import { buildReport, formatReport } from "../../engine/replay/report.js";
import { settingSources } from "../../engine/replay/setting-sources.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const TOUR = here("../../samples/images/tour.qcow2");
const TOUR_TRACE = here("../../samples/traces/tour.qemu-io");

function m(totalUs: number): Measured {
  return { totalUs, avgUs: 0, p99Us: 0, l2MissRate: 0, l2Misses: 0, l2RepeatMisses: 0, syncs: 0, cowBytes: 0, targetUs: 0 };
}
function rec(id: Recommendation["id"], option: string, after: number | null, cost = "c"): Recommendation {
  const r: Recommendation = { id, option, reason: "r", expected: "e", targets: [], cost };
  if (after !== null) {
    r.before = m(1000);
    r.after = m(after);
    r.improved = after < 1000;
  } else r.skipped = "not verified: qemu-img is not installed";
  return r;
}

describe("ranking", () => {
  it("orders verified advice by gain, drops gains under 1%, keeps refuted and unverified after, combined last", () => {
    const ranked = rankRecommendations([
      rec("lazy-refcounts", "lazy-refcounts=on", 996),
      rec("l2-cache-entry-size", "l2-cache-entry-size=4K", 971),
      rec("combined", "all", 100),
      rec("cache-mode", "cache=writeback", 120),
      rec("cluster-size", "cluster_size=128K,extended_l2=on", null),
      rec("l2-cache-size", "l2-cache-size=4M", 1100),
      rec("preallocation", "preallocation=metadata", 900),
    ]);
    expect(ranked.map((r) => r.option)).toEqual([
      "cache=writeback",
      "preallocation=metadata",
      "l2-cache-entry-size=4K",
      "lazy-refcounts=on",
      "l2-cache-size=4M",
      "cluster_size=128K,extended_l2=on",
      "all",
    ]);
    expect(ranked[0]!.gain).toBeCloseTo(0.88);
    expect(ranked.find((r) => r.id === "lazy-refcounts")!.dropped).toMatch(/0\.4% is under 1%/);
    expect(ranked.find((r) => r.id === "l2-cache-entry-size")!.dropped).toBeUndefined();
    expect(MIN_GAIN).toBe(0.01);
  });

  it("the report shows ranked advice with gain and cost, names the dropped one once, and says where settings come from", () => {
    const config = parseConfigOptions("l2-cache-size=1M");
    const s = replayTrace(TOUR, openWorkload(TOUR_TRACE).requests(), { config, profile: builtinProfile("nvme")! });
    const recs = rankRecommendations([rec("lazy-refcounts", "lazy-refcounts=on", 996, "safety: x"), rec("cache-mode", "cache=writeback", 120, "safety: lost writes")]);
    const text = formatReport(buildReport({ path: "t", format: "qemu-io", lines: 1, skipped: 0, filtered: 0 }, { name: "nvme", description: "d" }, s, recs, [], settingSources(config, s))).join("\n");
    expect(text).toMatch(/1\. cache=writeback {2}\(verified: -88\.0% modelled time\)/);
    expect(text).toMatch(/cost: safety: lost writes/);
    expect(text).not.toMatch(/^ {2}\d\. lazy-refcounts/m);
    expect(text).toMatch(/not shown \(verified gain under 1%\): lazy-refcounts=on -0\.4%/);
    expect(text).toMatch(/l2-cache-size +128 KiB +your option \(1 MiB, capped: 128 KiB maps the whole image\)/);
    expect(text).toMatch(/l2-cache-entry-size +64 KiB +QEMU 7\.2 default: the cluster size/);
    expect(text).toMatch(/lazy-refcounts +off +the image header/);
  });

  it("settings nobody chose read as QEMU 7.2's defaults for the image", () => {
    const s = replayTrace(TOUR, openWorkload(TOUR_TRACE).requests(), { config: defaultConfig(), profile: builtinProfile("nvme")! });
    const src = settingSources(defaultConfig(), s);
    expect(src.find((x) => x.setting === "l2-cache-size")!.source).toMatch(/^QEMU 7\.2 default for this image: min\(32 MiB, /);
    expect(src.find((x) => x.setting === "cache")!.source).toMatch(/^QEMU 7\.2 default/);
  });
});
