// The bench workload (seeded random 4 KiB writes, one every 10 µs) as blktrace's binary per-CPU file (v7
// records, host byte order, as `blktrace -d /dev/sda` leaves sda.blktrace.0): Q, G, I, D and C of each write,
// so `btt -i` and `qcowdbg replay` read the same file.
import * as fs from "node:fs";
import { randomOffsets } from "./blkparse-trace.js";

const MAGIC = 0x65617407;
const RECORD = 48;
const TC_WRITE = 1 << 1;
const TC_QUEUE = 1 << 4;
const TC_ISSUE = 1 << 6;
const TC_COMPLETE = 1 << 7;
const TC_FS = 1 << 8;
const act = (ta: number, tc: number): number => ta | ((tc | TC_WRITE | TC_FS) << 16);
/** __BLK_TA_QUEUE, GETRQ, INSERT, ISSUE, COMPLETE with their categories. */
const ACTIONS: [number, number][] = [
  [act(1, TC_QUEUE), 0],
  [act(4, TC_QUEUE), 200],
  [act(12, TC_QUEUE), 500],
  [act(7, TC_ISSUE), 900],
  [act(8, TC_COMPLETE), 7900],
];
/** Device 8,0 in the kernel's dev_t form (major << 20 | minor). */
const DEV = 8 << 20;

export function writeBlktraceBinary(file: string, n: number, diskBytes: number, seed = 1): void {
  const fd = fs.openSync(file, "w");
  const next = randomOffsets(seed, diskBytes);
  const perBatch = 4096;
  const buf = Buffer.alloc(perBatch * ACTIONS.length * RECORD);
  let seq = 0;
  try {
    for (let i = 0; i < n; ) {
      let o = 0;
      for (let k = 0; k < perBatch && i < n; k++, i++) {
        const sector = next() / 512;
        const t = i * 10_000;
        for (const [action, dt] of ACTIONS) {
          buf.writeUInt32LE(MAGIC, o);
          buf.writeUInt32LE(++seq, o + 4);
          buf.writeBigUInt64LE(BigInt(t + dt), o + 8);
          buf.writeBigUInt64LE(BigInt(sector), o + 16);
          buf.writeUInt32LE(4096, o + 24);
          buf.writeUInt32LE(action >>> 0, o + 28);
          buf.writeUInt32LE(dt < 7900 ? 41237 : 0, o + 32);
          buf.writeUInt32LE(DEV, o + 36);
          buf.writeUInt32LE(0, o + 40);
          buf.writeUInt16LE(0, o + 44);
          buf.writeUInt16LE(0, o + 46);
          o += RECORD;
        }
      }
      fs.writeSync(fd, buf, 0, o);
    }
  } finally {
    fs.closeSync(fd);
  }
}
