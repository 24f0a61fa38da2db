// Shape records (event-shapes.ts): a request's fixed sequence of events stored as one record per block it falls in.
// Every reader must see exactly the events a sink without shapes receives one by one (emitShape's other way), for
// extreme values and requests, at every block and chunk position, while following the writer, after rewinds whose
// re-execution repeats or diverges inside a shape, after truncates, with listeners and with recording off.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventKind } from "../../engine/events/event-kind.js";
import { ForwardingSink } from "../../engine/events/forwarding-sink.js";
import { emitShape, SHAPES, SHAPE_COUNT, SHAPE_VALUES, shapeValues } from "../../engine/events/event-shapes.js";
import { EventRecorder, type EngineEvent, type EventSink } from "../../engine/events/recorder.js";

type Emitted = Omit<EngineEvent, "seq">;

/** A sink without shape(): what every event emitShape hands over one by one looks like. */
class ListSink implements EventSink {
  enabled = true;
  request = 0;
  readonly events: Emitted[] = [];
  emit(kind: EventKind, node: number, cache: number, slot: number, a: number, b: number, c: number, d?: number): void {
    this.events.push({ kind, request: this.request, node, cache, slot, a, b, c, d: d ?? 0 });
  }
  cacheHit(node: number, cache: number, slot: number, offset: number, readFromDisk: number): boolean {
    this.emit(EventKind.CacheGet, node, cache, -1, offset, readFromDisk, 0);
    this.emit(EventKind.CacheGetDone, node, cache, slot, offset, 0, 0);
    return true;
  }
}

const EXTREMES = [0, 1, -1, 7, 4096, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32, 512 * (2 ** 31 - 1), 512 * 2 ** 31, 100 * 2 ** 30 + 512, 2 ** 40 + 1, 2 ** 53 - 1, 2 ** 53 - 512, -(2 ** 53 - 1), 2 ** 53, 0.5, -1.25, Number.MAX_VALUE, Infinity, -Infinity];

function values(seed: number): Float64Array {
  const v = new Float64Array(SHAPE_VALUES);
  let s = seed;
  for (let k = 0; k < SHAPE_VALUES; k++) {
    s = (s * 48271) % 2147483647;
    v[k] = s % 3 === 0 ? EXTREMES[s % EXTREMES.length]! : (s % 1000) * 512;
  }
  return v;
}

/** The events of shape `id` with values `v` in request `req`, as a sink without shapes gets them. */
function expected(id: number, v: Float64Array, req: number): Emitted[] {
  const l = new ListSink();
  l.request = req;
  shapeValues.set(v);
  emitShape(l, id);
  return l.events;
}

function recordShape(r: EventRecorder, id: number, v: Float64Array, req: number): void {
  r.request = req;
  shapeValues.set(v);
  emitShape(r, id);
}

function expectAt(r: EventRecorder, i: number, e: Emitted): void {
  expect(r.get(i)).toEqual({ seq: i, ...e });
  expect([r.kindAt(i), r.requestAt(i), r.nodeAt(i), r.cacheAt(i), r.slotAt(i), r.aAt(i), r.bAt(i), r.cAt(i), r.dAt(i)]).toEqual([e.kind, e.request, e.node, e.cache, e.slot, e.a, e.b, e.c, e.d]);
}

function plain(req: number, a: number): Emitted {
  return { kind: EventKind.MetadataWrite, request: req, node: 0, cache: 1, slot: 3, a, b: 65536, c: 0, d: 0 };
}

