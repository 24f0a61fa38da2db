// A calibrated profile's host section with round figures, for tests of the host model and of what costs through it.
import type { HostProfile } from "../../engine/replay/host-profile.js";

export const TEST_HOST: HostProfile = {
  pageCacheBytes: 64 * 4096,
  cachedRead: { us: 10, usPerKiB: 0 },
  holeRead: { us: 20, usPerKiB: 0 },
  directHoleRead: { us: 30, usPerKiB: 0 },
  bufferedWrite: { us: 5, usPerKiB: 0 },
  bufferedAllocWrite: { us: 7, usPerKiB: 0 },
  directAllocWrite: { us: 200, usPerKiB: 0 },
  requestUs: 1,
  allocUs: 3,
  syncUs: 100,
  syncUsPerMiB: 1000,
  syncAllocUs: 500,
  directSyncAllocUs: 500,
  punchHoleUs: 40,
  zeroRangeUs: 15,
};
