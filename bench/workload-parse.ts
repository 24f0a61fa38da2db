// Parse speed and memory of the workload reader on a 1,000,000-line blkparse text trace generated into the temp
// directory: requests per second, lines per second, and the resident set while parsing (it must stay flat:
// the reader streams). Exports run() for a bench runner; does nothing on import.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openWorkload } from "../engine/workload/index.js";

const LINES = 1_000_000;

/** A blkparse-like trace: each I/O as Q G I D C (5 lines), mixed reads/writes/flushes, plus P/U noise. */
function generate(file: string): number {
  const fd = fs.openSync(file, "w");
  let lines = 0, seq = 0, ns = 0, ios = 0;
  let x = 12345;
  const rand = (): number => (x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const head = (act: string, rwbs: string, pid: number): string => {
    seq++;
    return `  8,0   ${String(seq % 4).padStart(2)} ${String(seq).padStart(8)} ${String(Math.floor(ns / 1e9)).padStart(5)}.${String(ns % 1e9).padStart(9, "0")} ${String(pid).padStart(5)} ${act.padStart(2)} ${rwbs.padStart(3)} `;
  };
  try {
    let out: string[] = [];
    while (lines < LINES) {
      ns += Math.floor(rand() * 20000);
      const r = rand();
      const rwbs = r < 0.02 ? "FWS" : r < 0.5 ? "R" : r < 0.55 ? "RA" : r < 0.95 ? "WS" : "FWFS";
      const tail = rwbs === "FWS" ? "[kworker/u8:1]" : `${Math.floor(rand() * 2e9) * 8} + ${8 << Math.floor(rand() * 5)} [fio]`;
      out.push(head("Q", rwbs, 4242) + tail, head("G", rwbs, 4242) + tail, head("I", rwbs, 4242) + tail, head("D", rwbs, 4242) + tail);
      ns += 50000;
      out.push(head("C", rwbs, 0) + tail.replace(/\[.*\]$/, "[0]"));
      lines += 5;
      ios++;
      if (rand() < 0.1 && lines < LINES) {
        out.push(head("P", "N", 4242) + "[fio]");
        lines++;
      }
      if (out.length >= 10000) {
        fs.writeSync(fd, out.join("\n") + "\n");
        out = [];
      }
    }
    fs.writeSync(fd, out.join("\n") + (out.length ? "\n" : ""));
    fs.writeSync(fd, "Total (8,0):\n Reads Queued:           1,        4KiB\n\nEvents (8,0): 1 entries\n");
  } finally {
    fs.closeSync(fd);
  }
  return ios;
}

export async function run(): Promise<Record<string, number | string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qcowdbg-bench-workload-"));
  const file = path.join(dir, "trace.blkparse.txt");
  try {
    const ios = generate(file);
    const bytes = fs.statSync(file).size;
    if (global.gc) global.gc();
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const w = openWorkload(file, { format: "blkparse" });
    const t0 = process.hrtime.bigint();
    let n = 0;
    for (const _r of w.requests()) {
      if (++n % 50_000 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    if (n !== ios) throw new Error(`workload-parse: parsed ${n} requests, generated ${ios}`);
    return {
      lines: w.stats.lines,
      requests: n,
      trace_mib: +(bytes / 2 ** 20).toFixed(1),
      seconds: +secs.toFixed(3),
      requests_per_s: Math.round(n / secs),
      lines_per_s: Math.round(w.stats.lines / secs),
      mib_per_s: +(bytes / 2 ** 20 / secs).toFixed(1),
      rss_before_parse_mib: +(rssBefore / 2 ** 20).toFixed(1),
      rss_peak_during_parse_mib: +(rssPeak / 2 ** 20).toFixed(1),
      max_rss_process_mib: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
