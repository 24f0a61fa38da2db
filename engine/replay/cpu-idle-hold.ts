// While `calibrate` and `replay --validate` time qemu-io's I/O, idle CPUs are kept out of their halt states through
// the kernel's PM QoS interface (/dev/cpu_dma_latency: a 32-bit wake-up latency limit in µs, in force while the
// file stays open), as tuned's latency-performance profile and cyclictest do. Without it each I/O completion can
// find the waiting thread's CPU halted, and waking it (on a VM, an exit to the hypervisor) adds a cost that comes
// and goes with whatever else the host is doing: on the development VM the same 2,000 O_DIRECT reads measured
// 60-98 ms run to run on an idle host and 53-56 ms with idle states held. The kernel drops the request when the
// file is closed, so a measurement that ends any way at all (error, signal, crash) leaves nothing behind.
import * as fs from "node:fs";
import * as os from "node:os";

export type CpuIdleMode = "hold" | "free";

/** The PM QoS device: writable by root only. */
export const PM_QOS_DEVICE = "/dev/cpu_dma_latency";

export interface CpuIdleHold {
  /** What the measurement runs under, for profiles and reports: "held", "free", or "free (why it was not held)". */
  readonly state: string;
  release(): void;
}

/** `--cpu-idle hold|free` (default hold). */
export function parseCpuIdleMode(v: string | undefined): CpuIdleMode {
  if (v === undefined || v === "hold") return "hold";
  if (v === "free") return "free";
  throw new Error(`--cpu-idle must be 'hold' or 'free', not '${v}'`);
}

/** Asks for a 0 µs wake-up latency limit (idle CPUs poll) until release(); "free" or a refusal holds nothing. */
export function holdCpuIdle(mode: CpuIdleMode, device: string = PM_QOS_DEVICE): CpuIdleHold {
  if (mode === "free") return { state: "free", release() {} };
  let fd: number;
  try {
    // Write-only, no O_CREAT: a host without the device must not get a regular file of that name.
    fd = fs.openSync(device, fs.constants.O_WRONLY);
  } catch (e) {
    return { state: `free (${device}: ${errCode(e)})`, release() {} };
  }
  try {
    const limit = Buffer.alloc(4);
    if (os.endianness() === "LE") limit.writeInt32LE(0);
    else limit.writeInt32BE(0);
    fs.writeSync(fd, limit);
  } catch (e) {
    fs.closeSync(fd);
    return { state: `free (${device}: ${errCode(e)})`, release() {} };
  }
  let open = true;
  return {
    state: "held",
    release() {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}

/** Runs `f` with idle states held (or not), releasing the hold however `f` ends. */
export function withCpuIdle<T>(mode: CpuIdleMode, f: (state: string) => T, device?: string): T {
  const hold = holdCpuIdle(mode, device);
  try {
    return f(hold.state);
  } finally {
    hold.release();
  }
}

function errCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "EACCES" || code === "EPERM" ? `${code}, not root` : (code ?? String(e));
}
