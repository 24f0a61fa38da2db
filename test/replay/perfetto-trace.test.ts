// --chrome-trace FILE.pftrace: Perfetto's protobuf format, decoded back here with a plain protobuf wire reader
// (independent of the writer) and held against the JSON trace of the same replay: same tracks, same slices and
// instants with the same names, times and named arguments. Also: the JSON default detail capped past its budget.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import type { Json } from "../format/qemu-images.js";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const TOUR = path.join(ROOT, "samples/images/tour.qcow2");
const TRACE = path.join(ROOT, "samples/traces/tour.qemu-io");
const tmp = tempDir("qcowdbg-pftrace-");
afterAll(removeTempDirs);

function replay(env: Record<string, string>, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "replay", TOUR, TRACE, "--no-recommend", "--output=json", ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { status: r.status, stderr: r.stderr };
}

type Field = { no: number; wire: number; v: bigint | Uint8Array };

/** Protobuf wire format: the fields of one message, in order. */
function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let s = 0n; ; s += 7n) {
      const c = b[i++]!;
      v |= BigInt(c & 0x7f) << s;
      if (c < 0x80) return v;
    }
  };
  while (i < b.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, v: varint() });
    else if (wire === 1) {
      out.push({ no, wire, v: b.subarray(i, i + 8) });
      i += 8;
    } else if (wire === 2) {
      const n = Number(varint());
      out.push({ no, wire, v: b.subarray(i, i + n) });
      i += n;
    } else throw new Error(`wire type ${wire} at ${i}`);
  }
  expect(i).toBe(b.length);
  return out;
}
const one = (fs_: Field[], no: number) => fs_.find((f) => f.no === no)?.v;
const num = (fs_: Field[], no: number) => Number(one(fs_, no) ?? 0n);
const str = (v: unknown) => Buffer.from(v as Uint8Array).toString("utf8");

interface Decoded {
  tracks: Map<number, { name: string; parent: number; rank: number }>;
  events: { ts: number; type: number; track: number; name?: string; cat?: string; args: Record<string, string | number | boolean> }[];
}

/** The trace as Perfetto's importer reads it: descriptors, events, interned names resolved per sequence. */
function decode(buf: Uint8Array): Decoded {
  const tracks: Decoded["tracks"] = new Map();
  const events: Decoded["events"] = [];
  const names = new Map<number, string>();
  const cats = new Map<number, string>();
  const annNames = new Map<number, string>();
  let cleared = false;
  for (const pf of fields(buf)) {
    expect(pf.no).toBe(1);
    const p = fields(pf.v as Uint8Array);
    expect(num(p, 10)).toBe(1); // trusted_packet_sequence_id
    const td = one(p, 60);
    if (td) {
      const d = fields(td as Uint8Array);
      tracks.set(num(d, 1), { name: str(one(d, 2)), parent: num(d, 5), rank: num(d, 12) });
      continue;
    }
    const flags = num(p, 13);
    if (flags & 1) cleared = true;
    expect(cleared).toBe(true); // interned data only after the state was cleared
    const interned = one(p, 12);
    if (interned) {
      for (const f of fields(interned as Uint8Array)) {
        const e = fields(f.v as Uint8Array);
        const table = f.no === 1 ? cats : f.no === 2 ? names : f.no === 3 ? annNames : undefined;
        expect(table).toBeDefined();
        expect(table!.has(num(e, 1))).toBe(false); // an iid is never redefined
        table!.set(num(e, 1), str(one(e, 2)));
      }
    }
    const te = fields(one(p, 11) as Uint8Array);
    const args: Record<string, string | number | boolean> = {};
    for (const a of te.filter((f) => f.no === 4).map((f) => fields(f.v as Uint8Array))) {
      const key = annNames.get(num(a, 1))!;
      const s = one(a, 6);
      const d = one(a, 5);
      args[key] = s !== undefined ? str(s) : d !== undefined ? Buffer.from(d as Uint8Array).readDoubleLE(0) : one(a, 2) !== undefined ? num(a, 2) === 1 : Number(BigInt.asIntN(64, one(a, 4) as bigint));
    }
    const nameIid = one(te, 10);
    events.push({
      ts: num(p, 8),
      type: num(te, 9),
      track: num(te, 11),
      name: nameIid !== undefined ? names.get(Number(nameIid)) : one(te, 23) !== undefined ? str(one(te, 23)) : undefined,
      cat: one(te, 3) !== undefined ? cats.get(num(te, 3)) : undefined,
      args,
    });
  }
  return { tracks, events };
}

