// The host side of a device profile (format versions 2 and 3, written by `qcowdbg calibrate`): what the page cache,
// holes, file growth, fdatasync and fallocate cost on the filesystem that holds the images. The device fields of
// DeviceProfile stay the cost of I/O that reaches the device; these say when an I/O does not, or costs more.
// Documented in docs/device-profile.md.

/** Cost of one I/O of b bytes: us + usPerKiB * b / 1024 (µs). */
export interface IoCost {
  us: number;
  usPerKiB: number;
}

export interface HostProfile {
  /** Bytes of host page cache the images may use (re-reads of more than this reach the device). */
  pageCacheBytes: number;
  /** Buffered read that hits the page cache. */
  cachedRead: IoCost;
  /** Buffered read of a hole (the filesystem returns zeros, no device I/O). */
  holeRead: IoCost;
  /** O_DIRECT read of a hole. */
  directHoleRead: IoCost;
  /** Buffered write over allocated blocks (a copy into the page cache). */
  bufferedWrite: IoCost;
  /** Buffered write into a hole or past the end of the file (delayed block allocation, file growth). */
  bufferedAllocWrite: IoCost;
  /** O_DIRECT write into a hole or past the end of the file (block allocation, unwritten-extent conversion). */
  directAllocWrite: IoCost;
  /**
   * Writes into a range that fallocate(ZERO_RANGE) allocated (an unwritten extent: how qcow2 writes a cluster it
   * just zeroed, and any write into a preallocation=falloc file). Absent in older profiles: the allocating write's.
   */
  bufferedUnwrittenWrite?: IoCost;
  directUnwrittenWrite?: IoCost;
  /** QEMU's qcow2 driver per guest request (CPU: cache lookups, coroutines), over the raw file's own cost. */
  requestUs: number;
  /** qcow2's extra work per cluster allocation (allocation path, zero-COW checks), CPU. */
  allocUs: number;
  /** fdatasync with nothing dirty (the device's cache flush). */
  syncUs: number;
  /** Added per MiB of page-cache data written since the last sync (written back by the sync). */
  syncUsPerMiB: number;
  /** Added when blocks were allocated or the file grew since the last sync (a journal commit), page-cache I/O. */
  syncAllocUs: number;
  /**
   * Added per page-cache write into a hole or an unwritten extent since the last sync, after the first (version 3;
   * 0 when absent): a sync after many scattered allocating writes (qcow2 in writeback appending clusters between
   * two L2 allocations) writes each back as its own extent and converts each in the filesystem's metadata.
   */
  syncUsPerAllocWrite?: number;
  /** The same under O_DIRECT (blocks were allocated at write time; the sync commits the journal). */
  directSyncAllocUs: number;
  /** fallocate(PUNCH_HOLE) (a discard with discard=unmap) and fallocate(ZERO_RANGE) (write-zeroes), per call. */
  punchHoleUs: number;
  zeroRangeUs: number;
}

/** Where and when a profile was measured (informational). */
export interface Measured {
  host: string;
  dir: string;
  filesystem?: string;
  date: string;
  tool: string;
  seconds: number;
  /** Trimmed mean (µs) of each measured class, for the record (docs/device-profile.md lists them). */
  classesUs?: Record<string, number>;
  /** Whether idle CPUs were kept out of halt states while timing: "held", "free" or "free (why)" (cpu-idle-hold.ts). */
  cpuIdle?: string;
}

const COSTS = ["cachedRead", "holeRead", "directHoleRead", "bufferedWrite", "bufferedAllocWrite", "directAllocWrite"] as const;
const OPTIONAL_COSTS = ["bufferedUnwrittenWrite", "directUnwrittenWrite"] as const;
const NUMBERS = ["pageCacheBytes", "requestUs", "allocUs", "syncUs", "syncUsPerMiB", "syncAllocUs", "directSyncAllocUs", "punchHoleUs", "zeroRangeUs"] as const;
/** Version 3's field (required there; a version 2 file has none and pays nothing per allocating write). */
const PER_ALLOC_WRITE = "syncUsPerAllocWrite";
const UPPER = 1e15;

type Fail = (field: string, why: string) => never;

export function parseHostProfile(v: unknown, fail: Fail, version = 3): HostProfile {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail("host", "must be an object");
  const o = v as Record<string, unknown>;
  const known = new Set<string>([...COSTS, ...OPTIONAL_COSTS, ...NUMBERS, ...(version >= 3 ? [PER_ALLOC_WRITE] : [])]);
  if (version < 3 && PER_ALLOC_WRITE in o) fail(`host.${PER_ALLOC_WRITE}`, `needs "version": 3 (this file says ${version})`);
  for (const k of Object.keys(o)) if (!known.has(k)) fail(`host.${k}`, `is unknown (known: ${[...known].join(", ")})`);
  const num = (k: string, x: unknown): number => {
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0 || x > UPPER) fail(k, `must be a number in [0, ${UPPER}]`);
    return x as number;
  };
  const out: Record<string, unknown> = {};
  for (const k of NUMBERS) out[k] = num(`host.${k}`, o[k]);
  if (version >= 3) out[PER_ALLOC_WRITE] = num(`host.${PER_ALLOC_WRITE}`, o[PER_ALLOC_WRITE]);
  for (const k of [...COSTS, ...OPTIONAL_COSTS]) {
    const c = o[k];
    if (c === undefined && (OPTIONAL_COSTS as readonly string[]).includes(k)) continue;
    if (typeof c !== "object" || c === null || Array.isArray(c)) fail(`host.${k}`, "must be an object {us, usPerKiB}");
    const r = c as Record<string, unknown>;
    for (const f of Object.keys(r)) if (f !== "us" && f !== "usPerKiB") fail(`host.${k}.${f}`, "is unknown (known: us, usPerKiB)");
    out[k] = { us: num(`host.${k}.us`, r.us), usPerKiB: num(`host.${k}.usPerKiB`, r.usPerKiB) };
  }
  return out as unknown as HostProfile;
}

export function parseMeasured(v: unknown, fail: Fail): Measured {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail("measured", "must be an object");
  const o = v as Record<string, unknown>;
  const str = (k: string): string => {
    if (typeof o[k] !== "string") fail(`measured.${k}`, "must be a string");
    return o[k] as string;
  };
  if (typeof o.seconds !== "number" || !Number.isFinite(o.seconds)) fail("measured.seconds", "must be a number");
  return { host: str("host"), dir: str("dir"), filesystem: typeof o.filesystem === "string" ? o.filesystem : undefined, date: str("date"), tool: str("tool"), seconds: o.seconds as number, classesUs: parseClasses(o.classesUs, fail), ...cpuIdleOf(o.cpuIdle, fail) };
}

function cpuIdleOf(v: unknown, fail: Fail): { cpuIdle?: string } {
  if (v === undefined) return {};
  if (typeof v !== "string" || v.length > 200) fail("measured.cpuIdle", "must be a string (\"held\", \"free\" or \"free (why)\")");
  return { cpuIdle: v as string };
}

export function ioCost(c: IoCost, bytes: number): number {
  return c.us + (c.usPerKiB * bytes) / 1024;
}

function parseClasses(v: unknown, fail: Fail): Record<string, number> | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail("measured.classesUs", "must be an object of numbers");
  const o = v as Record<string, unknown>;
  for (const [k, x] of Object.entries(o)) if (typeof x !== "number" || !Number.isFinite(x)) fail(`measured.classesUs.${k}`, "must be a number");
  return o as Record<string, number>;
}
