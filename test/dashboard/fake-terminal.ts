// A pseudo-terminal made of streams for blessed: an output with isTTY, columns and rows (resizable), an input
// that takes keys, and the screen's text read back from blessed's own cell buffer.
import { PassThrough } from "node:stream";
import type blessed from "blessed";

export interface FakeTerminal {
  input: PassThrough & { isTTY: boolean; setRawMode(on: boolean): void };
  output: PassThrough & { isTTY: boolean; columns: number; rows: number };
  /** Everything written to the terminal so far. */
  written(): string;
  press(keys: string): void;
  resize(cols: number, rows: number): void;
}

export function fakeTerminal(cols = 120, rows = 40): FakeTerminal {
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: cols, rows });
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => {} });
  const chunks: string[] = [];
  output.on("data", (d: Buffer) => chunks.push(d.toString("utf8")));
  return {
    input,
    output,
    written: () => chunks.join(""),
    press: (keys) => input.write(keys),
    resize: (c, r) => {
      output.columns = c;
      output.rows = r;
      output.emit("resize");
    },
  };
}

/** The screen as text, one string per row (what blessed last drew). */
export function screenText(screen: blessed.Widgets.Screen): string[] {
  const lines = (screen as unknown as { lines: [unknown, string][][] }).lines;
  return lines.map((row) => row.map((cell) => cell[1]).join("").trimEnd());
}
