// --chrome-trace and --events at scale: gzip when the name ends in .gz (one gzip member, which Perfetto's loader
// requires), a window of requests by number or by trace time, and the detail levels; every event argument named.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { EVENT_KIND_COUNT } from "../../engine/events/event-schema.js";
import { EVENT_ARGS } from "../../engine/events/event-args.js";
import type { Json } from "../format/qemu-images.js";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const TOUR = path.join(ROOT, "samples/images/tour.qcow2");
const TRACE = path.join(ROOT, "samples/traces/tour.qemu-io");
const tmp = tempDir("qcowdbg-chrome-");
afterAll(removeTempDirs);

function replay(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "replay", TOUR, TRACE, "--no-recommend", "--output=json", ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stderr: r.stderr };
}
const requests = (t: Json) => t.traceEvents.filter((e: Json) => e.ph === "X" && e.cat === "request");

describe("--chrome-trace at scale", () => {
  it("a .gz name gives one gzip member holding the same trace", () => {
    const plain = path.join(tmp, "t.json");
    const gz = path.join(tmp, "t.json.gz");
    expect(replay("--chrome-trace", plain).status).toBe(0);
    expect(replay("--chrome-trace", gz).status).toBe(0);
    const raw = fs.readFileSync(gz);
    expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]);
    // One member: inflating the first member consumes the whole file.
    const one = zlib.inflateRawSync(raw.subarray(10, raw.length - 8));
    expect(one.equals(fs.readFileSync(plain))).toBe(true);
    expect(raw.readUInt32LE(raw.length - 4)).toBe(one.length);
    expect(raw.readUInt32LE(raw.length - 8)).toBe(zlib.crc32(one));
    expect(requests(JSON.parse(zlib.gunzipSync(raw).toString()))).toHaveLength(63);
  });

  it("--from/--to by request number and by trace time", () => {
    const byNumber = path.join(tmp, "n.json");
    expect(replay("--chrome-trace", byNumber, "--from", "10", "--to", "19").status).toBe(0);
    const t = JSON.parse(fs.readFileSync(byNumber, "utf8"));
    expect(requests(t).map((e: Json) => e.args.request)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const events = path.join(tmp, "e.jsonl");
    expect(replay("--events", events, "--from", "5", "--to", "5").status).toBe(0);
    const lines = fs.readFileSync(events, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as Json);
    expect(new Set(lines.map((e) => e.request))).toEqual(new Set([5]));
    // tour.qemu-io has no timestamps: every request is at time 0, inside [0, 1s) and outside [1s, ...).
    const byTime = path.join(tmp, "t0.json");
    expect(replay("--chrome-trace", byTime, "--to", "1s").status).toBe(0);
    expect(requests(JSON.parse(fs.readFileSync(byTime, "utf8")))).toHaveLength(63);
    expect(replay("--chrome-trace", byTime, "--from", "1s").status).toBe(0);
    expect(requests(JSON.parse(fs.readFileSync(byTime, "utf8")))).toHaveLength(0);
    for (const bad of [["--from", "0"], ["--to", "soon"]]) {
      const r = replay("--chrome-trace", byTime, ...bad);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^qcowdbg: replay: --(from|to) .*\n$/);
    }
  });

  it("--chrome-detail: causes drops the decision instants, requests keeps only the requests", () => {
    const count = (detail: string) => {
      const f = path.join(tmp, `${detail}.json`);
      expect(replay("--chrome-trace", f, "--chrome-detail", detail).status).toBe(0);
      const t = JSON.parse(fs.readFileSync(f, "utf8"));
      return { instants: t.traceEvents.filter((e: Json) => e.ph === "i").length, slices: t.traceEvents.filter((e: Json) => e.ph === "X").length, requests: requests(t).length };
    };
    const all = count("all");
    const causes = count("causes");
    const reqs = count("requests");
    expect(all.instants).toBeGreaterThan(0);
    expect(causes).toEqual({ instants: 0, slices: all.slices, requests: 63 });
    expect(reqs).toEqual({ instants: 0, slices: 63, requests: 63 });
  });

  it("names every event argument from one table", () => {
    for (let k = 1; k < EVENT_KIND_COUNT; k++) expect(EVENT_ARGS[k], `kind ${k}`).toBeDefined();
    const f = path.join(tmp, "args.json");
    expect(replay("--chrome-trace", f).status).toBe(0);
    for (const e of JSON.parse(fs.readFileSync(f, "utf8")).traceEvents as Json[])
      if (e.cat !== "request" && e.ph !== "M") for (const k of Object.keys(e.args ?? {})) expect(["a", "b", "c"]).not.toContain(k);
  });
});
