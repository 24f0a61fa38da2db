// The host-file cluster map: one character per cell (a cell folds several clusters on big files), a legend line,
// cells the last command changed on yellow, cells the request in view touched in cyan.
import { Box, Text } from "ink";
import type { MapView } from "../session/session-views.js";
import type { Tone } from "../session/view-models.js";
import { fit, styleProps } from "./RowLine.js";
import { Title } from "./Pane.js";

function segments(text: string, tones: (Tone | undefined)[]): { text: string; tone?: Tone }[] {
  const out: { text: string; tone?: Tone }[] = [];
  for (let i = 0; i < text.length; i++) {
    const t = tones[i];
    const last = out[out.length - 1];
    if (last && last.tone === t) last.text += text[i];
    else out.push({ text: text[i]!, tone: t });
  }
  return out;
}

export function MapPane({ view, width, height, focused, top }: { view: MapView; width: number; height: number; focused: boolean; top: number }) {
  if (height <= 0) return null;
  const rowsShown = Math.max(0, height - 2);
  const rows = view.rows.slice(top, top + rowsShown);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Title title={view.title} width={width} focused={focused} />
      {rows.map((r, i) => (
        <Text key={r.key} wrap="truncate">
          {segments(r.text.slice(0, width), view.tones[top + i] ?? []).map((s, j) => (
            <Text key={j} {...styleProps({ tone: s.tone, changed: s.tone === "changed" })}>
              {s.text}
            </Text>
          ))}
        </Text>
      ))}
      <Box flexGrow={1} />
      {height >= 2 ? (
        <Text wrap="truncate" dimColor>
          {fit(view.legend, width)}
        </Text>
      ) : null}
    </Box>
  );
}
