// The blessed-contrib face of the dashboard: builds the panels for the terminal's size (again on resize) and
// copies a DashboardView into them. All numbers come from the view model; this file only draws.
import blessed from "blessed";
import contrib from "blessed-contrib";
import { formatUs } from "../../engine/replay/human-units.js";
import { HostKind, HOST_KIND_CHARS } from "../session/cluster-map.js";
import { CAUSE_GROUPS, type DashboardView, type ViewSizes } from "./dashboard-view.js";
import { dashboardLayout, MIN_COLS, MIN_ROWS, type Rect } from "./dashboard-layout.js";

type Color = string | [number, number, number];

/** One colour per cause group, in CAUSE_GROUPS order (the canvas takes names or RGB; tags take names or #hex). */
const CAUSE_COLORS: readonly { canvas: Color; tag: string }[] = [
  { canvas: "green", tag: "green" },
  { canvas: "yellow", tag: "yellow" },
  { canvas: "red", tag: "red" },
  { canvas: "magenta", tag: "magenta" },
  { canvas: "cyan", tag: "cyan" },
  { canvas: "blue", tag: "blue" },
  { canvas: "white", tag: "white" },
  { canvas: [255, 135, 0], tag: "#ff8700" },
  { canvas: [135, 135, 135], tag: "#878787" },
];
if (CAUSE_COLORS.length !== CAUSE_GROUPS.length) throw new Error("one colour per cause group");

const KIND_COLORS: Record<number, string> = {
  [HostKind.Free]: "#5f5f5f",
  [HostKind.Header]: "white",
  [HostKind.L1]: "cyan",
  [HostKind.Reftable]: "magenta",
  [HostKind.Refblock]: "magenta",
  [HostKind.L2]: "yellow",
  [HostKind.Snapshot]: "blue",
  [HostKind.Other]: "white",
  [HostKind.Data]: "green",
  [HostKind.Compressed]: "#87ff87",
  [HostKind.Shared]: "blue",
  [HostKind.Leaked]: "red",
};
const RUN_COLORS = ["yellow", "cyan"];

// blessed-contrib's bundled typings disagree with its code for these calls; these are the shapes it reads.
interface StackedBarInput {
  barCategory: string[];
  stackedCategory: string[];
  data: number[][];
}
interface DonutInput {
  label: string;
  percent: number;
  color: string;
}
type LineChart = contrib.Widgets.LineElement & { options: { maxY?: number } };
type StackedBar = blessed.Widgets.BoxElement & { setData(d: StackedBarInput): void };
type Donut = blessed.Widgets.BoxElement & { setData(d: DonutInput[]): void };
type Sparkline = blessed.Widgets.BoxElement & { setData(titles: string[], data: number[][]): void };
type Table = blessed.Widgets.BoxElement & { rows: blessed.Widgets.ListElement; setData(d: { headers: string[]; data: string[][] }): void };

interface Panels {
  latency: LineChart;
  causeBars: StackedBar;
  causeLegend: blessed.Widgets.BoxElement;
  status: blessed.Widgets.BoxElement;
  rates: Sparkline;
  caches: Donut;
  map: blessed.Widgets.BoxElement;
  log: blessed.Widgets.BoxElement;
  slowest: Table;
  sizes: ViewSizes;
}

const BORDER = { type: "line" as const };

