// One row of a pane, padded to the pane's width and styled by its tone: what the last command changed is shown
// on a yellow background, the current item in bold cyan, the selection of the focused pane in inverse video.
// Styles only: the text is the same whatever the highlight, so screens compare as text.
import { Text } from "ink";
import { escapeControl } from "../../engine/format/terminal-text.js";
import type { Tone } from "../session/view-models.js";
import { COLOR } from "../color-policy.js";

export interface RowStyle {
  tone?: Tone;
  changed?: boolean;
  selected?: boolean;
}

/**
 * Cuts a line to the width ("~" marks the cut); no padding: ink lays blank space out for free. Every pane line
 * passes here, so control characters from images and traces (names, devices) are escaped here too.
 */
export function fit(raw: string, width: number): string {
  if (width <= 0) return "";
  const text = escapeControl(raw);
  return text.length > width ? text.slice(0, Math.max(0, width - 1)) + "~" : text;
}

/** Without colour (NO_COLOR): the current item bold, what changed underlined, the selection inverse. */
export function styleProps(s: RowStyle, color = COLOR): Record<string, string | boolean> {
  const p: Record<string, string | boolean> = {};
  if (!color) {
    if (s.tone === "current") p.bold = true;
    else if (s.tone === "dim") p.dimColor = true;
    if (s.changed) p.underline = true;
    if (s.selected) p.inverse = true;
    return p;
  }
  if (s.tone === "current") {
    p.color = "cyan";
    p.bold = true;
  } else if (s.tone === "dim") p.dimColor = true;
  else if (s.tone === "warn") p.color = "yellow";
  else if (s.tone === "miss") p.color = "red";
  else if (s.tone === "hit") p.color = "green";
  if (s.changed) {
    p.backgroundColor = "yellow";
    p.color = "black";
    delete p.dimColor;
  }
  if (s.selected) p.inverse = true;
  return p;
}

export function RowLine({ text, width, ...style }: RowStyle & { text: string; width: number }) {
  return (
    <Text wrap="truncate" {...styleProps(style)}>
      {fit(text, width)}
    </Text>
  );
}
