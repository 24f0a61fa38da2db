// Inspection speed against its anchors, each measured in the same run (issue 12): start-up of `info` and of a
// small `map` against `node -e 0` (target <= 1.5x), info, check and map on a 200 GiB metadata-preallocated image
// against qemu-img (map target <= 1.5x, check <= 1.0x; these are the only 200 GiB rows of `npm run bench`), and `map --output=json` of a 64 GiB image with 150k random 4 KiB extents through
// a pipe and to a file against qemu-img (target <= 1.0x, under 100 MiB). Times are medians of interleaved runs of
// fresh processes (BENCH_STARTUP_RUNS, default 21; BENCH_RUNS for the long ones, default 5); outputs compared.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fragmentedImage, preallocatedImage } from "./lib/fragmented-image.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist", "cli", "main.js");
const SMALL = join(ROOT, "samples", "images", "cluster-4k.qcow2");
const STARTUP_RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 21);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TIME = "/usr/bin/time";

type Cmd = [string, ...string[]];
const ours = (...args: string[]): Cmd => [process.execPath, CLI, ...args];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/**
 * CPU seconds (user + system) this process's waited-for children have used, from /proc/self/stat (Linux; NaN
 * elsewhere). On a loaded machine wall time is mostly waiting for a core; CPU time is what a quiet one would see.
 * Its unit is a clock tick (10 ms), so the rows give the mean over all runs of a command, not one run's.
 */
function childCpu(): number {
  try {
    const f = readFileSync("/proc/self/stat", "utf8");
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return NaN;
  }
}
const cpuUsed = new Map<string, { seconds: number; runs: number }>();
/** Mean CPU seconds of the runs of `cmd` so far. */
const meanCpu = (cmd: Cmd) => {
  const u = cpuUsed.get(cmd.join(" "));
  return u ? u.seconds / u.runs : NaN;
};

