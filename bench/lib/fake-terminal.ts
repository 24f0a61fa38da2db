// A terminal for ink in the TUI benches: a TTY-looking stdout that counts what is drawn, and a stdin that keys are
// typed into, so the real App runs headless at a fixed size.
import { EventEmitter } from "node:events";

export class FakeStdout extends EventEmitter {
  isTTY = true;
  bytes = 0;
  constructor(
    public columns: number,
    public rows: number,
  ) {
    super();
  }
  write = (s: string): boolean => {
    this.bytes += s.length;
    return true;
  };
}

export class FakeStdin extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  type(s: string): void {
    this.data = s;
    this.emit("readable");
  }
  read = (): string | null => {
    const d = this.data;
    this.data = null;
    return d;
  };
  setEncoding(): void {}
  setRawMode(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}
