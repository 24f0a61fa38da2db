// A pane: a title line (inverse when it has focus) and a window of rows. Only the visible rows are rendered,
// whatever the length of the list.
import { Box, Text } from "ink";
import type { Row } from "../session/view-models.js";
import { fit, RowLine } from "./RowLine.js";

export interface PaneProps {
  title: string;
  width: number;
  height: number;
  focused: boolean;
  /** The visible rows only. */
  rows: Row[];
  /** Index (within `rows`) of the selected row, when the pane has focus. */
  selected?: number;
  /** "12-20/63" style position, when the list is longer than the window. */
  position?: string;
}

export function Title({ title, width, focused, position }: { title: string; width: number; focused: boolean; position?: string }) {
  const right = position ? ` ${position} ` : "";
  const left = `${focused ? ">" : "-"} ${title} `;
  const text = left.length + right.length <= width ? left + "-".repeat(width - left.length - right.length) + right : fit(left, width);
  return (
    <Text wrap="truncate" inverse={focused} bold={focused} dimColor={!focused}>
      {text}
    </Text>
  );
}

export function Pane({ title, width, height, focused, rows, selected, position }: PaneProps) {
  if (height <= 0) return null;
  const body = rows.slice(0, height - 1);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Title title={title} width={width} focused={focused} position={position} />
      {body.map((r, i) => (
        <RowLine key={r.key} text={r.text} width={width} tone={r.tone} changed={r.changed} selected={focused && i === selected} />
      ))}
    </Box>
  );
}
