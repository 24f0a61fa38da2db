// Reverse-continue in slices (the TUI's way, so Esc can stop it) ends each slice at a checkpoint: every segment is
// replayed once, as one reverse-continue call replays it, instead of once per slice of 32 requests (24 s in the TUI
// against under 1 s in the REPL on the same trace).
import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { openTraceSession } from "../../inspector/session/open-session.js";
import { slicedContinue } from "../../inspector/session/run-control.js";
import type { TimelineApi } from "../../engine/replay/timeline-api.js";
import { qemuImg, tmpDir } from "../format/qemu-images.js";

const tmp = tmpDir("qcowdbg-rslices-");
afterAll(() => tmp.cleanup());

describe("sliced reverse-continue", () => {
  it("slices at checkpoints and replays each segment once, stopping where one reverse-continue stops", () => {
    const img = tmp.path("rc.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", img, "1G");
    const lines: string[] = [];
    let s = 7;
    for (let i = 0; i < 3000; i++) {
      s = (s * 48271) % 2147483647;
      lines.push(`write ${(s % 262144) * 4096} 4k`);
    }
    const trace = tmp.path("rc.qemu-io");
    writeFileSync(trace, lines.join("\n") + "\n");
    const session = openTraceSession(img, trace);
    try {
      const tl = session.timeline! as TimelineApi & { scans?: number };
      tl.runTo(3000);
      const bp = tl.addBreakpoint({ kind: "predicate", describe: "request 3", test: (_r, i) => i === 2 });
      // Count the requests the timeline replays (every applied request passes the predicate once).
      let replayed = 0;
      const counter = tl.addBreakpoint({ kind: "predicate", describe: "count", test: () => (replayed++, false) });
      const slices: number[] = [];
      const run = slicedContinue(tl, false);
      let r = run.next();
      while (!r.done) {
        slices.push(r.value.done);
        r = run.next();
      }
      expect(r.value.breakpoint).toBe(bp.id);
      expect(tl.position().request).toBe(2);
      // Every slice ends at a checkpoint (a segment start), and the segments were each replayed about once.
      for (const at of slices) expect(tl.segmentStart!(at)).toBe(at);
      expect(replayed).toBeLessThan(2 * 3000);
      tl.deleteBreakpoint(counter.id);
    } finally {
      session.close();
    }
  });
});