describe("--chrome-trace FILE.pftrace (Perfetto protobuf)", () => {
  it("holds the JSON trace's tracks, slices, instants and arguments, in well under half the bytes", () => {
    const json = path.join(tmp, "t.json");
    const pb = path.join(tmp, "t.pftrace");
    expect(replay({}, "--chrome-trace", json).status).toBe(0);
    const r = replay({}, "--chrome-trace", pb);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const t = JSON.parse(fs.readFileSync(json, "utf8")) as Json;
    const { tracks, events } = decode(fs.readFileSync(pb));
    expect(fs.statSync(pb).size).toBeLessThan(fs.statSync(json).size / 2);

    // Tracks: the process and one child per JSON thread, named alike, in the JSON's sort order.
    const threads = t.traceEvents.filter((e: Json) => e.ph === "M" && e.name === "thread_name");
    const sortIndex = new Map(t.traceEvents.filter((e: Json) => e.name === "thread_sort_index").map((e: Json) => [e.tid as number, e.args.sort_index as number]));
    const root = [...tracks].find(([, d]) => d.parent === 0)!;
    expect(root[1].name).toBe(t.traceEvents.find((e: Json) => e.name === "process_name").args.name);
    expect(tracks.size).toBe(threads.length + 1);
    const trackOf = new Map<number, number>();
    for (const th of threads) {
      const hit = [...tracks].find(([, d]) => d.name === th.args.name)!;
      expect(hit[1].parent).toBe(root[0]);
      expect(hit[1].rank).toBe(sortIndex.get(th.tid));
      trackOf.set(th.tid as number, hit[0]);
    }

    // Slices: BEGIN/END pairs nest on every track; each is a JSON "X" event; instants are its "i" events.
    const open = new Map<number, number[]>();
    const slices: Decoded["events"] = [];
    const ends: number[] = [];
    for (const e of events) {
      if (e.type === 1) {
        (open.get(e.track) ?? open.set(e.track, []).get(e.track)!).push(slices.length);
        slices.push(e);
        ends.push(-1);
      } else if (e.type === 2) {
        const k = open.get(e.track)!.pop()!;
        expect(e.ts).toBeGreaterThanOrEqual(slices[k]!.ts);
        ends[k] = e.ts;
      }
    }
    for (const stack of open.values()) expect(stack).toEqual([]);
    const xs = t.traceEvents.filter((e: Json) => e.ph === "X");
    expect(slices).toHaveLength(xs.length);
    xs.forEach((x: Json, k: number) => {
      const s = slices[k]!;
      expect({ track: s.track, name: s.name, cat: s.cat, args: s.args }).toEqual({ track: trackOf.get(x.tid), name: x.name, cat: x.cat, args: x.args ?? {} });
      expect(Math.abs(s.ts - x.ts * 1000)).toBeLessThanOrEqual(1);
      expect(Math.abs(ends[k]! - s.ts - x.dur * 1000)).toBeLessThanOrEqual(2);
    });
    const is = t.traceEvents.filter((e: Json) => e.ph === "i");
    const instants = events.filter((e) => e.type === 3 && e.cat !== "metadata");
    expect(instants.map((e) => [e.track, e.name, e.args])).toEqual(is.map((x: Json) => [trackOf.get(x.tid), x.name, x.args ?? {}]));
    expect(xs.filter((x: Json) => x.cat === "request")).toHaveLength(63);

    // The metadata instant carries the schema and the totals JSON keeps in otherData.
    const meta = events.find((e) => e.cat === "metadata")!;
    expect(meta.args).toEqual({ ...t.otherData, schema: "qcowdbg-perfetto-trace/1" });
  });

  it(".pftrace.gz is the same trace, gzipped (Perfetto reads gzip)", () => {
    const pb = path.join(tmp, "u.pftrace");
    const gz = path.join(tmp, "u.pftrace.gz");
    expect(replay({}, "--chrome-trace", pb, "--chrome-detail", "causes").status).toBe(0);
    expect(replay({}, "--chrome-trace", gz, "--chrome-detail", "causes").status).toBe(0);
    expect(zlib.gunzipSync(fs.readFileSync(gz)).equals(fs.readFileSync(pb))).toBe(true);
  });
});

