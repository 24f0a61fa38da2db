// What one host I/O costs on a class of storage: per-I/O latency, bandwidth, the cost of a cache flush, and for
// rotating disks a seek model. Built-in profiles are orders of magnitude for queue depth 1; users measure their
// own device (fio, or btt's D2C) and load it from a small JSON file (samples/profiles/example.json).
import * as fs from "node:fs";
import { parseHostProfile, parseMeasured, type HostProfile, type Measured } from "./host-profile.js";

export interface SeekModel {
  /** Track-to-track seek, ms. */
  minMs: number;
  /** Full-stroke seek, ms; a seek over distance d costs min + (max - min) * sqrt(d / strokeBytes). */
  maxMs: number;
  /** Spindle speed: a random access waits half a revolution on average. */
  rpm: number;
  /** Bytes the head sweeps over a full stroke (the disk's capacity). */
  strokeBytes: number;
}

export interface DeviceProfile {
  name: string;
  description: string;
  /** Fixed cost of one random read / write I/O, µs (command + media access, before transfer). */
  readLatencyUs: number;
  writeLatencyUs: number;
  /** Same when the I/O starts where the previous one ended (read-ahead, write combining). */
  seqReadLatencyUs: number;
  seqWriteLatencyUs: number;
  /** Transfer rate, MiB/s. */
  readMiBps: number;
  writeMiBps: number;
  /** One cache flush (fdatasync reaching the device), µs. */
  flushUs: number;
  /** Decompression speed of compressed clusters (host CPU), MiB/s of output, plus a fixed cost per cluster. */
  decompressMiBps: number;
  decompressUs: number;
  seek?: SeekModel;
  /** Format version: 1 (device fields only), 2 or 3 (with `host`, from `qcowdbg calibrate`; 3 adds host.syncUsPerAllocWrite). */
  version?: number;
  /** Page cache, holes, file growth, sync and fallocate costs of the host filesystem (version 2). */
  host?: HostProfile;
  measured?: Measured;
  /** Where the profile came from: "built-in" or the file's path (for report headers). */
  source?: string;
}

/** The newest profile format version this build reads and writes. */
export const PROFILE_VERSION = 3;
export const PROFILE_FORMAT = "qcowdbg-device-profile";

const NVME: DeviceProfile = {
  name: "nvme",
  description: "NVMe SSD, QD1 (D2C of the shared nvme-readahead capture: 56 µs for 4 KiB reads)",
  readLatencyUs: 60,
  writeLatencyUs: 20,
  seqReadLatencyUs: 50,
  seqWriteLatencyUs: 15,
  readMiBps: 3000,
  writeMiBps: 2000,
  flushUs: 400,
  decompressMiBps: 400,
  decompressUs: 2,
};

const SATA_SSD: DeviceProfile = {
  name: "sata-ssd",
  description: "SATA SSD, QD1",
  readLatencyUs: 110,
  writeLatencyUs: 50,
  seqReadLatencyUs: 90,
  seqWriteLatencyUs: 40,
  readMiBps: 520,
  writeMiBps: 480,
  flushUs: 1500,
  decompressMiBps: 400,
  decompressUs: 2,
};

const HDD: DeviceProfile = {
  name: "hdd",
  description: "7200 rpm SATA disk: sqrt seek model (0.8 .. 16 ms, 4 TiB) + half a revolution when not sequential",
  readLatencyUs: 100,
  writeLatencyUs: 100,
  seqReadLatencyUs: 50,
  seqWriteLatencyUs: 50,
  readMiBps: 180,
  writeMiBps: 170,
  flushUs: 8000,
  decompressMiBps: 400,
  decompressUs: 2,
  seek: { minMs: 0.8, maxMs: 16, rpm: 7200, strokeBytes: 4 * 2 ** 40 },
};

const NETWORK: DeviceProfile = {
  name: "network",
  description: "network block storage (Ceph RBD with 3 replicas, iSCSI) over 10 GbE: writes wait for the replicas",
  readLatencyUs: 500,
  writeLatencyUs: 1200,
  seqReadLatencyUs: 450,
  seqWriteLatencyUs: 1100,
  readMiBps: 1000,
  writeMiBps: 600,
  flushUs: 1500,
  decompressMiBps: 400,
  decompressUs: 2,
};

export const BUILTIN_PROFILES: readonly DeviceProfile[] = [NVME, SATA_SSD, HDD, NETWORK];
export const DEFAULT_PROFILE = "nvme";

