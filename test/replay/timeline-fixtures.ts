// Test helpers for the timeline: small images made by qemu-img, replay engines with a 2-entry L2 cache, and the
// whole engine state in a deep-comparable form (the oracle is a fresh engine run forwards).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { EngineEvent } from "../../engine/events/recorder.js";
import { Qcow2Image } from "../../engine/image/qcow2-image.js";
import type { MetadataCache } from "../../engine/image/metadata-cache.js";
import { ReplayEngine } from "../../engine/replay/replay-engine.js";
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import { qemuImg, qemuIo } from "../format/qemu-images.js";

export interface ImageSpec {
  clusterSize: number;
  size: number;
  refcountBits?: number;
  lazy?: boolean;
  extendedL2?: boolean;
  /** qemu-io writes made before the replay (so requests meet allocated clusters). */
  prefill?: string[];
  /** Path of a backing image (qcow2). */
  backing?: string;
}

export function makeImage(path: string, s: ImageSpec): string {
  const o = [`cluster_size=${s.clusterSize}`, `refcount_bits=${s.refcountBits ?? 16}`];
  if (s.lazy) o.push("lazy_refcounts=on");
  if (s.extendedL2) o.push("extended_l2=on");
  if (s.backing) o.push(`backing_file=${s.backing}`, "backing_fmt=qcow2");
  qemuImg("create", "-q", "-f", "qcow2", "-o", o.join(","), path, String(s.size));
  if (s.prefill?.length) qemuIo(path, ...s.prefill);
  return path;
}

export function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** A replay engine whose L2 cache holds two slices, so evictions happen constantly. */
export function openEngine(path: string, clusterSize: number): ReplayEngine {
  return new ReplayEngine(path, { config: { l2CacheSize: 2 * Math.min(clusterSize, 4096) } });
}

export function request(op: GuestRequest["op"], offset: number, length: number, time = 0): GuestRequest {
  return { time, op, offset, length, fua: false, preflush: false, source: "test" };
}

function cacheState(c: MetadataCache) {
  return {
    offsets: Array.from(c.offsets),
    lru: Array.from(c.lru),
    refs: Array.from(c.refs),
    dirty: Array.from(c.dirty),
    tables: createHash("sha256").update(c.tables).digest("hex"),
    lruCounter: c.lruCounter,
    depends: c.depends === null ? null : c.depends.name,
    dependsOnFlush: c.dependsOnFlush,
    hits: c.hits,
    misses: c.misses,
    writebacks: c.writebacks,
  };
}

function imageState(img: Qcow2Image): unknown {
  const file = new Uint8Array(img.file.size());
  img.file.read(file, 0);
  return {
    header: JSON.stringify(img.header, (_k, v) => (typeof v === "bigint" ? v.toString() : v)),
    l1: Buffer.from(img.l1).toString("hex"),
    reftable: Buffer.from(img.reftable).toString("hex"),
    reftableSize: img.reftableSize,
    l2: cacheState(img.l2Cache),
    refcount: cacheState(img.refcountCache),
    freeClusterIndex: img.rt.freeClusterIndex,
    dirty: img.dirty,
    corrupt: img.corrupt,
    pendingDiscards: img.rt.pendingDiscards.slice(),
    preallocation: [img.rt.metadataPreallocationChecked, img.rt.metadataPreallocation],
    fileSize: img.file.size(),
    fileBytes: createHash("sha256").update(file).digest("hex"),
    backing: img.backing instanceof Qcow2Image ? imageState(img.backing) : null,
  };
}

/** Everything the engine holds after its requests, in a form toEqual compares field by field. */
export function engineState(e: ReplayEngine): unknown {
  return {
    requests: e.requests,
    requestStarts: Array.from(e.requestStarts.subarray(0, e.requests)),
    recorderLength: e.recorder.length,
    events: [...e.recorder.events(0, e.recorder.length)],
    counts: Array.from(e.recorder.counts),
    image: imageState(e.image),
  };
}

/** A fresh engine run forwards through the first n requests. */
export function forwards(path: string, clusterSize: number, reqs: GuestRequest[], n: number): ReplayEngine {
  const e = openEngine(path, clusterSize);
  for (let i = 0; i < n; i++) e.apply(reqs[i]!);
  return e;
}

/** Runs the next request on `e` and returns its first `n` events and the cache arrays right after event n. */
export function eventsInto(e: ReplayEngine, req: GuestRequest, n: number): { events: EngineEvent[]; caches: unknown } {
  const events: EngineEvent[] = [];
  let caches: unknown = undefined;
  const snap = (c: MetadataCache) => c.view();
  const off = e.recorder.onEvent((ev) => {
    events.push(ev);
    if (events.length === n) caches = { l2: snap(e.image.l2Cache), refcount: snap(e.image.refcountCache) };
  });
  e.apply(req);
  off();
  return { events: events.slice(0, n), caches };
}

const MIB = 1024 * 1024;

/**
 * The image layouts the property tests run their workloads on (named files made in `path(name)`): small clusters,
 * 1- and 64-bit refcounts, lazy refcounts, extended L2 and a backing file, each prefilled so workloads meet
 * allocated, zero and discarded clusters.
 */
export function propertyLayouts(path: (name: string) => string): [string, ImageSpec][] {
  const backing = makeImage(path("backing.qcow2"), { clusterSize: 4096, size: 4 * MIB, prefill: ["write -P 0x11 0 1M", "write -P 0x22 2M 64k"] });
  return [
    ["plain4k.qcow2", { clusterSize: 4096, size: 4 * MIB }],
    ["tiny512.qcow2", { clusterSize: 512, size: 1 * MIB, refcountBits: 1, prefill: ["write 0 64k", "write -z 128k 8k"] }],
    ["lazy64k.qcow2", { clusterSize: 65536, size: 8 * MIB, lazy: true, prefill: ["write 0 200k", "write 3M 64k"] }],
    ["ext16k.qcow2", { clusterSize: 16384, size: 4 * MIB, extendedL2: true, prefill: ["write 0 20k", "write 1M 4k"] }],
    ["overlay4k.qcow2", { clusterSize: 4096, size: 4 * MIB, backing, prefill: ["write -P 0x33 512k 16k"] }],
    ["rc64.qcow2", { clusterSize: 4096, size: 2 * MIB, refcountBits: 64, prefill: ["write 0 40k", "discard 8k 8k"] }],
  ];
}
