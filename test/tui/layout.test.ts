// Pane placement for terminal sizes from tiny to wide: the frame is one row short of the terminal (ink never
// scrolls), columns fill the width exactly, and every pane fits its column.
import { describe, expect, it } from "vitest";
import { layout, PANE_ORDER } from "../../inspector/tui/layout.js";

const SIZES: [number, number][] = [
  [80, 24],
  [120, 40],
  [100, 30],
  [160, 50],
  [220, 60],
  [60, 15],
  [40, 10],
  [80, 5],
];

describe("layout", () => {
  it.each(SIZES)("%ix%i: frame height rows-1, widths add up, panes fill the body", (cols, rows) => {
    const L = layout(cols, rows);
    expect(L.height).toBe(rows - 1);
    expect(L.body).toBe(rows - 3);
    const widths = L.columns.map((c) => c[0]!.width);
    expect(widths.reduce((a, b) => a + b, 0) + L.columns.length - 1).toBe(cols);
    for (const col of L.columns) {
      expect(col.reduce((a, p) => a + p.height, 0)).toBe(L.body);
      for (const p of col) expect(p.height).toBeGreaterThanOrEqual(0);
    }
    expect(L.columns.flat().map((p) => p.id).sort()).toEqual([...PANE_ORDER].sort());
  });

  it("gives every pane at least a title and a row at 80x24, and more rows to the lists when there is room", () => {
    const small = layout(80, 24).columns.flat();
    // The crash pane (volatile writes) has no rows until `:crash` asks for it.
    for (const p of small) expect(p.height).toBeGreaterThanOrEqual(p.id === "crash" ? 0 : 3);
    expect(small.find((p) => p.id === "crash")!.height).toBe(0);
    expect(layout(120, 60, { crash: 5 }).columns.flat().find((p) => p.id === "crash")!.height).toBe(5);
    const big = layout(120, 40).columns.flat();
    const h = (ps: typeof big, id: string) => ps.find((p) => p.id === id)!.height;
    expect(h(big, "timeline")).toBeGreaterThan(h(small, "timeline"));
    expect(h(big, "tables")).toBeGreaterThan(h(small, "tables"));
  });

  it("gives panes no more rows than their content wants, and the rest to the lists", () => {
    const L = layout(120, 40, { l2: 4, refcount: 6, map: 3, header: 8, counters: 6 });
    const h = (id: string) => L.columns.flat().find((p) => p.id === id)!.height;
    expect([h("l2"), h("refcount"), h("map"), h("header"), h("counters")]).toEqual([4, 6, 3, 8, 6]);
    expect(h("tables")).toBe(L.body - 4 - 6 - 3 - 8);
    expect(h("timeline") + h("request")).toBe(L.body - 6);
  });
});
