// The ink App over the tour trace, driven through ink's stdin as a user types: SingleKey moves, the `:` line,
// help, focus, breakpoints on the selection, bursts of keys, quitting. Input is awaited before frames are read.
import { afterEach, describe, expect, it } from "vitest";
import { render } from "ink-testing-library";
import { App } from "../../inspector/tui/App.js";
import { TuiController } from "../../inspector/tui/tui-controller.js";
import { openTraceSession } from "../../inspector/session/open-session.js";
import { TOUR_IMAGE, TOUR_TRACE } from "./helpers.js";

const COLS = 100;
const ROWS = 30;
let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

function mount() {
  const session = openTraceSession(TOUR_IMAGE, TOUR_TRACE);
  const c = new TuiController(session, COLS, ROWS);
  let quits = 0;
  c.onQuit = () => quits++;
  const r = render(<App controller={c} />);
  cleanups.push(() => {
    r.unmount();
    session.close();
  });
  const frame = () => r.lastFrame() ?? "";
  /** Types keys, then waits until the controller is idle and the frame has settled. */
  const type = async (keys: string) => {
    r.stdin.write(keys);
    let last = "";
    for (let i = 0; i < 200; i++) {
      await new Promise((res) => setTimeout(res, 5));
      if (!c.running && frame() === last && i > 2) break;
      last = frame();
    }
    return frame();
  };
  return { c, session, frame, type, quits: () => quits };
}

describe("the inspector App", () => {
  it("draws every pane within rows-1 lines of the terminal width", async () => {
    const { type } = mount();
    const f = await type("");
    for (const title of ["Requests", "Request 1/63 next", "L2 cache (2 x 64K)", "Refcount cache", "L1/L2 around guest 0x0", "Host clusters: 7 x 64K", "Header", "Counters"]) expect(f).toContain(title);
    const lines = f.split("\n");
    expect(lines.length).toBeLessThanOrEqual(ROWS - 1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(COLS);
  });

  it("steps with s, n and goes back with N and S", async () => {
    const { type } = mount();
    let f = await type("n");
    expect(f).toContain("request 1/63 |");
    expect(f).toContain("Request 1/63 done, 7 events");
    expect(f).toMatch(/0 0x00040000 lru {2}1/);
    f = await type("s");
    expect(f).toContain("request 1/63, in #2 event 1");
    expect(f).toContain("Stepped: #7 qcow2_cache_get");
    f = await type("S");
    expect(f).toContain("request 1/63 |");
    f = await type("n");
    f = await type("N");
    expect(f).toContain("request 1/63 |");
    f = await type("N");
    expect(f).toContain("request 0/63 |");
  });

  it("sets a breakpoint from the : line and continues to it with c; C goes back", async () => {
    const { type } = mount();
    let f = await type(":break cache_miss\r");
    expect(f).toContain("Breakpoint 1: event qcow2_cache_get_replace_entry");
    await type("n");
    f = await type("c");
    expect(f).toContain("request 7/63, in #8 event 13");
    expect(f).toContain("Breakpoint 1: #42 qcow2_cache_get_replace_entry  refcount miss: slot 0 (empty) for 0x20000");
    f = await type("C");
    expect(f).toContain("request 0/63, in #1 event 2");
  });

  it("shows help on ?, output of long commands in an overlay, and closes them on any key", async () => {
    const { type } = mount();
    let f = await type("?");
    expect(f).toContain("s / S      step one engine event forward / back");
    f = await type("x");
    expect(f).toContain("Requests");
    f = await type(":info header\r");
    expect(f).toMatch(/^ Output/m);
    expect(f).toContain("reftable at 0x10000, 1 cluster; refcount 16 bits");
    expect(f).not.toContain("Requests");
    f = await type(" ");
    expect(f).not.toMatch(/^ Output/m);
    expect(f).toContain("Requests");
    // Two lines or fewer go to the message line, the panes stay in view.
    f = await type(":info l1\r");
    expect(f).toContain("L1 table at 0x30000, 1 entries (each maps 512 MiB):    L1[0] = 0x40000 copied");
    expect(f).toContain("Requests");
  });

  it("moves focus with Tab and breaks on the selected request with b", async () => {
    const { type, session } = mount();
    let f = await type("");
    expect(f).toMatch(/> Requests/);
    f = await type("\t");
    expect(f).toMatch(/> Request 1\/63 next/);
    f = await type("\t\t\t\t\t\t\t");
    expect(f).toMatch(/> Requests/);
    await type("\u001b[B\u001b[B\u001b[B");
    f = await type("b");
    expect(f).toContain("Breakpoint 1: request 4");
    await type("c");
    expect(session.timeline!.position()).toEqual({ request: 3, event: 0 });
  });

  it("breaks on the selected L2 entry of the tables pane", async () => {
    const { type } = mount();
    await type("n");
    await type("\t\t\t\t");
    let f = await type("\u001b[B\u001b[B");
    expect(f).toMatch(/> L1\/L2 around guest 0x0/);
    f = await type("b");
    expect(f).toContain("Breakpoint 1: L2 entry 2 of L1 entry 0");
  });

  it("drops what a held-down key queues beyond a few steps instead of running it all", async () => {
    const { type, c, session } = mount();
    await type("s".repeat(200));
    // Request 1 has 7 events: 8 steps at most end at the start of request 2.
    const p = session.timeline!.position();
    expect(p.request).toBeLessThanOrEqual(1);
    expect(200 - c.droppedKeys).toBeLessThanOrEqual(8);
  });

  it("quits on q", async () => {
    const { type, quits } = mount();
    await type("q");
    expect(quits()).toBe(1);
  });
});
