// Where the real captures live (../shared/traces beside the checkout, read-only, not in the repository), and tests
// that need them: they skip with a one-line reason in a user's clone, where ../shared does not exist. Under CI
// (CI=true, which has ../shared) they always run, so a missing directory fails there instead of skipping silently.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "vitest";

/** ../shared/traces beside the clone, or QCOWDBG_SHARED_TRACES. */
export const SHARED_TRACES = process.env.QCOWDBG_SHARED_TRACES ?? path.resolve(import.meta.dirname, "../../../shared/traces");
export const HAVE_SHARED_TRACES = fs.existsSync(SHARED_TRACES);
export const RUN_SHARED = HAVE_SHARED_TRACES || process.env.CI === "true";
const REASON = `skipped: needs the real captures in ${SHARED_TRACES} (absent in this clone; CI has them)`;

/** `it`, skipped with the reason in its name when the real captures are absent. */
export const itShared = (name: string, fn: () => void | Promise<void>, timeout?: number): void => {
  if (RUN_SHARED) it(name, fn, timeout);
  else it.skip(`${name} [${REASON}]`, fn);
};

/** `describe`, likewise: the whole block skips with one line. */
export const describeShared = (name: string, fn: () => void): void => {
  if (RUN_SHARED) describe(name, fn);
  else describe.skip(`${name} [${REASON}]`, fn);
};