describe("shape records", () => {
  it("give back every event of every shape exactly, extreme values and requests included, at every block position", () => {
    const r = new EventRecorder();
    const model: Emitted[] = [];
    const requests = [1, 2, 2 ** 31 - 1, 2 ** 31 + 5, 2 ** 32 + 3, 2 ** 40, 2 ** 53 - 2, 2 ** 53 - 1];
    let k = 0;
    for (let pad = 0; pad < 64; pad++) {
      for (let id = 0; id < SHAPE_COUNT; id++, k++) {
        // Ordinary events before it put the shape at another place in its block each time.
        const req = k < 40 ? requests[k % requests.length]! : 1000 + k;
        for (let j = 0; j < pad % 7; j++) {
          const e = plain(req, j * 4096);
          r.request = req;
          r.emit(e.kind, e.node, e.cache, e.slot, e.a, e.b, e.c);
          model.push(e);
        }
        const v = values(k + 1);
        recordShape(r, id, v, req);
        model.push(...expected(id, v, req));
      }
    }
    expect(r.length).toBe(model.length);
    // Backwards, by jumps, then forwards: each read decodes from the block's first record.
    for (let i = model.length - 1; i >= 0; i -= 37) expectAt(r, i, model[i]!);
    for (let i = 0; i < model.length; i++) expectAt(r, i, model[i]!);
    // Counts are kept per kind as if each event had been emitted.
    const counts = new Float64Array(r.counts.length);
    for (const e of model) counts[e.kind]!++;
    expect(Array.from(r.counts)).toEqual(Array.from(counts));
  });

  it("hold across chunk boundaries and take a fraction of the words the events take one by one", () => {
    const r = new EventRecorder();
    const one = new EventRecorder();
    const model: Emitted[] = [];
    // ~30 events per request in ~14 words: a 1 MiB chunk fills after some 18,000 requests.
    for (let q = 1; q <= 40_000; q++) {
      const v = new Float64Array(SHAPE_VALUES);
      v[1] = (q * 7919 % 1_600_000) * 65536 + 512 * (q % 128);
      v[2] = 4096;
      v[3] = 2 ** 30 + (q % 200) * 65536;
      v[4] = q % 100;
      v[5] = 2 ** 33;
      v[6] = 1;
      v[7] = 188_000 + q;
      v[8] = (188_000 + q) * 65536;
      v[9] = v[8]! + 512 * (q % 128);
      v[10] = v[1]! - 512 * (q % 128);
      v[11] = q % 8192;
      const id = 1 + (q % 4);
      recordShape(r, id, v, q);
      if (q % 5 === 0) {
        const ev = expected(id, v, q);
        model[q] = ev[ev.length - 1]!;
        expect(r.get(r.length - ev.length)).toEqual({ seq: r.length - ev.length, ...ev[0]! });
      }
      // ForwardingSink has no shape(): a second recorder holding the same log without shape records.
      const l = new ForwardingSink(one);
      l.request = q;
      shapeValues.set(v);
      emitShape(l, id);
    }
    expect(r.capacityBytes()).toBeGreaterThan(1 << 20);
    expect(r.length).toBe(one.length);
    for (let i = 0; i < r.length; i += 97) expect(r.get(i)).toEqual(one.get(i));
    expect(r.bytesPerEvent()).toBeLessThan(one.bytesPerEvent() / 2);
  });

  it("are read right by a reader following the writer, request by request, across blocks", () => {
    const r = new EventRecorder();
    let at = 0;
    for (let q = 1; q < 400; q++) {
      const v = values(q);
      const id = q % SHAPE_COUNT;
      recordShape(r, id, v, q);
      const want = expected(id, v, q);
      // The cost model reads each request's events right after it: the window follows the writer.
      for (let j = 0; j < want.length; j++) expectAt(r, at + j, want[j]!);
      at += want.length;
      if (q % 3 === 0) {
        const e = plain(q, q * 512);
        r.emit(e.kind, e.node, e.cache, e.slot, e.a, e.b, e.c);
        expectAt(r, at, e);
        at++;
      }
    }
  });

  it("are compared event by event when a rewind re-executes them, and cut where the re-execution diverges", () => {
    const r = new EventRecorder();
    const model: Emitted[] = [];
    for (let q = 1; q <= 50; q++) {
      const v = values(q * 3);
      recordShape(r, 1 + (q % 4), v, q);
      model.push(...expected(1 + (q % 4), v, q));
    }
    const n = r.length;
    // Back into the middle of request 20's shape; the same request again is kept, whole.
    const start20 = model.findIndex((e) => e.request === 20);
    r.rewind(start20 + 5);
    r.request = 20;
    for (const e of model.slice(start20 + 5, start20 + 12)) r.emit(e.kind, e.node, e.cache, e.slot, e.a, e.b, e.c, e.d);
    expect(r.length).toBe(start20 + 12);
    r.rewind(n);
    for (let i = 0; i < n; i++) expectAt(r, i, model[i]!);
    // Back to the start of request 30 and a different shape from its 9th event on: the rest of the log goes.
    const start30 = model.findIndex((e) => e.request === 30);
    r.rewind(start30);
    r.request = 30;
    for (const e of model.slice(start30, start30 + 8)) r.emit(e.kind, e.node, e.cache, e.slot, e.a, e.b, e.c, e.d);
    const other = plain(30, 2 ** 53 - 1);
    r.emit(other.kind, other.node, other.cache, other.slot, other.a, other.b, other.c);
    expect(r.length).toBe(start30 + 9);
    // Written again after the cut: a shape (at the end of the log, so one record again) and its reading.
    const v = values(999);
    recordShape(r, 4, v, 31);
    const want = [...model.slice(0, start30 + 8), other, ...expected(4, v, 31)];
    expect(r.length).toBe(want.length);
    for (let i = want.length - 1; i >= 0; i--) expectAt(r, i, want[i]!);
    // A truncate inside a shape keeps its first events.
    r.truncate(start20 + 3);
    expect(r.length).toBe(start20 + 3);
    for (let i = 0; i < r.length; i++) expectAt(r, i, model[i]!);
    recordShape(r, 0, v, 21);
    const tail = expected(0, v, 21);
    for (let j = 0; j < tail.length; j++) expectAt(r, start20 + 3 + j, tail[j]!);
  });

  it("go event by event to a listener, and only count while recording is off", () => {
    const r = new EventRecorder();
    const heard: EngineEvent[] = [];
    const off = r.onEvent((e) => void heard.push(e));
    const v = values(5);
    expect(r.shape(2, v)).toBe(false);
    recordShape(r, 2, v, 1);
    off();
    expect(heard.map(({ seq: _s, ...e }) => e)).toEqual(expected(2, v, 1));
    r.enabled = false;
    recordShape(r, 3, v, 2);
    expect(r.length).toBe(heard.length);
    expect(r.counts[EventKind.WritevStartReq]).toBe(2);
    expect(r.counts[EventKind.CacheGet]).toBe(SHAPES[2]!.kind.filter((k) => k === EventKind.CacheGet).length + SHAPES[3]!.kind.filter((k) => k === EventKind.CacheGet).length);
  });

  it("give every reader what a plain list would, in any mix with ordinary events, pairs, rewinds and truncates", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(99), fc.nat(1 << 20)), { minLength: 30, maxLength: 300, size: "max" }), (steps) => {
        const r = new EventRecorder();
        const model: Emitted[] = [];
        let req = 1;
        for (const [op, x] of steps) {
          if (op < 40) {
            req += op % 3 === 0 ? 1 + (x % 2 ** 20) : 1;
            const v = values(x + 1);
            const id = x % SHAPE_COUNT;
            const want = expected(id, v, req);
            if (r.enabled) model.splice(r.length, model.length, ...want);
            recordShape(r, id, v, req);
          } else if (op < 55) {
            r.request = req;
            const e = plain(req, EXTREMES[x % EXTREMES.length]!);
            if (r.enabled) model.splice(r.length, model.length, e);
            r.emit(e.kind, e.node, e.cache, e.slot, e.a, e.b, e.c);
          } else if (op < 65) {
            r.request = req;
            const get: Emitted = { kind: EventKind.CacheGet, request: req, node: 0, cache: x & 1, slot: -1, a: (x % 3) * 65536, b: 1, c: 0, d: 0 };
            const done: Emitted = { ...get, kind: EventKind.CacheGetDone, slot: x % 5, b: 0 };
            if (r.enabled) model.splice(r.length, model.length, get, done);
            if (!r.cacheHit(0, get.cache, done.slot, get.a, 1)) {
              r.emit(get.kind, 0, get.cache, -1, get.a, 1, 0);
              r.emit(done.kind, 0, done.cache, done.slot, done.a, 0, 0);
            }
          } else if (op < 78) {
            if (r.length > 0) expectAt(r, op < 72 ? r.length - 1 : x % r.length, model[op < 72 ? r.length - 1 : x % r.length]!);
          } else if (op < 86) {
            // Rewind and re-execute what was there (kept), or stop short of it.
            const to = r.length - (x % Math.min(r.length + 1, 80));
            r.rewind(to);
            const again = model.slice(to, to + (x % 50));
            for (const e of again) {
              r.request = e.request;
              r.emit(e.kind, e.node, e.cache, e.slot, e.a, e.b, e.c, e.d);
            }
            req = Math.max(req, ...again.map((e) => e.request));
          } else if (op < 90) {
            const n = Math.max(0, r.length - (x % 90));
            r.truncate(n);
            model.length = n;
          } else if (op < 93) r.enabled = !r.enabled;
          else for (let i = 0; i < r.length; i += 1 + (x % 7)) expectAt(r, i, model[i]!);
        }
        for (let i = 0; i < r.length; i++) expectAt(r, i, model[i]!);
      }),
      { numRuns: 120, seed: 12 },
    );
  });
});
