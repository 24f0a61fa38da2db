// The trace parsed once: the requests the baseline's pass keeps come back exactly as the parser gave them (every
// field, the source line included), and a trace past the budget is not kept (the what-ifs then parse again).
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { RequestCache } from "../../engine/replay/request-cache.js";
import { openWorkload } from "../../engine/workload/index.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const TRACES = ["../../samples/traces/tour.qemu-io", "../../samples/traces/fio-randrw.v3.iolog", "../../samples/traces/fio-trim.v3.iolog"].map(here);

describe("RequestCache", () => {
  for (const trace of TRACES) {
    it(`gives back what the parser gave (${trace.split("/").pop()})`, () => {
      const cache = new RequestCache();
      const parsed = [...cache.record(openWorkload(trace).requests())];
      expect(parsed.length).toBeGreaterThan(10);
      expect(cache.length).toBe(parsed.length);
      expect([...cache.requests()]).toEqual(parsed);
    });
  }

  it("keeps nothing past its budget, and nothing from a pass left unfinished", () => {
    const small = new RequestCache(1);
    for (const r of small.record(Array.from({ length: 10000 }, (_, i) => ({ time: i, op: "write" as const, offset: i * 4096, length: 4096, fua: false, preflush: false, source: `t:${i + 1}` })))) void r;
    expect(small.length).toBeNull();
    const partial = new RequestCache();
    const it = partial.record(openWorkload(TRACES[0]!).requests());
    it.next();
    expect(partial.length).toBeNull();
    expect(() => partial.requests().next()).toThrow(/whole trace/);
  });
});
