// The top line (image, trace, position; red when stopped at a breakpoint) and the bottom line (the `:` prompt,
// a run's progress, or the last message and the key hints).
import { Text } from "ink";
import type { StatusView } from "../session/view-models.js";
import type { Mode } from "./tui-controller.js";
import { fit } from "./RowLine.js";
import { COLOR } from "../color-policy.js";

const base = (p: string) => p.split("/").pop() ?? p;

export function StatusBar({ status, width }: { status: StatusView; width: number }) {
  const files = status.trace ? `${base(status.image)} + ${base(status.trace)}` : base(status.image);
  const text = ` qcowdbg  ${files} | ${status.position} | ${status.stop}`;
  return (
    <Text wrap="truncate" inverse={!status.atBreak || !COLOR} underline={status.atBreak && !COLOR} backgroundColor={status.atBreak && COLOR ? "red" : undefined} color={status.atBreak && COLOR ? "white" : undefined} bold>
      {fit(text, width).padEnd(width)}
    </Text>
  );
}

const HINTS = "s/S step n/N next c/C cont b break : cmd ? help Tab pane q quit";

export function BottomLine({ mode, command, running, message, width }: { mode: Mode; command: string; running: string | null; message: string; width: number }) {
  if (mode === "command") {
    const shown = `:${command}`;
    const text = shown.length >= width ? shown.slice(shown.length - width + 1) : shown;
    return (
      <Text wrap="truncate">
        {text}
        <Text inverse> </Text>
        {" ".repeat(Math.max(0, width - text.length - 1))}
      </Text>
    );
  }
  if (running)
    return (
      <Text wrap="truncate" color={COLOR ? "yellow" : undefined}>
        {fit(running, width)}
      </Text>
    );
  const msg = message ? `${message}  ` : "";
  return (
    <Text wrap="truncate" dimColor={!message}>
      {fit(msg.length + HINTS.length <= width ? msg + " ".repeat(width - msg.length - HINTS.length) + HINTS : msg || HINTS, width)}
    </Text>
  );
}
