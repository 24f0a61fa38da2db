// Synthetic workloads for the benches: seeded random 4 KiB offsets (Park-Miller, so every run replays the same
// requests) and blkparse's default text for them (Q, D and C of each write, one request every 10 µs, as a fio job
// would leave it). The replay and TUI benches read the same file format the user's `blkparse` would give them.
import * as fs from "node:fs";

const BLOCK = 4096;

/** Seeded random 4 KiB-aligned offsets below diskBytes. */
export function randomOffsets(seed: number, diskBytes: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return (s % (diskBytes / BLOCK)) * BLOCK;
  };
}

/** Writes n random 4 KiB writes over diskBytes as blkparse's default output. */
export function writeBlkparseTrace(file: string, n: number, diskBytes: number, seed = 1): void {
  const fd = fs.openSync(file, "w");
  const next = randomOffsets(seed, diskBytes);
  let parts: string[] = [];
  let seq = 0;
  const line = (t: number, pid: string, act: string, tail: string) => {
    const ns = String(t % 1e9).padStart(9, "0");
    parts.push(`  8,0    1 ${String(++seq).padStart(8)} ${String(Math.floor(t / 1e9)).padStart(5)}.${ns} ${pid}  ${act}   W ${tail}\n`);
  };
  try {
    for (let i = 0; i < n; i++) {
      const sector = next() / 512;
      const t = i * 10_000;
      line(t, "41237", "Q", `${sector} + 8 [fio]`);
      line(t + 900, "41237", "D", `${sector} + 8 [fio]`);
      line(t + 7900, "    0", "C", `${sector} + 8 [0]`);
      if (parts.length >= 3000) {
        fs.writeSync(fd, parts.join(""));
        parts = [];
      }
    }
    fs.writeSync(fd, parts.join(""));
  } finally {
    fs.closeSync(fd);
  }
}
