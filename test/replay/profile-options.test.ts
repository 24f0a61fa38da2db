// --profile reaches every face that models latency: the TUI/REPL session's counters (a calibrated profile or a
// built-in one instead of the default NVMe figures) and the replay summary's profile name.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openTraceSession } from "../../inspector/session/open-session.js";
import { builtinProfile } from "../../engine/replay/device-profiles.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const TOUR = here("../../samples/images/tour.qcow2");
const TOUR_TRACE = here("../../samples/traces/tour.qemu-io");

function latencyAfter(steps: number, profile?: ReturnType<typeof builtinProfile>): string {
  const s = openTraceSession(TOUR, TOUR_TRACE, { profile });
  try {
    s.execute(`next ${steps}`);
    const lines: string[] = [];
    for (const l of s.views.counterLines()) lines.push(l);
    return lines.find((l) => l.startsWith("latency")) ?? "";
  } finally {
    s.close();
  }
}

describe("--profile in sessions", () => {
  it("the counters' modelled latency follows the session's profile", () => {
    const nvme = latencyAfter(3);
    const hdd = latencyAfter(3, builtinProfile("hdd"));
    expect(nvme).toMatch(/^latency #\d+: .* modelled/);
    expect(hdd).toMatch(/^latency #\d+: .* ms modelled/);
    expect(hdd).not.toBe(nvme);
  });
});
