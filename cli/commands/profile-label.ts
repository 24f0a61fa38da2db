// How a report header names its device profile: which one, and where it came from (built-in or a file).
import type { DeviceProfile } from "../../engine/replay/device-profiles.js";

export function profileLabel(p: DeviceProfile, withDescription = false): string {
  const from = !p.source || p.source === "built-in" ? "built-in" : `from ${p.source}${p.measured ? `, measured ${p.measured.date.slice(0, 10)} in ${p.measured.dir}` : ""}`;
  return withDescription ? `${p.description} (${from})` : `${p.name} (${from})`;
}
