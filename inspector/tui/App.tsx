// The inspector's screen: status line, the panes in columns (layout.ts), and the bottom line. Renders the
// session's view models through the controller; re-renders when the controller's version moves.
import { useSyncExternalStore } from "react";
import { Box, Text, useInput } from "ink";
import { unknownPane, type PaneId, type PaneBox } from "./layout.js";
import { MapPane } from "./MapPane.js";
import { Pane } from "./Pane.js";
import { fit } from "./RowLine.js";
import { BottomLine, StatusBar } from "./StatusBar.js";
import type { TuiController } from "./tui-controller.js";

function Overlay({ title, lines, width, height }: { title: string; lines: string[]; width: number; height: number }) {
  const room = Math.max(0, height - 2);
  const shown = lines.slice(0, room);
  const more = lines.length - shown.length;
  const body = shown.map((l) => fit(l, width));
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text inverse bold wrap="truncate">
        {fit(` ${title}`, width)}
      </Text>
      <Box height={room} flexDirection="column">
        <Text wrap="truncate">{body.join("\n")}</Text>
      </Box>
      <Text dimColor wrap="truncate">
        {fit(more > 0 ? ` (${more} more lines: use the REPL for long output) press any key` : " press any key", width)}
      </Text>
    </Box>
  );
}

function PaneFor({ c, box }: { c: TuiController; box: PaneBox }) {
  const id: PaneId = box.id;
  const focused = c.focus === id;
  const top = c.top(id);
  const h = c.visibleRows(id);
  const sel = c.selected(id);
  const v = c.session.views;
  switch (id) {
    case "map":
      return <MapPane view={v.mapPane(box.width, Math.max(1, h))} width={box.width} height={box.height} focused={focused} top={top} />;
    case "timeline": {
      const count = v.timelineCount();
      const rows = v.timelineRows(top, h);
      const title = v.timelineTitle();
      const position = count > h ? `${top + 1}-${Math.min(count, top + h)}/${count}` : undefined;
      return <Pane title={title} width={box.width} height={box.height} focused={focused} rows={rows} selected={sel === undefined ? undefined : sel - top} position={position} />;
    }
    case "request":
    case "counters":
    case "l2":
    case "refcount":
    case "tables":
    case "header":
    case "crash": {
      const view = c.rows(id);
      const n = view.rows.length;
      const position = n > h ? `${top + 1}-${Math.min(n, top + h)}/${n}` : undefined;
      return <Pane title={view.title} width={box.width} height={box.height} focused={focused} rows={view.rows.slice(top, top + h)} selected={sel === undefined ? undefined : sel - top} position={position} />;
    }
    default:
      return unknownPane(id);
  }
}

export function App({ controller: c }: { controller: TuiController }) {
  useSyncExternalStore(c.subscribe, c.getVersion);
  useInput((input, key) => c.key(input, key));
  const L = c.layout;
  const status = c.session.views.status();
  const overlay = c.mode === "help" || c.mode === "output";
  return (
    <Box flexDirection="column" width={L.cols} height={L.height}>
      <StatusBar status={status} width={L.cols} />
      {overlay ? (
        <Overlay title={c.mode === "help" ? "Help" : "Output"} lines={c.output} width={L.cols} height={L.body} />
      ) : (
        <Box flexDirection="row" height={L.body}>
          {L.columns.map((col, k) => (
            <Box key={k} flexDirection="row">
              {k > 0 ? (
                <Box width={1} height={L.body}>
                  <Text dimColor>{Array.from({ length: L.body }, () => "|").join("\n")}</Text>
                </Box>
              ) : null}
              <Box flexDirection="column" width={col[0]?.width ?? 0} height={L.body}>
                {col.map((b) => (b.height > 0 ? <PaneFor key={b.id} c={c} box={b} /> : null))}
              </Box>
            </Box>
          ))}
        </Box>
      )}
      <BottomLine mode={c.mode} command={c.command} running={c.running?.text ?? null} message={c.message} width={L.cols} />
    </Box>
  );
}