const NUMERIC: (keyof DeviceProfile)[] = [
  "readLatencyUs",
  "writeLatencyUs",
  "seqReadLatencyUs",
  "seqWriteLatencyUs",
  "readMiBps",
  "writeMiBps",
  "flushUs",
  "decompressMiBps",
  "decompressUs",
];
/** Bandwidths divide: they must be > 0; latencies may be 0. */
const POSITIVE = new Set<keyof DeviceProfile>(["readMiBps", "writeMiBps", "decompressMiBps"]);
const UPPER = 1e9;

export function builtinProfile(name: string): DeviceProfile | undefined {
  const p = BUILTIN_PROFILES.find((x) => x.name === name);
  return p ? { ...p, seek: p.seek && { ...p.seek }, source: "built-in" } : undefined;
}

/** A built-in name, or a JSON file holding one profile (optionally `"base": "<built-in>"` to inherit from). */
export function loadProfile(nameOrPath: string): DeviceProfile {
  const builtin = builtinProfile(nameOrPath);
  if (builtin) return builtin;
  if (!fs.existsSync(nameOrPath)) {
    const names = BUILTIN_PROFILES.map((p) => p.name).join(", ");
    throw new Error(`profile '${nameOrPath}': not a built-in profile (${names}) nor a file`);
  }
  const text = fs.readFileSync(nameOrPath, "utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${nameOrPath}: not JSON: ${(e as Error).message}`);
  }
  return parseProfile(json, nameOrPath);
}

export function parseProfile(json: unknown, file: string): DeviceProfile {
  const fail = (field: string, why: string): never => {
    throw new Error(`${file}: profile field '${field}' ${why}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("(root)", "must be a JSON object");
  const o = json as Record<string, unknown>;
  const known = new Set<string>([...NUMERIC, "name", "description", "base", "seek", "$comment", "format", "version", "host", "measured"]);
  for (const k of Object.keys(o)) if (!known.has(k)) fail(k, `is unknown (known: ${[...known].join(", ")})`);
  if (o.format !== undefined && o.format !== PROFILE_FORMAT) fail("format", `must be "${PROFILE_FORMAT}"`);
  const version = o.version ?? 1;
  if (version !== 1 && version !== 2 && version !== 3) fail("version", `is ${JSON.stringify(version)}; this qcowdbg reads versions 1, 2 and 3`);
  let base: DeviceProfile | undefined;
  if (o.base !== undefined) {
    if (typeof o.base !== "string") fail("base", "must be a string");
    base = builtinProfile(o.base as string) ?? fail("base", `names no built-in profile (${BUILTIN_PROFILES.map((p) => p.name).join(", ")})`);
  }
  const name = o.name ?? fail("name", "is missing");
  if (typeof name !== "string" || !name) fail("name", "must be a non-empty string");
  const p: Record<string, unknown> = { ...(base ?? {}), name, description: typeof o.description === "string" ? o.description : `from ${file}` };
  for (const k of NUMERIC) {
    const v = o[k] ?? base?.[k];
    if (v === undefined) fail(k, "is missing (or give a \"base\" profile to inherit it from)");
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > UPPER) fail(k, `must be a number in [0, ${UPPER}]`);
    if (POSITIVE.has(k) && v === 0) fail(k, "must be > 0");
    p[k] = v;
  }
  if (o.seek !== undefined && o.seek !== null) p.seek = parseSeek(o.seek, fail);
  else if (o.seek === null) delete p.seek;
  p.version = version;
  p.source = file;
  if (o.host !== undefined) {
    if (version === 1) fail("host", "needs \"version\": 2 or 3");
    p.host = parseHostProfile(o.host, fail, version as number);
  }
  if (o.measured !== undefined) p.measured = parseMeasured(o.measured, fail);
  return p as unknown as DeviceProfile;
}

function parseSeek(s: unknown, fail: (field: string, why: string) => never): SeekModel {
  if (typeof s !== "object" || s === null || Array.isArray(s)) fail("seek", "must be an object {minMs, maxMs, rpm, strokeBytes}");
  const o = s as Record<string, unknown>;
  const num = (k: string, positive: boolean): number => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 2 ** 53) fail(`seek.${k}`, "must be a non-negative number");
    if (positive && v === 0) fail(`seek.${k}`, "must be > 0");
    return v as number;
  };
  const m: SeekModel = { minMs: num("minMs", false), maxMs: num("maxMs", false), rpm: num("rpm", false), strokeBytes: num("strokeBytes", true) };
  if (m.maxMs < m.minMs) fail("seek.maxMs", "must be >= seek.minMs");
  return m;
}
