#!/usr/bin/env node
// Issue 14's acceptance check: calibrates the storage under DIR, then runs `qcowdbg replay --validate` on the four
// scenarios (a)-(d) and prints modelled vs measured totals and ratios, with the ±35% (totals) and ±30% (ratios)
// bounds.
//   node scripts/validate-scenarios.mjs [DIR] [--requests N] [--runs N] [--repeat N] [--profile FILE] [--cpu-idle hold|free] [--markdown]
// --repeat (default 3): rounds; each round runs `qcowdbg calibrate` and then `replay --validate` on every scenario
// with that round's profile, so that each modelled figure comes from a profile measured seconds (not minutes)
// before the run it is checked against: this VM's speed drifts by up to 2x over minutes, and a profile only holds
// for the state the host was in. The table shows the median of each figure over the rounds, and the spread of the
// measured totals (min-max) says how noisy the host was. --profile FILE: one fixed profile for every round instead.
// --runs (default 3): qemu-io runs per configuration, each request timed by its fastest (replay --validate-runs).
// --cpu-idle (default hold): whether calibrate and qemu-io's runs keep idle CPUs out of halt states (PM QoS).
// Every figure of a run (profiles, each round's totals, load) is kept in DIR/runs/DATE.json.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import console from "node:console";
import process from "node:process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "dist", "cli", "main.js");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : dflt;
};
const markdown = args.includes("--markdown") ? (args.splice(args.indexOf("--markdown"), 1), true) : false;
const requests = Number(opt("--requests", "1000"));
const runs = opt("--runs", "3");
const repeat = Math.max(1, Number(opt("--repeat", "3")));
const fixedProfile = opt("--profile", "");
// --cpu-idle hold (default) | free: passed to calibrate and replay --validate (engine/replay/cpu-idle-hold.ts).
const cpuIdle = opt("--cpu-idle", "hold");
const idleStates = new Set();
const dir = path.resolve(args[0] ?? path.join(os.tmpdir(), "qcowdbg-scenarios"));
fs.mkdirSync(dir, { recursive: true });

const sh = (cmd, argv) => execFileSync(cmd, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 28 });
const at = (p) => path.join(dir, p);
const fresh = (name, size, opts = []) => {
  fs.rmSync(at(name), { force: true });
  sh("qemu-img", ["create", "-q", "-f", "qcow2", ...opts, at(name), size]);
};

// The same pseudo-random offsets on every run (mulberry32).
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function trace(name, op, span, n, seed) {
  const r = prng(seed);
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(`${op} ${Math.floor((r() * span) / 4096) * 4096} 4k`);
  fs.writeFileSync(at(name), lines.join("\n") + "\n");
  return at(name);
}

const load = () => os.loadavg().map((x) => x.toFixed(1)).join(" ");
const loadBefore = load();
const t0 = performance.now();
// Without the native addon the model cannot tell holes from data (SEEK_DATA) and charges every read of a sparse
// image as a device read: the check would fail for a build step, not for the model.
if (!fs.existsSync(path.join(root, "dist", "native", "posix.node"))) {
  console.error("validate-scenarios: dist/native/posix.node is missing: run `node scripts/build-native.mjs` first (holes would count as data)");
  process.exit(2);
}
const calibrateFor = (round) => {
  if (fixedProfile) return fixedProfile;
  const p = at(`profile-${round + 1}.json`);
  process.stderr.write(`round ${round + 1}: calibrating ${dir} ...\n`);
  process.stderr.write(sh("node", [cli, "calibrate", dir, "--runs", runs, "--cpu-idle", cpuIdle, "--output", p]));
  return p;
};

const G = 2 ** 30;
fresh("a.qcow2", "100G", ["-o", "preallocation=metadata"]);
const ta = trace("a.qemu-io", "read", 100 * G, requests * 2, 1);
fresh("b.qcow2", "10G");
const tb = trace("b.qemu-io", "write", 10 * G, requests, 2);
fs.rmSync(at("c-base.raw"), { force: true });
sh("qemu-img", ["create", "-q", "-f", "raw", at("c-base.raw"), "1G"]);
sh("qemu-io", ["-f", "raw", "-t", "none", "-c", "write -q -P 7 0 256M", at("c-base.raw")]);
fresh("c.qcow2", "1G", ["-b", at("c-base.raw"), "-F", "raw"]);
const tc = trace("c.qemu-io", "write", 256 * 2 ** 20, requests, 3);
fresh("d.qcow2", "1G");
const td = trace("d.qemu-io", "write", G, requests, 4);

