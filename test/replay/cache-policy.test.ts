// cache-policy= end to end: parsed from --config, replayed, and shown in the report's settings. A replay where
// FIFO's victims differ from QEMU's LRU: a table used again before a new one arrives keeps its place only in LRU.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfigOptions } from "../../engine/image/engine-config.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";
import { replayTrace } from "../../engine/replay/replay-stats.js";
import { openWorkload } from "../../engine/workload/index.js";
import { tmpDir } from "../format/qemu-images.js";

const hasQemuImg = spawnSync("qemu-img", ["--version"]).status === 0;
const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

describe.skipIf(!hasQemuImg)("cache-policy", () => {
  const tmp = tmpDir("qcowdbg-policy-");
  afterAll(() => tmp.cleanup());
  const image = tmp.path("p.qcow2");
  const trace = tmp.path("p.qemu-io");
  spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", image, "1G"]);
  // Three 4 KiB L2 slices (0, 32M, 64M) through a cache of two: 0 is used again before 64M arrives.
  writeFileSync(trace, ["write 0 4k", "write 32M 4k", "write 64M 4k", "read 0 4k", "read 32M 4k", "read 0 4k", "read 64M 4k", "read 0 4k"].join("\n") + "\n");
  const base = "l2-cache-size=8K,l2-cache-entry-size=4K";
  const l2 = (policy: string) => {
    const s = replayTrace(image, openWorkload(trace).requests(), { config: parseConfigOptions(`${base},cache-policy=${policy}`), profile: builtinProfile("nvme") });
    return s.caches.l2;
  };

  it("FIFO misses where QEMU's LRU hits, and LRU is the default", () => {
    const lru = l2("lru");
    const fifo = l2("fifo");
    expect(fifo.misses).toBeGreaterThan(lru.misses);
    expect(fifo.repeatMisses).toBeGreaterThan(lru.repeatMisses);
    const dflt = replayTrace(image, openWorkload(trace).requests(), { config: parseConfigOptions(base), profile: builtinProfile("nvme") }).caches.l2;
    expect(dflt).toEqual(lru);
    expect(() => parseConfigOptions("cache-policy=arc")).toThrow("cache-policy: 'arc' is not lru, fifo, 2q");
  });

  it("the report's settings name the policy, and --compare accepts it", () => {
    const r = spawnSync(process.execPath, [CLI, "replay", image, trace, "--config", `${base},cache-policy=fifo`, "--compare", "cache-policy=lru"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/cache-policy=lru/);
    const one = spawnSync(process.execPath, [CLI, "replay", image, trace, "--config", "cache-policy=2q"], { encoding: "utf8" });
    expect(one.stdout).toMatch(/^ {2}cache-policy +2q +your option, a what-if/m);
  });
});
