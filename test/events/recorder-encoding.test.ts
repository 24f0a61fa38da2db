// The recorder stores each event as a variable-length record (value modes: 0, 1, -1, one word, sectors, an exact
// double in two words; requests as deltas from a block base; a cache_get + hit get_done pair as one record):
// every value must come back exactly as emitted, whatever its size, for every kind, across chunk and block
// boundaries, read forwards, backwards or by jumps, and after a rewind re-writes the same or other events.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventKind } from "../../engine/events/event-kind.js";
import { EVENT_KIND_COUNT } from "../../engine/events/event-schema.js";
import { CHUNK_WORDS } from "../../engine/events/event-record.js";
import { EventRecorder, type EngineEvent } from "../../engine/events/recorder.js";
import { hugeRegion } from "../../engine/storage/huge-region.js";

const EXTREMES = [
  0, 1, -1, 4096, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 512 * (2 ** 31 - 1), 512 * 2 ** 31,
  -512 * 2 ** 31, 100 * 2 ** 30 + 512, 2 ** 40 + 1, 2 ** 53 - 1, 2 ** 53 - 512, -(2 ** 53 - 1), 2 ** 53, 2 ** 64, 0.5,
  -1.25, 1e-300, Number.MAX_VALUE, Infinity, -Infinity,
];

type Emitted = Omit<EngineEvent, "seq">;

/** Values for a, b and c that recur: 0, 1 and -1 (no words), int32s, sector multiples and exact doubles. */
const RECUR = [0, 1, -1, 4096, 7, 103174676480, 2 ** 40 + 1, 2 ** 53 - 1, 0.5, 4096, 103174676480];

function emit(r: EventRecorder, e: Emitted): void {
  r.request = e.request;
  r.emit(e.kind, e.node, e.cache, e.slot, e.a, e.b, e.c, e.d);
}

function expectAt(r: EventRecorder, i: number, e: Emitted): void {
  expect(r.get(i)).toEqual({ seq: i, ...e });
  expect([r.kindAt(i), r.requestAt(i), r.nodeAt(i), r.cacheAt(i), r.slotAt(i), r.aAt(i), r.bAt(i), r.cAt(i), r.dAt(i)]).toEqual([e.kind, e.request, e.node, e.cache, e.slot, e.a, e.b, e.c, e.d]);
}

/** A deterministic spread of events: every kind, every extreme in every column, requests far apart. */
function sample(n: number, seed: number): Emitted[] {
  const out: Emitted[] = [];
  let s = seed;
  const pick = () => {
    s = (s * 48271) % 2147483647;
    return s;
  };
  const requests = [0, 1, 7, 2 ** 31 - 1, 2 ** 31 + 5, 2 ** 32 + 3, 2 ** 40, 2 ** 53 - 1];
  for (let i = 0; i < n; i++) {
    out.push({
      kind: (1 + (i % (EVENT_KIND_COUNT - 1))) as EventKind,
      request: i < 200 ? requests[pick() % requests.length]! : Math.floor(i / 30),
      node: i % 50 === 0 ? 256 + (pick() % 1000) : pick() % 256,
      cache: i % 70 === 0 ? (pick() % 20) - 10 : (pick() % 5) - 1,
      slot: pick() % 3 === 0 ? -1 : pick() % 3 === 0 ? pick() % 70_000 : (pick() % 2 ? 1 : -1) * (pick() % 2 ** 31),
      a: EXTREMES[pick() % EXTREMES.length]!,
      b: pick() % 2 ? EXTREMES[pick() % EXTREMES.length]! : pick() * 512,
      c: EXTREMES[pick() % EXTREMES.length]!,
      d: pick() % 4 === 0 ? EXTREMES[pick() % EXTREMES.length]! : 0,
    });
  }
  return out;
}

