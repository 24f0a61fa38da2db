// NO_COLOR / FORCE_COLOR: the policy, and the TUI's row styles without colour (bold, underline and inverse only,
// so the current item, what changed and the selection stay visible).
import { describe, expect, it } from "vitest";
import { colorsWanted } from "../../inspector/color-policy.js";
import { styleProps } from "../../inspector/tui/RowLine.js";

describe("colour policy", () => {
  it.each([
    [{}, true, true],
    [{}, false, false],
    [{ NO_COLOR: "1" }, true, false],
    [{ NO_COLOR: "" }, true, true],
    [{ NO_COLOR: "1", FORCE_COLOR: "1" }, true, true],
    [{ FORCE_COLOR: "1" }, false, true],
    [{ FORCE_COLOR: "0" }, true, false],
    [{ FORCE_COLOR: "false" }, true, false],
  ])("%j on a terminal=%s: colour %s", (env, tty, want) => {
    expect(colorsWanted(env, tty)).toBe(want);
  });
});

describe("TUI row styles", () => {
  it("use no colour props without colour, and keep every mark", () => {
    for (const tone of ["current", "dim", "warn", "miss", "hit", undefined] as const)
      for (const changed of [false, true])
        for (const selected of [false, true]) {
          const p = styleProps({ tone, changed, selected }, false);
          expect(p.color).toBeUndefined();
          expect(p.backgroundColor).toBeUndefined();
          expect(Boolean(p.inverse)).toBe(selected);
          expect(Boolean(p.underline)).toBe(changed);
          if (tone === "current") expect(p.bold).toBe(true);
        }
    expect(styleProps({ tone: "miss" }, true).color).toBe("red");
  });
});