/** A label cut to fit its panel's top border (a longer one would wrap into the panel). */
function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}~`;
}
const STYLE = { border: { fg: "cyan" } };

export class DashboardScreen {
  private panels: Panels | null = null;
  private tooSmall: blessed.Widgets.BoxElement | null = null;

  constructor(
    readonly screen: blessed.Widgets.Screen,
    private readonly runCount: number,
  ) {
    this.build();
  }

  /** Cells of the map, lines of the log... as laid out now (the view model is built to fit them). */
  sizes(): ViewSizes {
    return this.panels?.sizes ?? { mapCells: 1, logLines: 0, sparkWidth: 1, statusWidth: 1, rateLines: 0, slowRows: 0 };
  }

  /** Lays the panels out again for the terminal's current size. */
  build(): void {
    for (const child of [...this.screen.children]) child.detach();
    this.panels = null;
    this.tooSmall = null;
    const layout = dashboardLayout(this.screen.cols, this.screen.rows);
    if (!layout) {
      this.tooSmall = blessed.box({ top: 0, left: 0, width: "100%", height: "100%", content: `qcowdbg dashboard needs at least ${MIN_COLS}x${MIN_ROWS}\nthis terminal: ${this.screen.cols}x${this.screen.rows}\nq quits` });
      this.screen.append(this.tooSmall);
      return;
    }
    const two = this.runCount > 1;
    // The legend goes in the label (tags on): contrib's legend box would cover the newest points.
    const latency = this.place(layout.latency, contrib.line, {
      showLegend: false,
      tags: true,
      style: { line: RUN_COLORS[0]!, text: "green", baseline: "white" },
      xLabelPadding: 3,
      xPadding: 5,
      numYLabels: 4,
    }) as unknown as LineChart;
    const causeBox = this.place(layout.causes, blessed.box, { label: " modelled time by cause " });
    const inner = { rows: layout.causes.rows - 2, cols: layout.causes.cols - 2 };
    // Room for each bar's value labels, which contrib draws centred a little right of the bar.
    const barCols = Math.min(inner.cols - 22, 6 + 8 * this.runCount);
    // Appended after construction: the canvas is made on 'attach', which a `parent` option fires too early.
    const causeBars = contrib.stackedBar({
      top: 0,
      left: 0,
      width: barCols,
      height: inner.rows,
      barWidth: 6,
      barSpacing: 8,
      xOffset: 1,
      showLegend: false,
      barBgColor: CAUSE_COLORS.map((c) => c.canvas),
      barFgColor: "black",
    } as unknown as contrib.Widgets.StackedBarOptions) as unknown as StackedBar;
    causeBox.append(causeBars);
    const causeLegend = blessed.box({ parent: causeBox, top: 0, left: barCols, width: inner.cols - barCols, height: inner.rows, tags: true, wrap: false });
    // Text panels clip long lines rather than wrap them into the next one.
    const status = this.place(layout.status, blessed.box, { label: " replay ", wrap: false });
    const rates = this.place(layout.rates, contrib.sparkline, { label: " rate ", tags: true, style: { fg: "blue", titleFg: "white" } }) as unknown as Sparkline;
    const donuts = this.runCount * 2;
    const canvasW = layout.caches.cols * 2 - 5;
    const canvasH = layout.caches.rows * 4 - 12;
    const radius = Math.max(3, Math.floor(Math.min(canvasH / 2 - 4, canvasW / (2 * donuts) - 2)));
    const caches = this.place(layout.caches, contrib.donut, { label: " cache hit rate ", radius, arcWidth: Math.max(2, Math.floor(radius / 3)), remainColor: "black", yPadding: 2 }) as unknown as Donut;
    const map = this.place(layout.map, blessed.box, { tags: true, wrap: false });
    const log = this.place(layout.log, blessed.box, { label: " events ", wrap: false });
    // #, request, latency, then the reasons take what is left; contrib pads a column by columnSpacing - 1.
    const slowCols = layout.slowest.cols - 3;
    const fixed = two ? [1, 6, 24, 8] : [6, 24, 8];
    const columnWidth = [...fixed, Math.max(0, slowCols - fixed.reduce((a, b) => a + b + 1, 0))];
    const slowest = this.place(layout.slowest, contrib.table, { label: " slowest requests ", columnWidth, columnSpacing: 2, interactive: false, keys: false, fg: "white", wrap: false }) as unknown as Table;
    slowest.rows.left = 0; // contrib indents the rows by one column more than the header
    this.panels = {
      latency,
      causeBars,
      causeLegend,
      status,
      rates,
      caches,
      map,
      log,
      slowest,
      sizes: {
        mapCells: Math.max(1, (layout.map.cols - 2) * Math.max(1, layout.map.rows - 3)),
        logLines: Math.max(0, layout.log.rows - 2),
        sparkWidth: Math.max(1, layout.rates.cols - 2),
        statusWidth: Math.max(1, layout.status.cols - 2),
        rateLines: Math.max(0, layout.rates.rows - 2),
        slowRows: Math.max(0, layout.slowest.rows - 4),
      },
    };
  }

  /** Copies the view into the panels and renders the screen. */
  update(v: DashboardView): void {
    const p = this.panels;
    if (!p) {
      this.screen.render();
      return;
    }
    const lines = v.latency.lines;
    const legend = lines.length > 1 ? lines.map((l, i) => ` {${RUN_COLORS[i % RUN_COLORS.length]}-fg}━ ${blessed.escape(l.title)}{/}`).join("") : "";
    const legendCols = lines.length > 1 ? lines.reduce((n, l) => n + 3 + l.title.length, 0) : 0;
    p.latency.setLabel(` ${blessed.escape(cut(v.latency.label, (p.latency.width as number) - 6 - legendCols))}${legend} `);
    p.latency.options.maxY = v.latency.maxY;
    p.latency.setData(v.latency.lines.map((l, i) => ({ ...l, style: { line: RUN_COLORS[i % RUN_COLORS.length]! } })));

    p.causeBars.setData({ barCategory: v.causes.bars, stackedCategory: v.causes.stacks, data: v.causes.data });
    p.causeLegend.setContent(this.causeLegend(v));

    p.status.setContent(v.status.join("\n"));
    p.rates.setData(v.rates.titles, v.rates.data);
    p.caches.setData(v.caches.map((c, i) => ({ label: c.label, percent: c.percent, color: i % 2 ? "magenta" : "green" })));

    p.map.setLabel(` ${blessed.escape(cut(v.map.label, (p.map.width as number) - 6))} `);
    p.map.setContent(`${this.mapRows(v.map.kinds, (p.map.width as number) - 2).join("\n")}\n${blessed.escape(v.map.legend)}`);

    const logWidth = (p.log.width as number) - 2;
    p.log.setContent(v.log.map((l) => (l.length > logWidth ? l.slice(0, logWidth - 1) + "~" : l)).join("\n"));
    p.slowest.setData({ headers: v.slowest.headers, data: v.slowest.rows.map((r) => r.map((c) => blessed.escape(c))) });
    this.screen.render();
  }

  private causeLegend(v: DashboardView): string {
    const c = v.causes;
    const totals = c.us.map((t) => t.reduce((a, b) => a + b, 0));
    const head = c.bars.length > 1 ? `${"".padEnd(12)}${c.bars.map((b) => b.padStart(9)).join("")}` : `${"".padEnd(12)}${"time".padStart(9)}  share`;
    const lines = c.stacks.map((name, k) => {
      const tag = CAUSE_COLORS[k]!.tag;
      const values = c.us.map((t) => formatUs(t[k] ?? 0).padStart(9)).join("");
      const share = c.bars.length === 1 ? `  ${totals[0]! > 0 ? `${((100 * c.us[0]![k]!) / totals[0]!).toFixed(0)}%` : "-"}`.padEnd(6) : "";
      return `{${tag}-fg}█{/${tag}-fg} ${name.padEnd(10)}${values}${share}`;
    });
    return [head, ...lines, `  ${"total".padEnd(10)}${totals.map((t) => formatUs(t).padStart(9)).join("")}`].join("\n");
  }

  /** Map cells as rows of coloured kind letters (runs of a kind share one tag). */
  private mapRows(kinds: Uint8Array, width: number): string[] {
    const rows: string[] = [];
    for (let start = 0; start < kinds.length; start += width) {
      let row = "";
      let i = start;
      const end = Math.min(kinds.length, start + width);
      while (i < end) {
        const k = kinds[i]!;
        let j = i;
        while (j < end && kinds[j] === k) j++;
        const color = KIND_COLORS[k] ?? "white";
        row += `{${color}-fg}${HOST_KIND_CHARS[k]!.repeat(j - i)}{/${color}-fg}`;
        i = j;
      }
      rows.push(row);
    }
    return rows;
  }

  private place<O extends object, E extends blessed.Widgets.BoxElement>(r: Rect, make: (o: O) => E, opts: Record<string, unknown>): E {
    // Absolute cells rather than the grid's percentages, which floor to an off-by-one line at some sizes.
    const el = make({ top: r.row, left: r.col, width: r.cols, height: r.rows, border: BORDER, style: STYLE, ...opts } as unknown as O);
    this.screen.append(el);
    return el;
  }
}
