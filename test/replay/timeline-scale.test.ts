// What keeps the timeline quick on big traces (issue 12) must not change what it answers: reverse-continue over
// request-level breakpoints searches the trace instead of the replay, the request a move ends after keeps its
// events when the log is off, and sliced reverse runs over event-level breakpoints still end at checkpoints.
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTraceSession } from "../../inspector/session/open-session.js";
import { slicedContinue } from "../../inspector/session/run-control.js";
import type { Timeline } from "../../engine/replay/timeline.js";
import { qemuImg, tmpDir } from "../format/qemu-images.js";

const tmp = tmpDir("qcowdbg-tlscale-");
let img = "";
let trace = "";
const N = 3000;

beforeAll(() => {
  img = tmp.path("s.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", img, "1G");
  const lines: string[] = [];
  let s = 11;
  for (let i = 0; i < N; i++) {
    s = (s * 48271) % 2147483647;
    lines.push(i % 97 === 5 ? "flush" : `write ${(s % 262144) * 4096} 4k`);
  }
  trace = tmp.path("s.qemu-io");
  writeFileSync(trace, lines.join("\n") + "\n");
});
afterAll(() => tmp.cleanup());

function open(record?: boolean) {
  const s = openTraceSession(img, trace, { record });
  return { s, tl: s.timeline as Timeline };
}

describe("timeline at scale", () => {
  it("reverse-continue over offset breakpoints stops where the replaying scan stops", () => {
    const fast = open();
    const slow = open();
    try {
      for (const { tl } of [fast, slow]) {
        tl.runTo(N - 10);
        tl.addBreakpoint({ kind: "offset", from: 0, to: 64 * 1024 * 1024 });
      }
      // A watch nobody triggers makes the second timeline replay its checkpoint intervals.
      slow.tl.addWatch({ kind: "refcount", hostCluster: 1e9 });
      expect(fast.tl.requestLevelOnly()).toBe(true);
      expect(slow.tl.requestLevelOnly()).toBe(false);
      for (let k = 0; k < 4; k++) {
        const a = fast.tl.reverseContinue();
        const b = slow.tl.reverseContinue();
        expect(a).toEqual(b);
        expect(fast.tl.position()).toEqual(slow.tl.position());
        expect(fast.s.views.focus().index).toBe(slow.s.views.focus().index);
      }
    } finally {
      fast.s.close();
      slow.s.close();
    }
  });

  it("with the event log off, the events the panes show after next / reverse-next / run-to are the recorded ones", () => {
    const off = open(false);
    const on = open(true);
    try {
      for (const m of ["run-to 1500", "next", "next", "reverse-next", "run-to 7", "next 3"]) {
        off.s.execute(m);
        on.s.execute(m);
        const r = on.tl.position().request - 1;
        const want = on.tl.eventsOf(r).map((e) => [e.kind, e.a, e.b]);
        expect(off.s.views.focus().events.map((e) => [e.kind, e.a, e.b])).toEqual(want);
        expect(off.tl.eventsOf(r).map((e) => [e.kind, e.a, e.b])).toEqual(want);
      }
    } finally {
      off.s.close();
      on.s.close();
    }
  });

  it("sliced reverse-continue over an event-level breakpoint ends each slice at a checkpoint", () => {
    const { s, tl } = open();
    try {
      tl.runTo(N);
      tl.addBreakpoint({ kind: "cluster", hostCluster: 1e7 });
      tl.addBreakpoint({ kind: "predicate", describe: "request 3", test: (_r, i) => i === 2 });
      const slices: number[] = [];
      const run = slicedContinue(tl, false);
      let r = run.next();
      while (!r.done) {
        slices.push(r.value.done);
        r = run.next();
      }
      expect(r.value.kind).toBe("breakpoint");
      expect(tl.position().request).toBe(2);
      expect(slices.length).toBeGreaterThan(1);
      for (const at of slices) expect(tl.segmentStart(at)).toBe(at);
    } finally {
      s.close();
    }
  });
});
