// `qcowdbg repl` fed a qemu-io script (issue 12): 100,000 seeded random 4 KiB writes over a 100 GiB qcow2, with
// a `read -P` pattern check every 100 writes (data must be exact), against qemu-io 7.2 running the same script
// on the same image on /dev/shm. Both read the script from stdin with -t writeback; the output lines must be the
// same. Target: repl <= 1.0x qemu-io's time. The repl writes to its shadow layer (the image stays as it was).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const SELF = fileURLToPath(import.meta.url);
const CLI = path.resolve(path.dirname(SELF), "../cli/main.js");
const WRITES = Number(process.env.BENCH_REPL_WRITES ?? 100_000);
const DISK = 100 * 2 ** 30;

function script(): string {
  let s = 2;
  const out: string[] = [];
  for (let i = 0; i < WRITES; i++) {
    s = (s * 48271) % 2147483647;
    const off = (s % (DISK / 4096)) * 4096;
    out.push(`write -q -P ${0x20 + (i % 200)} ${off} 4k`);
    if (i % 100 === 99) out.push(`read -q -P ${0x20 + (i % 200)} ${off} 4k`);
  }
  return out.join("\n") + "\n";
}

/** Runs a command with the script on stdin; wall seconds, peak RSS (GNU time, when installed) and stdout. */
function timed(cmd: string[], input: string): { seconds: number; rssMiB: number | string; stdout: string; status: number | null; stderr: string } {
  const gnuTime = fs.existsSync("/usr/bin/time");
  const rssFile = path.join(os.tmpdir(), `qcowdbg-bench-rss-${process.pid}`);
  const argv = gnuTime ? ["/usr/bin/time", "-f", "%M", "-o", rssFile, ...cmd] : cmd;
  const t = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: "utf8", maxBuffer: 256 << 20 });
  const seconds = (performance.now() - t) / 1000;
  let rssMiB: number | string = "no /usr/bin/time";
  if (gnuTime) {
    rssMiB = Math.round(Number(fs.readFileSync(rssFile, "utf8").trim().split("\n").pop()) / 1024);
    fs.rmSync(rssFile, { force: true });
  }
  return { seconds, rssMiB, stdout: r.stdout, status: r.status, stderr: r.stderr };
}

export async function run(): Promise<Record<string, number | string>> {
  const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(shm, "qcowdbg-bench-repl-"));
  try {
    const img = path.join(dir, "d.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", img, String(DISK)]);
    const pristine = fs.readFileSync(img);
    const input = script();
    const q = timed(["qemu-io", "-f", "qcow2", "-t", "writeback", img], input);
    if (q.status !== 0) return { error: `qemu-io failed: ${q.stderr.trim().split("\n")[0]}` };
    fs.writeFileSync(img, pristine);
    const r = timed([process.execPath, CLI, "repl", "-t", "writeback", img], input);
    if (r.status !== 0) return { error: `repl failed: ${r.stderr.trim().split("\n")[0]}` };
    const same = q.stdout === r.stdout;
    return {
      target: "repl <= 1.0x qemu-io (same output lines)",
      writes: WRITES,
      patternChecks: Math.floor(WRITES / 100),
      "qemuIo.s": Math.round(q.seconds * 100) / 100,
      "qemuIo.rssMiB": q.rssMiB,
      "repl.s": Math.round(r.seconds * 100) / 100,
      "repl.rssMiB": r.rssMiB,
      ratio: Math.round((r.seconds / q.seconds) * 100) / 100,
      sameOutput: same ? "yes" : `NO (${q.stdout.length} vs ${r.stdout.length} bytes)`,
      "pattern failures": (r.stdout.match(/Pattern verification failed/g) ?? []).length,
      loadAverage: os.loadavg()[0]!.toFixed(2),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  run().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(20)} ${v}\n`);
  });
}