describe("event recorder encoding", () => {
  it("gives back every column of every kind exactly, extremes included", () => {
    const r = new EventRecorder();
    const evs = sample(3000, 11);
    for (const e of evs) emit(r, e);
    expect(r.length).toBe(evs.length);
    evs.forEach((e, i) => expectAt(r, i, e));
    for (const a of EXTREMES) {
      emit(r, { kind: 1 as EventKind, request: 2 ** 31 + 1, node: 255, cache: 3, slot: 2 ** 31 - 1, a, b: a === 0 ? 0 : -a, c: a, d: a });
      expectAt(r, r.length - 1, { kind: 1 as EventKind, request: 2 ** 31 + 1, node: 255, cache: 3, slot: 2 ** 31 - 1, a, b: a === 0 ? 0 : -a, c: a, d: a });
    }
  });

  it("holds across chunk boundaries, with requests far from the chunk's first one", () => {
    const r = new EventRecorder();
    const n = 70_000 * 2;
    const evs = sample(n, 5);
    // A request jump of more than 2^31 inside one chunk, late in the log.
    evs[100_000] = { ...evs[100_000]!, request: 2 ** 45 + 17 };
    for (const e of evs) emit(r, e);
    for (let i = 0; i < n; i += 97) expectAt(r, i, evs[i]!);
    for (const i of [65_535, 65_536, 65_537, 100_000, 100_001, 131_071, 131_072, n - 1]) expectAt(r, i, evs[i]!);
  });

  it("reads the same from chunks given two at a time by a region (huge pages), also after a truncate drops one", () => {
    for (const region of [(b: number) => new ArrayBuffer(b), hugeRegion]) {
      const r = new EventRecorder();
      const regions: number[] = [];
      r.chunkRegion = (bytes) => {
        regions.push(bytes);
        return region(bytes);
      };
      const evs = sample(200_000, 9);
      for (const e of evs) emit(r, e);
      const chunks = r.capacityBytes() / (CHUNK_WORDS * 4);
      expect(chunks).toBeGreaterThanOrEqual(3);
      // Each region is two chunks; the last pair may have its second chunk unwritten.
      expect(regions).toEqual(new Array(Math.ceil(chunks / 2)).fill(CHUNK_WORDS * 8));
      for (let i = 0; i < evs.length; i += 61) expectAt(r, i, evs[i]!);
      expectAt(r, evs.length - 1, evs[evs.length - 1]!);
      // Back into the first chunk: its pair's second chunk goes; writing on makes chunks (and regions) again.
      r.truncate(1000);
      expect(r.capacityBytes()).toBe(CHUNK_WORDS * 4);
      const again = sample(200_000, 4).slice(1000);
      for (const e of again) emit(r, e);
      for (let i = 0; i < 1000; i += 7) expectAt(r, i, evs[i]!);
      for (let i = 1000; i < 200_000; i += 59) expectAt(r, i, again[i - 1000]!);
      expect(regions.length).toBeGreaterThan(Math.ceil(chunks / 2));
    }
  });

  it("keeps what it held when a rewind re-writes the same events, and drops it from the first that differs", () => {
    const r = new EventRecorder();
    const wide = sample(500, 3).map((e) => ({ ...e, a: 2 ** 52 + 1, d: 2 ** 50 + 3, request: 2 ** 40 }));
    const narrow = wide.map((e) => ({ ...e, a: 4096, d: 0, request: 9 }));
    for (const e of wide) emit(r, e);
    // Re-execution: the same events again from 100, then a forward rewind to everything held.
    r.rewind(100);
    for (const e of wide.slice(100, 300)) emit(r, e);
    expect(r.length).toBe(300);
    r.rewind(500);
    for (let i = 0; i < 500; i++) expectAt(r, i, wide[i]!);
    // Different events from 100 on (records of another length): what lay past them is no longer held.
    r.rewind(100);
    for (const e of narrow.slice(100, 300)) emit(r, e);
    for (let i = 0; i < 300; i++) expectAt(r, i, i >= 100 ? narrow[i]! : wide[i]!);
    expect(() => r.rewind(301)).toThrow(RangeError);
    r.rewind(300);
    r.truncate(200);
    expect(r.length).toBe(200);
    for (const e of wide.slice(200, 260)) emit(r, e);
    for (let i = 200; i < 260; i++) expectAt(r, i, wide[i]!);
    expectAt(r, 150, narrow[150]!);
  });

  it("stores a cache_get and the get_done of its hit once and gives back both events, at every block position", () => {
    const r = new EventRecorder();
    const evs: Emitted[] = [];
    const get = (request: number, cache: number, a: number, b: number): Emitted => ({ kind: EventKind.CacheGet, request, node: 0, cache, slot: -1, a, b, c: 0, d: 0 });
    const done = (request: number, cache: number, a: number, slot: number, b = 0): Emitted => ({ kind: EventKind.CacheGetDone, request, node: 0, cache, slot, a, b, c: 0, d: 0 });
    for (let i = 0; i < 400; i++) {
      const req = 1 + (i >> 2);
      const a = i % 3 === 0 ? 2 ** 53 - 2 ** 16 : i % 3 === 1 ? 65536 * i : 2 ** 40 + 1;
      evs.push(get(req, i & 1, a, i % 5 === 0 ? 1 : 0));
      // Mostly a hit right after; sometimes a miss (b = 1), another slot width or another offset (no pair).
      if (i % 7 === 3) evs.push(done(req, i & 1, a, 5, 1));
      else if (i % 11 === 4) evs.push(done(req, i & 1, a + 65536, 7));
      else evs.push(done(req, i & 1, a, i % 13 === 0 ? 2 ** 40 : i % 60));
      // An odd event now and then moves the pairs across the 64-event blocks.
      if (i % 9 === 0) evs.push({ kind: EventKind.WritevStartReq, request: req, node: 0, cache: -1, slot: -1, a: 4096 * i, b: 4096, c: 0, d: 0 });
    }
    // A get followed by the get_done of its hit goes in through cacheHit(), as the cache does.
    let pairs = 0;
    for (let k = 0; k < evs.length; k++) {
      const e = evs[k]!;
      const n = evs[k + 1];
      if (e.kind === EventKind.CacheGet && n && n.kind === EventKind.CacheGetDone && n.b === 0 && n.a === e.a && n.cache === e.cache && n.request === e.request) {
        r.request = e.request;
        if (r.cacheHit(e.node, e.cache, n.slot, e.a, e.b)) pairs++;
        else {
          emit(r, e);
          emit(r, n);
        }
        k++;
      } else emit(r, e);
    }
    expect(r.length).toBe(evs.length);
    // All but the ones a block start would cut, or whose slot is not an int32.
    expect(pairs).toBeGreaterThan(250);
    evs.forEach((e, i) => expectAt(r, i, e));
    // Backwards and by jumps too (the cursor restarts at a block).
    for (let i = evs.length - 1; i >= 0; i -= 3) expectAt(r, i, evs[i]!);
    // Far fewer bytes than six words an event: pairs share their words.
    expect(r.bytesPerEvent()).toBeLessThan(12);
    // A truncate between the two halves of a pair keeps the cache_get alone; the log goes on after it.
    const p = evs.findIndex((e, i) => e.kind === EventKind.CacheGet && evs[i + 1]!.kind === EventKind.CacheGetDone && evs[i + 1]!.b === 0 && i > 100);
    r.truncate(p + 1);
    expectAt(r, p, evs[p]!);
    const other: Emitted = { kind: EventKind.L2Update, request: evs[p]!.request, node: 0, cache: 1, slot: 3, a: 17, b: 2 ** 33, c: 0, d: 0 };
    emit(r, other);
    emit(r, evs[p + 1]!);
    expectAt(r, p, evs[p]!);
    expectAt(r, p + 1, other);
    expectAt(r, p + 2, evs[p + 1]!);
  });

  it("shows listeners each half of a pair, and a listener that stops after the cache_get leaves the log consistent", () => {
    const r = new EventRecorder();
    const seen: EngineEvent[] = [];
    const off = r.onEvent((e) => seen.push(e));
    // With a listener, cacheHit() leaves the two events to emit() (the cache emits them one by one then).
    r.request = 3;
    expect(r.cacheHit(0, 1, 9, 65536, 1)).toBe(false);
    emit(r, { kind: EventKind.CacheGet, request: 3, node: 0, cache: 1, slot: -1, a: 65536, b: 1, c: 0, d: 0 });
    emit(r, { kind: EventKind.CacheGetDone, request: 3, node: 0, cache: 1, slot: 9, a: 65536, b: 0, c: 0, d: 0 });
    off();
    expect(seen.map((e) => [e.kind, e.slot, e.b])).toEqual([
      [EventKind.CacheGet, -1, 1],
      [EventKind.CacheGetDone, 9, 0],
    ]);
    const stop = new Error("stop");
    const off2 = r.onEvent(() => {
      throw stop;
    });
    expect(() => emit(r, { kind: EventKind.CacheGet, request: 4, node: 0, cache: 1, slot: -1, a: 131072, b: 0, c: 0, d: 0 })).toThrow(stop);
    off2();
    expect(r.length).toBe(3);
    r.rewind(2);
    // Re-execution of request 4 in full: the same cache_get (compared, kept), then its get_done; a re-execution
    // goes event by event.
    r.request = 4;
    expect(r.cacheHit(0, 1, 2, 131072, 0)).toBe(false);
    emit(r, { kind: EventKind.CacheGet, request: 4, node: 0, cache: 1, slot: -1, a: 131072, b: 0, c: 0, d: 0 });
    emit(r, { kind: EventKind.CacheGetDone, request: 4, node: 0, cache: 1, slot: 2, a: 131072, b: 0, c: 0, d: 0 });
    // A pair record, then a truncate and a rewind inside it.
    r.request = 5;
    expect(r.cacheHit(0, 0, 7, 2 ** 44, 1)).toBe(true);
    expectAt(r, 4, { kind: EventKind.CacheGet, request: 5, node: 0, cache: 0, slot: -1, a: 2 ** 44, b: 1, c: 0, d: 0 });
    expectAt(r, 5, { kind: EventKind.CacheGetDone, request: 5, node: 0, cache: 0, slot: 7, a: 2 ** 44, b: 0, c: 0, d: 0 });
    r.rewind(5);
    emit(r, { kind: EventKind.CacheGetDone, request: 5, node: 0, cache: 0, slot: 7, a: 2 ** 44, b: 0, c: 0, d: 0 });
    expect(r.length).toBe(6);
    r.rewind(5);
    emit(r, { kind: EventKind.CacheGetDone, request: 5, node: 0, cache: 0, slot: 8, a: 2 ** 44, b: 0, c: 0, d: 0 });
    expectAt(r, 4, { kind: EventKind.CacheGet, request: 5, node: 0, cache: 0, slot: -1, a: 2 ** 44, b: 1, c: 0, d: 0 });
    expectAt(r, 5, { kind: EventKind.CacheGetDone, request: 5, node: 0, cache: 0, slot: 8, a: 2 ** 44, b: 0, c: 0, d: 0 });
    // Recording off: counted, not held.
    r.enabled = false;
    expect(r.cacheHit(0, 1, 1, 65536, 1)).toBe(true);
    expect(r.length).toBe(6);
    expect(r.counts[EventKind.CacheGet]).toBe(5);
    r.enabled = true;
    expectAt(r, 2, { kind: EventKind.CacheGet, request: 4, node: 0, cache: 1, slot: -1, a: 131072, b: 0, c: 0, d: 0 });
    expectAt(r, 3, { kind: EventKind.CacheGetDone, request: 4, node: 0, cache: 1, slot: 2, a: 131072, b: 0, c: 0, d: 0 });
    expectAt(r, 1, { kind: EventKind.CacheGetDone, request: 3, node: 0, cache: 1, slot: 9, a: 65536, b: 0, c: 0, d: 0 });
  });

  it("keeps ordinary events in their words when a dropped log is written again by much later requests", () => {
    // A long replay rewinds to 0 to drop costed events, and a scan with the log off writes each request's events
    // at one place: the same chunk then holds requests millions apart, which must not spill to the side map.
    const r = new EventRecorder();
    const ev = (request: number): Emitted => ({ kind: 3 as EventKind, request, node: 1, cache: 1, slot: 7, a: 100 * 2 ** 30, b: 4096, c: 1, d: 0 });
    for (let i = 0; i < 1000; i++) emit(r, ev(1 + (i >> 5)));
    for (const base of [70_000, 5_000_000, 2 ** 31 - 100]) {
      r.rewind(500);
      for (let i = 0; i < 300; i++) emit(r, ev(base + (i >> 5)));
      for (let i = 0; i < 300; i++) expectAt(r, 500 + i, ev(base + (i >> 5)));
    }
    expectAt(r, 499, ev(1 + (499 >> 5)));
    // Four words each (meta, slot, a in sectors, b), a request delta now and then: nothing went wide.
    expect(r.bytesPerEvent()).toBeLessThan(17);
  });

  it("reads each request's events back right after they are written, across blocks, and again from the records", () => {
    // The writer keeps the last two blocks decoded for the reader; older ones are decoded from their records.
    const r = new EventRecorder();
    const evs = sample(5000, 17).map((e, i) => ({ ...e, request: 1 + Math.floor(i / 27) }));
    let first = 0;
    for (let i = 0; i <= evs.length; i++) {
      if (i === evs.length || (i > 0 && evs[i]!.request !== evs[i - 1]!.request)) {
        for (let j = first; j < i; j++) expectAt(r, j, evs[j]!);
        first = i;
      }
      if (i < evs.length) emit(r, evs[i]!);
    }
    for (let i = 0; i < evs.length; i += 7) expectAt(r, i, evs[i]!);
    for (let i = evs.length - 1; i >= 0; i -= 5) expectAt(r, i, evs[i]!);
  });

  it("reads right, whether the reader follows the writer, leaves it for old events, or comes back", () => {
    // The writer fills the reader's window only while a reader follows it (it read the newest events); a read of
    // old events takes the window away, the next read of the newest brings it back. Pairs go in as the cache puts them.
    const r = new EventRecorder();
    const evs: Emitted[] = [];
    for (let q = 1; q <= 400; q++) {
      const base = evs.length;
      for (let k = 0; k < 5 + (q % 23); k++) {
        const get: Emitted = { kind: EventKind.CacheGet, request: q, node: q % 3, cache: 1, slot: -1, a: q * 65536, b: 1, c: 0, d: 0 };
        const done: Emitted = { ...get, kind: EventKind.CacheGetDone, slot: k, b: 0 };
        r.request = q;
        if (k % 3 === 1 && r.cacheHit(get.node, 1, k, get.a, 1)) evs.push(get, done);
        else {
          const e: Emitted = { kind: (1 + ((q + k) % (EVENT_KIND_COUNT - 1))) as EventKind, request: q, node: 0, cache: -1, slot: -1, a: 2 ** 40 + q * k, b: k, c: 0, d: 0 };
          emit(r, e);
          evs.push(e);
        }
      }
      if (q % 4 !== 3) for (let j = base; j < evs.length; j++) expectAt(r, j, evs[j]!);
      if (q % 5 === 0) expectAt(r, (q * 37) % base || 0, evs[(q * 37) % base || 0]!);
    }
    for (let i = 0; i < evs.length; i++) expectAt(r, i, evs[i]!);
  });

  it("counts every kind even when recording is off", () => {
    const r = new EventRecorder();
    r.enabled = false;
    for (let k = 1; k < EVENT_KIND_COUNT; k++) r.emit(k as EventKind, 0, -1, -1, 2 ** 53 - 1, 0, 0);
    expect(r.length).toBe(0);
    expect(Array.from(r.counts).slice(1)).toEqual(Array(EVENT_KIND_COUNT - 1).fill(1));
  });

  it("gives every reader what a plain list would, whatever mix of writes, reads, listeners, rewinds and recording off", () => {
    // The writer's fast path (no block start, writer at the end, no follower, no listener) must hand over to the
    // slow one whenever any of that changes: a model list checks every event after every step.
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(99), fc.nat(1 << 20)), { minLength: 50, maxLength: 600 }), fc.nat(1000), (steps, seed) => {
        const r = new EventRecorder();
        const pool = sample(64, seed + 1);
        const model: Emitted[] = [];
        // Events a listener must have seen (every one emitted while it listens and recording is on), and saw.
        let owed = 0;
        let heard = 0;
        let off: (() => void) | null = null;
        let req = 1;
        for (const [op, v] of steps) {
          if (op < 55) {
            // An event, or a cache hit pair, in the current request.
            if (op % 5 === 0) req += 1 + (v % 3);
            r.request = req;
            if (op < 20) {
              // Few tables and slots, so that pairs repeat (PREPEAT records) and sometimes differ in one value only.
              const offset = (v % 3) * 65536 + (op % 2) * 2 ** 40;
              const slot = v % 11 === 0 ? 2 ** 33 : v % 4;
              const get: Emitted = { kind: EventKind.CacheGet, request: req, node: v % 3 === 0 ? 1 : 0, cache: v & 1, slot: -1, a: offset, b: (v >> 1) & 1, c: 0, d: 0 };
              const done: Emitted = { ...get, kind: EventKind.CacheGetDone, slot, b: 0 };
              // The model first: a listener checks each event as it comes.
              if (r.enabled) model.splice(r.length, model.length, get, done);
              if (r.enabled && off) owed += 2;
              if (!r.cacheHit(get.node, get.cache, slot, offset, get.b)) {
                emit(r, get);
                emit(r, done);
              }
            } else if (op < 38) {
              // Values that recur within a block (register references), mixed with others of every size.
              const e = { ...pool[v % pool.length]!, request: req, a: RECUR[v % RECUR.length]!, b: RECUR[(v >> 3) % RECUR.length]!, c: RECUR[(v >> 6) % RECUR.length]! };
              if (r.enabled) model.splice(r.length, model.length, e);
              if (r.enabled && off) owed++;
              emit(r, e);
            } else {
              const e = { ...pool[v % pool.length]!, request: req };
              if (r.enabled) model.splice(r.length, model.length, e);
              if (r.enabled && off) owed++;
              emit(r, e);
            }
          } else if (op < 70) {
            // A reader anywhere (the newest events make it follow the writer).
            const n = r.length;
            if (n > 0) {
              const i = op < 64 ? n - 1 - (v % Math.min(n, 3)) : v % n;
              expectAt(r, i, model[i]!);
            }
          } else if (op < 76) {
            // Rewind, then (often) re-execute the same events: kept and compared one by one.
            const n = r.length;
            const to = n - (v % Math.min(n + 1, 70));
            r.rewind(to);
            if (v & 1) {
              const again = model.slice(to, to + (v % 40));
              for (const e of again) emit(r, e);
              if (r.enabled && off) owed += again.length;
            }
          } else if (op < 82) {
            if (off) {
              off();
              off = null;
            } else
              off = r.onEvent((e) => {
                heard++;
                expect(e).toEqual({ seq: e.seq, ...model[e.seq]! });
              });
          } else if (op < 88) r.enabled = !r.enabled;
          else if (op < 91) {
            const n = Math.max(0, r.length - (v % 50));
            r.truncate(n);
            model.length = n;
          } else {
            // A read of everything now and then.
            for (let i = 0; i < r.length; i += 1 + (v % 5)) expectAt(r, i, model[i]!);
          }
          expect(r.length).toBeLessThanOrEqual(model.length);
        }
        for (let i = 0; i < r.length; i++) expectAt(r, i, model[i]!);
        expect(heard).toBe(owed);
      }),
      { numRuns: 150, seed: 7 },
    );
  });

  it("refers only to registers a reader rebuilds: after a truncate or a diverging re-execution anywhere in a block", () => {
    // Registers (the last a, b, c stored in words; each cache's last pair) carry over record to record: a writer put
    // back in the middle of a block must hold the registers as they were there, not as they were at the old end.
    const hit = (request: number, cache: number, a: number, slot: number): Emitted[] => [
      { kind: EventKind.CacheGet, request, node: 0, cache, slot: -1, a, b: 1, c: 0, d: 0 },
      { kind: EventKind.CacheGetDone, request, node: 0, cache, slot, a, b: 0, c: 0, d: 0 },
    ];
    const ev = (request: number, a: number, b: number, c: number): Emitted => ({ kind: EventKind.HandleAlloc, request, node: 0, cache: -1, slot: -1, a, b, c, d: 0 });
    const write = (r: EventRecorder, es: Emitted[]) => {
      for (let k = 0; k < es.length; k++) {
        const e = es[k]!;
        const n = es[k + 1];
        r.request = e.request;
        if (e.kind === EventKind.CacheGet && n?.kind === EventKind.CacheGetDone && r.cacheHit(e.node, e.cache, n.slot, e.a, e.b)) k++;
        else emit(r, e);
      }
    };
    // Two phases of one block: first tables X and values u, then tables Y and values w, so that at the old end the
    // registers hold Y and w; after the cut, Y and w again must be written out, not referred to.
    const X = 65536, Y = 2 ** 40, u = 2 ** 33 + 512, w = 103174676480;
    const head: Emitted[] = [...hit(1, 1, X, 3), ev(1, u, u + 512, 4096), ...hit(1, 0, X, 2), ev(1, u, 7, 4096), ...hit(1, 1, X, 3)];
    const tail: Emitted[] = [...hit(2, 1, Y, 5), ev(2, w, w, 2 ** 52), ...hit(2, 0, Y, 6), ev(2, w, 9, 2 ** 52), ...hit(2, 1, Y, 5), ev(2, u, w, 4096)];
    const all = [...head, ...tail];
    for (const follow of [false, true]) {
      for (let cut = 1; cut < all.length; cut++) {
        for (const how of ["truncate", "diverge"] as const) {
          const r = new EventRecorder();
          write(r, all);
          // A reader following the writer (the cost model) keeps the window at the end.
          if (follow) expectAt(r, r.length - 1, all[all.length - 1]!);
          let expected: Emitted[];
          if (how === "truncate") {
            r.truncate(cut);
            expected = all.slice(0, cut);
          } else {
            r.rewind(cut);
            // The same event first when it is one (kept, compared), then one that differs.
            const other = ev(all[cut]!.request, 12345, w, 2 ** 52);
            write(r, [other]);
            expected = [...all.slice(0, cut), other];
          }
          // Then what the old end's registers hold, and what the cut point's hold.
          const again = [...tail.slice(0, 6), ...head.slice(0, 4), ev(3, w, w, 2 ** 52), ev(3, u, u + 512, 4096)];
          // Two blocks of other events after, so that reading from the start decodes the records again rather than
          // reading what the writer handed a following reader.
          const filler = Array.from({ length: 130 }, (_, k) => ev(4, k, 0, 0));
          if (how === "diverge" && follow) {
            // And a writer put back at the very end after a following reader saw the tail written: the registers
            // come from what the reader was handed.
            // (The tail up to a pair record, and the tail's first pair alone: the last record the reader was handed
            // before the rewind is a pair.)
            for (const part of [tail.slice(0, 5), tail.slice(0, 2)]) {
              const f = new EventRecorder();
              write(f, head);
              expectAt(f, f.length - 1, head[head.length - 1]!);
              write(f, part);
              f.rewind(f.length);
              // The head's tables again, right after one event (which puts the writer back).
              const back = [ev(3, 1, 2, 3), ...hit(3, 0, X, 2), ...hit(3, 1, X, 3), ...hit(3, 0, Y, 6)];
              write(f, [...back, ...filler]);
              [...head, ...part, ...back, ...filler].forEach((e, i) => expectAt(f, i, e));
            }
          }
          write(r, [...again, ...filler]);
          expected = [...expected, ...again, ...filler];
          expect(r.length).toBe(expected.length);
          expected.forEach((e, i) => expectAt(r, i, e));
        }
      }
    }
  });
});
