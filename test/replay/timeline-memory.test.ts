// The timeline's documented cost per request (docs/ARCHITECTURE.md, "Timeline memory"; issue 12: under 24 bytes):
// what 20,000 more random writes add to the request columns and the checkpoints, in bytes the structures count
// themselves, so the figure cannot drift without a test noticing. The bench row timeline-memory measures the same
// with the garbage collector's view at 100k and 1M requests.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplayEngine } from "../../engine/replay/replay-engine.js";
import { RequestColumns } from "../../engine/replay/request-columns.js";
import { Timeline } from "../../engine/replay/timeline.js";
import { qemuImg, tmpDir } from "../format/qemu-images.js";

const tmp = tmpDir("qcowdbg-tlmem-");
let img = "";
const DISK = 100 * 2 ** 30;

beforeAll(() => {
  img = tmp.path("m.qcow2");
  qemuImg("create", "-q", "-f", "qcow2", img, String(DISK));
});
afterAll(() => tmp.cleanup());

describe("timeline memory", () => {
  it("each further random write costs under 24 bytes in columns and checkpoints", () => {
    const n = 60_000;
    const reqs = new RequestColumns(16);
    let s = 3;
    for (let i = 0; i < n; i++) {
      s = (s * 48271) % 2147483647;
      reqs.push({ time: (1e9 + i * 10_000) / 1e9, op: "write", offset: (s % (DISK / 4096)) * 4096, length: 4096, fua: false, preflush: false, source: `t.txt:${3 * i + 1}`, device: "8,0" });
    }
    reqs.trim();
    const engine = new ReplayEngine(img, { record: false });
    // The spacing trace sessions use (open-session.ts) at its densest: before captureShare widens it.
    const tl = new Timeline(engine, reqs, { checkpoints: { interval: 1024, maxEvents: 32768 } });
    try {
      expect(reqs.bytesHeld() / n).toBeLessThan(10);
      tl.runTo(20_000);
      // Anchors (a few whole copies of the caches, however long the trace) are the fixed part, not per request.
      const held = () => tl.checkpoints.memoryBytes() - tl.checkpoints.anchorBytes();
      const at20k = held();
      tl.runTo(n);
      const perRequest = (held() - at20k) / (n - 20_000) + reqs.bytesHeld() / n;
      expect(perRequest).toBeLessThan(24);
      // And what they hold still takes the engine back exactly (timeline-property checks it in depth).
      tl.runTo(30_000);
      expect(tl.position().request).toBe(30_000);
    } finally {
      tl.dispose();
      engine.close();
    }
  });
});
