// Where each panel goes, in character cells, for a terminal of a given size: charts on top, then the replay
// status, rates and cache hit rates, the host-file map across the width, and the log beside the slowest
// requests. Bands scale with the height; below the minimum the dashboard asks for a larger terminal.

export interface Rect {
  row: number;
  col: number;
  rows: number;
  cols: number;
}

export interface DashboardLayout {
  latency: Rect;
  causes: Rect;
  status: Rect;
  rates: Rect;
  caches: Rect;
  map: Rect;
  log: Rect;
  slowest: Rect;
}

export const MIN_COLS = 80;
export const MIN_ROWS = 24;

export function dashboardLayout(cols: number, rows: number): DashboardLayout | null {
  if (cols < MIN_COLS || rows < MIN_ROWS) return null;
  const top = Math.max(9, Math.floor(rows * 0.33));
  const mid = Math.max(7, Math.floor(rows * 0.25));
  const map = Math.max(4, Math.floor(rows * 0.15));
  const bottom = rows - top - mid - map;
  const chartCols = Math.round(cols * 0.55);
  const statusCols = Math.round(cols * 0.4);
  const ratesCols = Math.round((cols - statusCols) / 2);
  const logCols = Math.round(cols * 0.4);
  const r1 = top;
  const r2 = top + mid;
  const r3 = r2 + map;
  return {
    latency: { row: 0, col: 0, rows: top, cols: chartCols },
    causes: { row: 0, col: chartCols, rows: top, cols: cols - chartCols },
    status: { row: r1, col: 0, rows: mid, cols: statusCols },
    rates: { row: r1, col: statusCols, rows: mid, cols: ratesCols },
    caches: { row: r1, col: statusCols + ratesCols, rows: mid, cols: cols - statusCols - ratesCols },
    map: { row: r2, col: 0, rows: map, cols },
    log: { row: r3, col: 0, rows: bottom, cols: logCols },
    slowest: { row: r3, col: logCols, rows: bottom, cols: cols - logCols },
  };
}
