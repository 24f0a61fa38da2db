// Shared by the workload tests: where the shared real capture lives, and a way to drain a workload.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll } from "vitest";
import { openWorkload, type GuestRequest, type WorkloadOptions } from "../../engine/workload/index.js";
import { SHARED_TRACES } from "../shared/real-traces.js";
export { describeShared, itShared, RUN_SHARED } from "../shared/real-traces.js";

/** The real NVMe capture among the shared captures (SHARED_TRACES; absent in a user's clone, so the tests using it go through itShared, which skips). */
export const SHARED = path.join(SHARED_TRACES, "nvme-readahead");
export const SAMPLE_BIN = path.join(SHARED, "sample.blktrace.0");
export const SAMPLE_TXT = path.join(SHARED, "sample.blkparse.txt");
export const SAMPLES = path.resolve(import.meta.dirname, "../../samples/traces");

export function collect(file: string, opts: WorkloadOptions = {}): { reqs: GuestRequest[]; notices: string[]; stats: { lines: number; skipped: number; requests: number; filtered: number } } {
  const notices: string[] = [];
  const w = openWorkload(file, { ...opts, onNotice: (m) => notices.push(m) });
  const reqs = [...w.requests()];
  return { reqs, notices, stats: { ...w.stats } };
}

/** The parts of a request that two renderings of one trace must agree on (not its source line). */
export function essence(r: GuestRequest): Omit<GuestRequest, "source"> {
  const { source: _source, ...rest } = r;
  return rest;
}

const made: string[] = [];
// Registered while the importing test file is collected: runs after that file's tests.
afterAll(() => {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A scratch directory, removed when the test process ends. */
export function tmpDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `qcowdbg-${prefix}-`));
  made.push(d);
  return d;
}
