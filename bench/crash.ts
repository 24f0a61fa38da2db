// Crash exploration speed: a 10,000-request trace (random 4 KiB writes over a 1 GiB image made by qemu-img,
// a guest flush every 32 requests, a few reads and discards) explored at every sync epoch with the default sample
// size. Target: under a minute.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CrashExplorer } from "../engine/crash/crash-explorer.js";
import type { GuestRequest } from "../engine/workload/guest-request.js";

const REQUESTS = 10_000;
const DISK = 2 ** 30;

function requests(): GuestRequest[] {
  let s = 7;
  const rnd = () => (s = (s * 48271) % 2147483647) / 2147483647;
  const out: GuestRequest[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const base = { time: i * 1e-4, fua: false, preflush: false, source: `bench:${i + 1}` };
    const offset = Math.floor(rnd() * (DISK / 4096)) * 4096;
    if (i % 32 === 31) out.push({ ...base, op: "flush", offset: 0, length: 0 });
    else if (i % 50 === 7) out.push({ ...base, op: "discard", offset: Math.floor(offset / 65536) * 65536, length: 65536 });
    else if (i % 10 === 3) out.push({ ...base, op: "read", offset, length: 4096 });
    else out.push({ ...base, op: "write", offset, length: 4096 });
  }
  return out;
}

export async function run(): Promise<Record<string, number | string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-bench-crash-"));
  try {
    const img = path.join(dir, "disk.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", img, String(DISK)]);
    const reqs = requests();
    const t0 = performance.now();
    const ex = new CrashExplorer(img, {});
    for (const r of reqs) ex.apply(r);
    const s = ex.finish();
    ex.close();
    const seconds = (performance.now() - t0) / 1000;
    return {
      requests: REQUESTS,
      "host writes": s.hostWrites,
      "sync epochs explored": s.points,
      "states checked": s.statesChecked,
      "worst verdict": s.worst,
      seconds,
      "target (s)": "< 60",
      verdict: seconds < 60 ? "ok" : "SLOW",
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
