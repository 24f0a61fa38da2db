// The TUI's row keys over the tour sample, pane by pane: `b` on a selected row gives the break command of what the
// row stands for, and Enter runs to a request or runs a command again. The expected commands are worked out from
// the engine state, not from the rows' text (the keys read the rows' structured targets).
import { afterEach, describe, expect, it } from "vitest";
import { TuiController } from "../../inspector/tui/tui-controller.js";
import { breakCommandFor, enterCommandFor } from "../../inspector/tui/row-actions.js";
import { PANE_ORDER } from "../../inspector/tui/layout.js";
import { EVENT_NAMES } from "../../engine/events/event-schema.js";
import { tourImage, tourTrace, type Captured } from "./helpers.js";

let open: Captured[] = [];
afterEach(() => {
  for (const c of open) c.session.close();
  open = [];
});

function controller(c: Captured): TuiController {
  open.push(c);
  return new TuiController(c.session, 120, 40);
}

/** Focuses a pane and selects its row i (Home, then Down i times). */
function select(t: TuiController, pane: (typeof PANE_ORDER)[number], i: number): void {
  t.focus = pane;
  t.key("", { home: true });
  for (let k = 0; k < i; k++) t.key("", { downArrow: true });
  expect(t.selected(pane)).toBe(i);
}

describe("row targets: what b and Enter do on a selected row", () => {
  it("timeline: break on the request, Enter runs to it", () => {
    const t = controller(tourTrace());
    select(t, "timeline", 3);
    expect(t.breakCommand()).toBe("break request 4");
    expect(t.enterCommand()).toBe("run-to 4");
    t.key("b", {});
    expect(t.session.breakpoints()).toHaveLength(1);
    expect(t.message).toMatch(/Breakpoint 1: request 4/);
  });

  it("request: break on the selected event's kind, by its schema name", () => {
    const c = tourTrace();
    const t = controller(c);
    t.run("next");
    const rows = t.rows("request").rows;
    const at = rows.findIndex((r) => r.key.startsWith("ev"));
    expect(at).toBeGreaterThan(0);
    const seq = Number(rows[at]!.key.slice(2));
    const kind = c.session.recorder()!.get(seq).kind;
    select(t, "request", at);
    expect(t.breakCommand()).toBe(`break ${EVENT_NAMES[kind]}`);
    expect(t.enterCommand()).toBeNull();
    // The rows above the events (what the request is, why) stand for nothing.
    select(t, "request", 0);
    expect(t.breakCommand()).toEqual({ error: expect.stringMatching(/^no breakpoint for this row of request/) });
  });

  it("l2 and refcount caches: break on the host cluster of the slot's table", () => {
    const c = tourTrace();
    const t = controller(c);
    // By request 20 writes have allocated clusters: both caches hold tables.
    t.run("run-to 20");
    const img = c.session.image()!;
    for (const [pane, cache] of [
      ["l2", img.l2Cache],
      ["refcount", img.refcountCache],
    ] as const) {
      const slot = [...cache.offsets].findIndex((o) => o > 0);
      expect(slot).toBeGreaterThanOrEqual(0);
      // Row 0 is the cache's statistics; slot i is row i + 1.
      select(t, pane, slot + 1);
      expect(t.breakCommand()).toBe(`break cluster ${cache.offsets[slot]! / img.clusterSize}`);
      select(t, pane, 0);
      expect(t.breakCommand()).toEqual({ error: expect.stringMatching(new RegExp(`^no breakpoint for this row of ${pane}`)) });
    }
  });

  it("tables: break on the L1 entry, or on the L2 entry of the guest cluster in view", () => {
    const c = tourTrace();
    const t = controller(c);
    t.run("next");
    const img = c.session.image()!;
    const cluster = Math.floor(c.session.timeline!.request(0).offset / img.clusterSize);
    const l1 = Math.floor(cluster / img.geo.l2Entries);
    const rows = t.rows("tables").rows;
    select(t, "tables", rows.findIndex((r) => r.key === `l1:${l1}`));
    expect(t.breakCommand()).toBe(`break l1 ${l1}`);
    // With nothing selected by hand, the selection is the pane's focus: the entry of the request's cluster.
    t.key("", { escape: true });
    select(t, "tables", t.rows("tables").focus!);
    expect(t.breakCommand()).toBe(`break l2 ${l1}:${cluster % img.geo.l2Entries}`);
    select(t, "tables", t.rows("tables").focus! + 1);
    expect(t.breakCommand()).toBe(`break l2 ${l1}:${(cluster % img.geo.l2Entries) + 1}`);
  });

  it("header, counters and map: rows that stand for nothing say so", () => {
    const t = controller(tourTrace());
    t.run("next");
    for (const pane of ["header", "counters", "map"] as const) {
      select(t, pane, 0);
      expect(t.breakCommand()).toEqual({ error: expect.stringMatching(new RegExp(`^no breakpoint for this row of ${pane}`)) });
    }
  });

  it("image mode: Enter runs the selected command again; b says breakpoints need a trace", () => {
    const t = controller(tourImage());
    t.run("write -P 0x33 1M 4k");
    t.run("read -P 0x33 1M 4k");
    select(t, "timeline", 0);
    expect(t.enterCommand()).toBe("write -P 0x33 1M 4k");
    expect(t.breakCommand()).toEqual({ error: "breakpoints need a trace (qcowdbg tui IMAGE TRACE)" });
  });

  it("every target kind has a break and an Enter answer", () => {
    expect(breakCommandFor({ kind: "l2", l1Index: 2, l2Index: 7 })).toBe("break l2 2:7");
    expect(breakCommandFor({ kind: "host-cluster", cluster: 9 })).toBe("break cluster 9");
    expect(breakCommandFor({ kind: "event", name: "qcow2_l2_allocate", seq: 5 })).toBe("break qcow2_l2_allocate");
    expect(enterCommandFor({ kind: "l1", index: 0 })).toBeNull();
    expect(enterCommandFor({ kind: "command", line: "flush" })).toBe("flush");
  });
});