// The messages and fields the writer uses, as perfetto/protos declares them (field numbers and types).
const SCHEMA = `syntax = "proto2";
package perfetto.protos;
message DebugAnnotation { optional uint64 name_iid = 1; optional bool bool_value = 2; optional int64 int_value = 4;
  optional double double_value = 5; optional string string_value = 6; }
message TrackEvent { enum Type { TYPE_UNSPECIFIED = 0; TYPE_SLICE_BEGIN = 1; TYPE_SLICE_END = 2; TYPE_INSTANT = 3; }
  repeated uint64 category_iids = 3; repeated DebugAnnotation debug_annotations = 4; optional Type type = 9;
  optional uint64 name_iid = 10; optional uint64 track_uuid = 11; optional string name = 23; }
message TrackDescriptor { enum ChildTracksOrdering { UNKNOWN = 0; LEXICOGRAPHIC = 1; CHRONOLOGICAL = 2; EXPLICIT = 3; }
  optional uint64 uuid = 1; optional string name = 2; optional uint64 parent_uuid = 5;
  optional ChildTracksOrdering child_ordering = 11; optional int32 sibling_order_rank = 12; }
message InternedString { optional uint64 iid = 1; optional string name = 2; }
message InternedData { repeated InternedString event_categories = 1; repeated InternedString event_names = 2;
  repeated InternedString debug_annotation_names = 3; }
message TracePacket { optional uint64 timestamp = 8; optional uint32 trusted_packet_sequence_id = 10;
  optional TrackEvent track_event = 11; optional InternedData interned_data = 12; optional uint32 sequence_flags = 13;
  optional TrackDescriptor track_descriptor = 60; }
message Trace { repeated TracePacket packet = 1; }
`;

const hasProtoc = spawnSync("protoc", ["--version"]).status === 0;
describe.skipIf(!hasProtoc)(`protoc reads it${hasProtoc ? "" : " (skipped: protoc is not installed)"}`, () => {
  it("decodes with the declared schema, every field known and of its declared type", () => {
    const pb = path.join(tmp, "p.pftrace");
    expect(replay({}, "--chrome-trace", pb, "--to", "5").status).toBe(0);
    fs.writeFileSync(path.join(tmp, "perfetto.proto"), SCHEMA);
    const r = spawnSync("protoc", [`-I${tmp}`, "--decode=perfetto.protos.Trace", "perfetto.proto"], { input: fs.readFileSync(pb), encoding: "utf8", maxBuffer: 64 << 20 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // A field of an undeclared number, or of another wire type than declared, would print as "NUMBER: value".
    expect(r.stdout).not.toMatch(/^\s*\d+:/m);
    expect(r.stdout).toContain('name: "guest requests (modelled latency)"');
    expect(r.stdout).toContain("child_ordering: EXPLICIT");
    for (const t of ["TYPE_SLICE_BEGIN", "TYPE_SLICE_END", "TYPE_INSTANT"]) expect(r.stdout).toContain(`type: ${t}`);
    expect(r.stdout).toMatch(/event_names \{\s+iid: \d+\s+name: "(read|write|discard|write-zeroes) 0x[0-9a-f]+\+\d+"/);
    expect(r.stdout).toMatch(/string_value: "(read|write)"/);
    expect(r.stdout).toMatch(/int_value: \d+/);
  });
});

describe("--chrome-trace JSON with the default detail", () => {
  it("holds requests only once past its budget, and says so once on stderr", () => {
    const json = path.join(tmp, "capped.json");
    const r = replay({ QCOWDBG_TRACE_BUDGET: "20000" }, "--chrome-trace", json);
    expect(r.status).toBe(0);
    const note = /^qcowdbg: note: --chrome-trace: the trace passed 0 MiB at request (\d+); from there on it holds requests only, so that Perfetto.s UI can load it \(name the file .pftrace/.exec(r.stderr);
    expect(note).not.toBeNull();
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    const t = JSON.parse(fs.readFileSync(json, "utf8")) as Json;
    const cut = Number(note![1]);
    expect(t.traceEvents.filter((e: Json) => e.cat === "request")).toHaveLength(63);
    // Engine events only for the requests before the cut.
    const last = Math.max(...t.traceEvents.filter((e: Json) => (e.ph === "X" || e.ph === "i") && e.cat !== "request").map((e: Json) => e.args.request as number));
    expect(last).toBeLessThan(cut);
    // The protobuf format has its own budget, the same cut, and no advice to use itself.
    const pb = path.join(tmp, "capped.pftrace");
    const p = replay({ QCOWDBG_TRACE_BUDGET: "8000" }, "--chrome-trace", pb);
    expect(p.stderr).toMatch(/^qcowdbg: note: --chrome-trace: the trace passed 0 MiB at request \d+; from there on it holds requests only, so that Perfetto's UI can load it \(pass --chrome-detail all to keep every event\)\n$/);
    const events = decode(fs.readFileSync(pb)).events;
    expect(events.filter((e) => e.type === 1 && e.cat === "request")).toHaveLength(63);
    const pcut = Number(/at request (\d+)/.exec(p.stderr)![1]);
    expect(Math.max(...events.filter((e) => e.cat !== "request" && e.cat !== "metadata" && e.type !== 2).map((e) => e.args.request as number))).toBeLessThan(pcut);
    // An explicit --chrome-detail all is never capped.
    const all = replay({ QCOWDBG_TRACE_BUDGET: "20000" }, "--chrome-trace", path.join(tmp, "all.json"), "--chrome-detail", "all");
    expect(all.stderr).toBe("");
  });
});
