// Panes and `info` read the image through a read-only view (engine/image/image-view.ts): building every pane's
// view, the host map and every `info` topic leaves the image's runtime state byte-for-byte as it was (tables,
// caches with their LRU counters and hit counts, allocation cursors, flags, the event log), in trace mode (at a
// request boundary and inside a request) and in image mode.
import { afterEach, describe, expect, it } from "vitest";
import { TuiController } from "../../inspector/tui/tui-controller.js";
import { PANE_ORDER } from "../../inspector/tui/layout.js";
import { captureImage, copyCodec } from "../../engine/image/image-snapshot.js";
import type { Qcow2Image } from "../../engine/image/qcow2-image.js";
import type { Timeline } from "../../engine/replay/timeline.js";
import { tourImage, tourTrace, type Captured } from "./helpers.js";

let open: Captured[] = [];
afterEach(() => {
  for (const c of open) c.session.close();
  open = [];
});

/** The live image under the session (what the panes must not disturb). */
function liveImage(c: Captured): Qcow2Image {
  const tl = c.session.timeline as Timeline | null;
  if (tl) return tl.engine.image;
  return c.session.repl!.ctx.image!;
}

function runtimeState(img: Qcow2Image): unknown {
  const rec = img.events as { length?: number; counts?: Uint32Array | Float64Array };
  return { image: captureImage(img, copyCodec), events: rec.length, counts: rec.counts ? Array.from(rec.counts) : null, l2Counter: img.l2Cache.lruCounter, rcCounter: img.refcountCache.lruCounter };
}

/** Every pane of the TUI built, the host map rebuilt, and every `info` topic and `x` asked. */
function lookAtEverything(c: Captured): void {
  const t = new TuiController(c.session, 160, 60);
  t.run("crash");
  const v = c.session.views;
  v.invalidate();
  for (const id of PANE_ORDER) {
    if (id === "timeline") v.timelineRows(0, 100);
    else t.rows(id);
  }
  v.refreshMap();
  v.status();
  v.counterLines();
  v.eventLines(true);
  for (const cmd of ["info cache", "info l1", "info l2 0", "info refcount 0", "info refcount 9", "info header", "info snapshots", "x/16g 0x40000"]) c.session.execute(cmd);
}

describe("the panes' read-only image view", () => {
  it("trace mode: building every pane leaves the engine's state byte-for-byte unchanged", () => {
    const c = tourTrace();
    open.push(c);
    c.session.execute("run-to 20");
    for (const inside of [false, true]) {
      if (inside) c.session.execute("step 2");
      // The timeline puts the engine where the position is on the first look; from then on only views run.
      c.session.image();
      const before = runtimeState(liveImage(c));
      lookAtEverything(c);
      expect(runtimeState(liveImage(c))).toEqual(before);
    }
  });

  it("image mode: the same, after qemu-io commands filled the caches", () => {
    const c = tourImage();
    open.push(c);
    for (const cmd of ["write -P 0x33 1M 64k", "write 5M 4k", "read 0 128k", "discard 5M 4k"]) c.session.execute(cmd);
    const before = runtimeState(liveImage(c));
    lookAtEverything(c);
    expect(runtimeState(liveImage(c))).toEqual(before);
  });
});