/** Wall-clock seconds of one run with stdout discarded; a failing run is an error. */
function once(cmd: Cmd): number {
  const c0 = childCpu();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd[0], cmd.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} exited ${r.status}: ${r.stderr}`);
  const u = cpuUsed.get(cmd.join(" ")) ?? { seconds: 0, runs: 0 };
  cpuUsed.set(cmd.join(" "), { seconds: u.seconds + childCpu() - c0, runs: u.runs + 1 });
  return s;
}

/** Median seconds of each command over `runs` rounds, the commands taking turns so load changes hit all alike. */
function interleaved(cmds: Cmd[], runs: number): number[] {
  const times = cmds.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) cmds.forEach((c, j) => times[j]!.push(once(c)));
  return times.map(median);
}

interface Streamed {
  seconds: number;
  rssMiB: number;
  md5: string;
}

/**
 * One run writing into a pipe this process drains, or into a file: wall seconds, peak RSS (from GNU time, when
 * installed) and the output's md5.
 */
async function streamed(cmd: Cmd, toFile: string | null): Promise<Streamed> {
  const rssFile = join(tmpdir(), `qcowdbg-bench-rss-${process.pid}`);
  const timed = existsSync(TIME);
  const argv = timed ? [TIME, "-o", rssFile, "-f", "%M", ...cmd] : cmd;
  const md5 = createHash("md5");
  const t0 = process.hrtime.bigint();
  let status: number | null;
  if (toFile) {
    const fd = openSync(toFile, "w");
    try {
      status = spawnSync(argv[0]!, argv.slice(1), { stdio: ["ignore", fd, "inherit"] }).status;
    } finally {
      closeSync(fd);
    }
  } else {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.on("data", (b: Buffer) => md5.update(b));
    status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (status !== 0) throw new Error(`${cmd.join(" ")} exited ${status}`);
  if (toFile) md5.update(readFileSync(toFile));
  const rssMiB = timed ? Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) / 1024 : NaN;
  rmSync(rssFile, { force: true });
  return { seconds, rssMiB, md5: md5.digest("hex") };
}

/** Medians over `runs` interleaved rounds of streamed(); the md5s must agree between the commands. */
async function streamedPair(a: Cmd, b: Cmd, toFile: string | null, runs: number): Promise<[Streamed, Streamed]> {
  const runsA: Streamed[] = [];
  const runsB: Streamed[] = [];
  for (let i = 0; i < runs; i++) {
    runsA.push(await streamed(a, toFile));
    runsB.push(await streamed(b, toFile));
  }
  const med = (rs: Streamed[]): Streamed => ({ seconds: median(rs.map((r) => r.seconds)), rssMiB: Math.max(...rs.map((r) => r.rssMiB)), md5: rs[0]!.md5 });
  return [med(runsA), med(runsB)];
}

export async function run(): Promise<Record<string, number | string>> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
  const dir = mkdtempSync(join(tmpdir(), "qcowdbg-bench-inspection-"));
  try {
    const pre = preallocatedImage(dir);
    const frag = fragmentedImage(dir);
    const out: Record<string, number | string> = {
      bundle: existsSync(join(ROOT, "dist", "bundle", "qcowdbg.js")) ? "yes" : "no (npm run build makes it)",
    };

    // Start-up: fresh processes on tiny work, against Node's own start-up.
    const node0Cmd: Cmd = [process.execPath, "-e", "0"];
    const [node, version, info, smallMap, qInfo, qSmallMap] = interleaved(
      [node0Cmd, ours("--version"), ours("info", pre), ours("map", SMALL), ["qemu-img", "info", pre], ["qemu-img", "map", SMALL]],
      STARTUP_RUNS,
    );
    Object.assign(out, {
      "startup runs": STARTUP_RUNS,
      "node -e 0 ms": round(node! * 1000, 1),
      "qcowdbg --version ms": round(version! * 1000, 1),
      "qcowdbg info (200 GiB) ms": round(info! * 1000, 1),
      "qcowdbg map (16 MiB) ms": round(smallMap! * 1000, 1),
      "qemu-img info ms": round(qInfo! * 1000, 1),
      "qemu-img map (16 MiB) ms": round(qSmallMap! * 1000, 1),
      "info / node -e 0 (target <= 1.5)": round(info! / node!, 2),
      "small map / node -e 0 (target <= 1.5)": round(smallMap! / node!, 2),
      "cpu ms, mean: node -e 0 / --version / info / small map": [node0Cmd, ours("--version"), ours("info", pre), ours("map", SMALL)].map((c) => round(meanCpu(c) * 1000, 1)).join(" / "),
      "cpu info / node -e 0": round(meanCpu(ours("info", pre)) / meanCpu(node0Cmd), 2),
      "cpu small map / node -e 0": round(meanCpu(ours("map", SMALL)) / meanCpu(node0Cmd), 2),
    });

    // The 200 GiB metadata-preallocated image (3.2 M allocated clusters): map reads all 25 MiB of L2 tables,
    // check every refcount as well. Node's own start-up, interleaved with them, is the floor of the map ratio.
    const qMap = ["qemu-img", "map", "--output=json", pre] as Cmd;
    const [map200, qMap200, check200, qCheck200, node200] = interleaved(
      [ours("map", "--output=json", pre), qMap, ours("check", pre), ["qemu-img", "check", pre], [process.execPath, "-e", "0"]],
      Math.max(RUNS, 9),
    );
    const result = (cmd: Cmd) => spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8", maxBuffer: 1 << 28 });
    const same200 = result(ours("map", "--output=json", pre)).stdout === result(qMap).stdout;
    const [ourCheck, qemuCheck] = [result(ours("check", pre)), result(["qemu-img", "check", pre])];
    Object.assign(out, {
      "200 GiB runs": Math.max(RUNS, 9),
      "qcowdbg map 200 GiB s": round(map200!),
      "qemu-img map 200 GiB s": round(qMap200!),
      "map 200 GiB ours/qemu (target <= 1.5)": round(map200! / qMap200!, 2),
      "node -e 0 / qemu-img map 200 GiB": round(node200! / qMap200!, 2),
      "map 200 GiB output identical": same200 ? "yes" : "NO",
      "cpu ms, mean: map 200 GiB ours / qemu-img": `${round(meanCpu(ours("map", "--output=json", pre)) * 1000, 1)} / ${round(meanCpu(qMap) * 1000, 1)}`,
      "cpu map 200 GiB ours/qemu": round(meanCpu(ours("map", "--output=json", pre)) / meanCpu(qMap), 2),
      "qcowdbg check 200 GiB s": round(check200!),
      "qemu-img check 200 GiB s": round(qCheck200!),
      "check 200 GiB ours/qemu (target <= 1.0)": round(check200! / qCheck200!, 2),
      "cpu check 200 GiB ours/qemu": round(meanCpu(ours("check", pre)) / meanCpu(["qemu-img", "check", pre]), 2),
      "check 200 GiB output and status identical": ourCheck.stdout === qemuCheck.stdout && ourCheck.status === qemuCheck.status ? "yes" : "NO",
      "info 200 GiB ours/qemu": round(info! / qInfo!, 1),
    });

    // A long map: through a pipe (back-pressure) and into a file.
    const [pipeOurs, pipeQemu] = await streamedPair(ours("map", "--output=json", frag), ["qemu-img", "map", "--output=json", frag], null, RUNS);
    const [fileOurs, fileQemu] = await streamedPair(ours("map", "--output=json", frag), ["qemu-img", "map", "--output=json", frag], join(dir, "map.json"), RUNS);
    Object.assign(out, {
      runs: RUNS,
      "fragmented image": "64 GiB, 4 KiB clusters, 150k random 4 KiB writes",
      "map pipe ours s": round(pipeOurs.seconds),
      "map pipe qemu-img s": round(pipeQemu.seconds),
      "map pipe ours/qemu (target <= 1.0)": round(pipeOurs.seconds / pipeQemu.seconds, 2),
      "map pipe ours peak MiB (target < 100)": round(pipeOurs.rssMiB, 0),
      "map pipe qemu-img peak MiB": round(pipeQemu.rssMiB, 0),
      "map file ours s": round(fileOurs.seconds),
      "map file qemu-img s": round(fileQemu.seconds),
      "map file ours/qemu": round(fileOurs.seconds / fileQemu.seconds, 2),
      "map file ours peak MiB": round(fileOurs.rssMiB, 0),
      "fragmented map output identical": pipeOurs.md5 === pipeQemu.md5 && fileOurs.md5 === fileQemu.md5 && pipeOurs.md5 === fileOurs.md5 ? "yes" : "NO",
    });
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
