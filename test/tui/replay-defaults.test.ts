// What the TUI and `repl IMAGE TRACE` replay with when given no options: metadata only (a trace carries no guest
// data; keeping it spilled gigabytes to temp files, issue 12), unless --config asks for data.
import { describe, expect, it } from "vitest";
import { openFromFlags } from "../../cli/commands/tui.js";
import { TOUR_IMAGE, TOUR_TRACE } from "./helpers.js";

describe("trace sessions opened from the command line", () => {
  it("replay metadata-only by default", () => {
    const s = openFromFlags(TOUR_IMAGE, TOUR_TRACE, {});
    try {
      expect(s.image()!.config.metadataOnly).toBe(true);
    } finally {
      s.close();
    }
  });

  it("keep data when --config says metadata-only=off, and other options do not turn it on", () => {
    const on = openFromFlags(TOUR_IMAGE, TOUR_TRACE, { config: "metadata-only=off" });
    const other = openFromFlags(TOUR_IMAGE, TOUR_TRACE, { config: "l2-cache-size=1M" });
    try {
      expect(on.image()!.config.metadataOnly).toBe(false);
      expect(other.image()!.config.metadataOnly).toBe(true);
    } finally {
      on.close();
      other.close();
    }
  });

  it("an image without a trace keeps data (qemu-io's read -P on the `:` line needs it)", () => {
    const s = openFromFlags(TOUR_IMAGE, undefined, {});
    try {
      expect(s.image()!.config.metadataOnly).toBe(false);
    } finally {
      s.close();
    }
  });
});
