// NO_COLOR for the dashboard: blessed has no monochrome switch, so before each draw every cell of the screen's
// buffer is given the terminal's default foreground and background. Bold, underline, blink and inverse stay (they
// are not colour) and the charts keep their shapes; only the colour codes are gone. A 120x40 screen is 4,800
// cells a draw, nothing beside the rendering itself.
import type blessed from "blessed";

/** blessed packs a cell's attributes as flags << 18 | fg << 9 | bg; 0x1ff is "the terminal's default". */
const DEFAULT_FG_BG = (0x1ff << 9) | 0x1ff;

type Cell = [number, string];

export function dropColours(screen: blessed.Widgets.Screen): void {
  const s = screen as unknown as { lines: Cell[][]; draw(start: number, end: number): void };
  const draw = s.draw.bind(screen);
  s.draw = (start: number, end: number) => {
    for (let y = start; y <= end; y++) {
      const line = s.lines[y];
      if (line) for (const cell of line) cell[0] |= DEFAULT_FG_BG;
    }
    draw(start, end);
  };
}