const scenarios = [
  { id: "a", what: "random 4 KiB reads, 100 GiB metadata-preallocated, cache=none", image: "a.qcow2", trace: ta, config: "cache=none", compare: "cache=none,l2-cache-size=1M" },
  { id: "a'", what: "the same through the page cache (cache=writeback)", image: "a.qcow2", trace: ta, config: "cache=writeback", compare: "cache=writeback,l2-cache-size=1M" },
  { id: "b", what: "random 4 KiB writes growing a fresh 10 GiB image", image: "b.qcow2", trace: tb, config: "cache=writethrough", compare: "cache=writeback" },
  { id: "c", what: "4 KiB writes over a raw backing file", image: "c.qcow2", trace: tc, config: "cache=writeback", compare: "cluster_size=128k,extended_l2=on" },
  { id: "d", what: "4 KiB writes, fresh vs metadata-preallocated", image: "d.qcow2", trace: td, config: "cache=writeback", compare: "preallocation=metadata" },
];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const rows = [];
const record = { date: new Date().toISOString(), load: { before: os.loadavg() }, profiles: [], scenarios: {} };
const got = new Map(scenarios.map((s) => [s.id, []]));
const calibrateSeconds = [];
for (let round = 0; round < repeat; round++) {
  const profile = calibrateFor(round);
  const p = JSON.parse(fs.readFileSync(profile, "utf8"));
  record.profiles.push(p);
  if (p.measured?.seconds !== undefined) calibrateSeconds.push(p.measured.seconds);
  for (const s of scenarios) {
    process.stderr.write(`round ${round + 1}: scenario (${s.id}) ${s.what} ...\n`);
    const out = sh("node", [cli, "replay", at(s.image), s.trace, "--profile", profile, "--config", s.config, "--compare", s.compare, "--validate", "--validate-runs", runs, "--cpu-idle", cpuIdle, "--output", "json"]);
    const v = JSON.parse(out).validation;
    idleStates.add(`calibrate ${v.profileCpuIdle ?? "?"}, qemu-io ${v.cpuIdle}`);
    got.get(s.id).push([v.modelledSeconds, v.measuredSeconds, v.compare[0].modelledSeconds, v.compare[0].measuredSeconds]);
  }
}
let ok = true;
for (const s of scenarios) {
  const g = got.get(s.id);
  record.scenarios[s.id] = g;
  const [m1, r1, m2, r2] = [0, 1, 2, 3].map((k) => median(g.map((x) => x[k])));
  const within = (m, r, tol) => r > 0 && Math.abs(m / r - 1) <= tol;
  const mr = m2 / m1;
  const rr = r2 / r1;
  const pass = within(m1, r1, 0.35) && within(m2, r2, 0.35) && within(mr, rr, 0.3);
  if (s.id !== "a'") ok &&= pass;
  const spread = (k) => `${f(Math.min(...g.map((x) => x[k])))}-${f(Math.max(...g.map((x) => x[k])))}`;
  rows.push([`(${s.id})`, `${s.config} vs ${s.compare}`, f(m1), f(r1), f(m2), f(r2), mr.toFixed(2), rr.toFixed(2), pass ? "yes" : "no", `${spread(1)} / ${spread(3)}`]);
}

function f(x) {
  return x < 1 ? `${(x * 1000).toFixed(0)} ms` : `${x.toFixed(2)} s`;
}
const head = ["", "settings", "modelled", "measured", "modelled", "measured", "ratio modelled", "ratio measured", "within bounds", "measured spread"];
if (markdown) {
  console.log(`| ${head.join(" | ")} |\n|${head.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
} else {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => (i < 2 || i === 9 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  "));
}
const took = ((performance.now() - t0) / 1000).toFixed(0);
const calib = fixedProfile ? `profile ${fixedProfile} in every round` : `a fresh calibrate (${calibrateSeconds.map((x) => x.toFixed(1)).join(", ")} s)`;
console.log(`host ${os.hostname()} (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "?"}), load average ${loadBefore} before, ${load()} after; ${took} s in all`);
console.log(`${requests} requests per trace (${2 * requests} for (a)); each figure the median of ${repeat} rounds, each round ${calib} then one replay --validate per scenario, timing each request by its fastest of ${runs} qemu-io runs`);
console.log(`CPU idle states (--cpu-idle ${cpuIdle}): ${[...idleStates].join("; ")}`);
record.cpuIdle = [...idleStates];
record.load.after = os.loadavg();
// Every figure of the run (profile, each replay --validate's totals), to compare runs: which side moved.
fs.mkdirSync(at("runs"), { recursive: true });
fs.writeFileSync(at(`runs/${record.date.replace(/[:.]/g, "-")}.json`), JSON.stringify(record, null, 1) + "\n");
process.exitCode = ok ? 0 : 1;
