// Speed of `qcowdbg check` (and `qcowdbg map --output=json` when the map command exists) against qemu-img on a
// 200 GiB image with preallocation=metadata: 3.2 M allocated clusters, 25 MiB of contiguous L2 tables. Each
// side is timed as a user runs it (a fresh process), best of N wall-clock runs; the target is ours/qemu <= 1.0.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist", "cli", "main.js");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

interface Timed {
  best: number;
  stdout: string;
  status: number;
}

/** Best wall-clock time of `runs` executions, in seconds. */
function time(cmd: string, args: string[], runs: number): Timed {
  let best = Infinity;
  let stdout = "";
  let status = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 30 });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.error) throw r.error;
    if (s < best) best = s;
    stdout = r.stdout;
    status = r.status ?? -1;
  }
  return { best, stdout, status };
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

export async function run(): Promise<Record<string, number | string>> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);
  const dir = mkdtempSync(join(tmpdir(), "qcowdbg-bench-check-"));
  try {
    const img = join(dir, "prealloc-200g.qcow2");
    const made = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", img, "200G"], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`qemu-img create failed: ${made.stderr}`);
    // Warm the page cache for both sides alike.
    spawnSync("qemu-img", ["check", img]);

    const qemuCheck = time("qemu-img", ["check", img], RUNS);
    const ourCheck = time("node", [CLI, "check", img], RUNS);
    if (ourCheck.stdout !== qemuCheck.stdout || ourCheck.status !== qemuCheck.status)
      throw new Error(`check outputs differ:\n${ourCheck.stdout}\nvs qemu-img:\n${qemuCheck.stdout}`);
    const out: Record<string, number | string> = {
      image: "200 GiB, preallocation=metadata, 64 KiB clusters",
      runs: RUNS,
      "qemu-img check s": round(qemuCheck.best),
      "qcowdbg check s": round(ourCheck.best),
      "check ours/qemu": round(ourCheck.best / qemuCheck.best, 2),
    };

    if (existsSync(join(ROOT, "dist", "cli", "commands", "map.js"))) {
      const qemuMap = time("qemu-img", ["map", "--output=json", img], RUNS);
      const ourMap = time("node", [CLI, "map", "--output=json", img], RUNS);
      out["qemu-img map s"] = round(qemuMap.best);
      out["qcowdbg map s"] = round(ourMap.best);
      out["map ours/qemu"] = round(ourMap.best / qemuMap.best, 2);
      out["map output identical"] = ourMap.stdout === qemuMap.stdout ? "yes" : "no";
    } else {
      out["map"] = "skipped: no map command";
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then(
    (r) => {
      for (const [k, v] of Object.entries(r)) console.log(`${k}: ${v}`);
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
