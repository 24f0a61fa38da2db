// NO_COLOR in the dashboard: the same screen drawn with colours dropped carries no SGR colour code (30-37, 90-97,
// 40-47, 100-107, 38;5;N, 48;5;N) while bold and inverse stay; drawn normally it does carry colour.
import blessed from "blessed";
import { describe, expect, it } from "vitest";
import { dropColours } from "../../inspector/dashboard/monochrome.js";
import { fakeTerminal } from "./fake-terminal.js";

/** Every SGR parameter list written (the part between ESC[ and m). */
function sgrParams(written: string): number[][] {
  // eslint-disable-next-line no-control-regex -- the escape character is what we look for
  return [...written.matchAll(/\x1b\[([0-9;]*)m/g)].map((m) => m[1]!.split(";").filter(Boolean).map(Number));
}

const isColour = (p: number[]) => p.some((n, i) => (n >= 30 && n <= 37) || (n >= 40 && n <= 47) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107) || ((n === 38 || n === 48) && p[i + 1] === 5));

async function draw(mono: boolean): Promise<number[][]> {
  const term = fakeTerminal(60, 10);
  const screen = blessed.screen({ ...({ input: term.input, output: term.output } as unknown as blessed.Widgets.IScreenOptions), terminal: "xterm-256color", warnings: false });
  if (mono) dropColours(screen);
  blessed.box({ parent: screen, top: 0, left: 0, width: 30, height: 3, content: "red on blue", style: { fg: "red", bg: "blue", bold: true } });
  blessed.box({ parent: screen, top: 4, left: 0, width: 30, height: 3, content: "selected", style: { fg: "yellow", inverse: true } });
  screen.render();
  // The stream hands blessed's writes on asynchronously.
  await new Promise((r) => setTimeout(r, 50));
  const params = sgrParams(term.written());
  screen.destroy();
  return params;
}

describe("dashboard without colour (NO_COLOR)", () => {
  it("draws the same widgets with bold and inverse but no colour codes", async () => {
    const coloured = await draw(false);
    expect(coloured.some(isColour)).toBe(true);
    const mono = await draw(true);
    expect(mono.some(isColour)).toBe(false);
    expect(mono.some((p) => p.includes(1))).toBe(true);
    expect(mono.some((p) => p.includes(7))).toBe(true);
  });
});
