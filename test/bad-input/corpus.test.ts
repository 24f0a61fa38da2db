// Every CLI command over every corrupted image: qcowdbg must answer quickly, fail with one `qcowdbg: ` line
// (never a stack trace), fail where qemu-img fails, and never modify the image it was given.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCorpus, type BadCase, type Verdict } from "./corpus.js";
import { treeDigest } from "../shared/tree-digest.js";

/** QCOWDBG_CLI runs another build (e.g. a private one while others rebuild dist/). */
const MAIN = process.env["QCOWDBG_CLI"] ?? fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
/** Random-flip cases run here: the hand-made cases cover the rules, the flips only sample the rest. */
const FLIPS = 10;
/** "Answers within 1 s" is measured in CPU time (start-up included), so a loaded machine cannot fail it... */
const CPU_LIMIT_MS = 1000;
/** ...and a wall-clock guard catches what burns no CPU (waiting forever). */
const WALL_LIMIT_MS = 20_000;
/** Node start-up is mostly waiting on module loads, so a few more processes than cores keeps the cores busy. */
const CONCURRENCY = availableParallelism() * 2;

type Command = "info" | "map" | "check" | "dump" | "export";
const COMMANDS: Command[] = ["info", "map", "check", "dump", "export"];
const DUMP_WHAT = [["header"], ["extensions"], ["l1"], ["l2", "0"], ["refcounts"], ["snapshots"], ["bitmaps"]];

interface Run {
  code: number | null;
  signal: string | null;
  /** user + system CPU of the child, reported on fd 3 by a --require hook as it exits (null if it never did). */
  cpuMs: number | null;
  stdout: string;
  stderr: string;
}

const root = mkdtempSync(join(tmpdir(), "qcowdbg-bad-input-"));
const corpusDir = join(root, "corpus");
const outDir = join(root, "out");
mkdirSync(corpusDir);
mkdirSync(outDir);
const cases = buildCorpus(corpusDir, { flips: FLIPS });
const results = new Map<string, Run>();
const cpuHook = join(root, "cpu-hook.cjs");
writeFileSync(cpuHook, 'process.on("exit", () => { const u = process.cpuUsage(); require("fs").writeSync(3, String((u.user + u.system) / 1000)); });\n');


function spawnCli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--require", cpuHook, MAIN, ...args], { stdio: ["ignore", "pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let cpu = "";
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    child.stdio[3]!.on("data", (d: Buffer) => (cpu += d.toString()));
    const guard = setTimeout(() => child.kill("SIGKILL"), WALL_LIMIT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      resolve({
        code,
        signal,
        cpuMs: cpu === "" ? null : Number(cpu),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

/** Images QEMU refuses to open fail early: info, check (which opens like qemu-img check) and one of the rest. */
function commandsFor(c: BadCase, i: number): Command[] {
  if (c.expect.info === "error") return ["info", "check", (["map", "dump", "export"] as const)[i % 3]!];
  return COMMANDS;
}

function argsFor(cmd: Command, c: BadCase, i: number): string[] {
  switch (cmd) {
    case "info":
      return ["info", "-f", "qcow2", c.path];
    case "map":
      return ["map", "-f", "qcow2", "--output=json", c.path];
    case "check":
      return ["check", "-f", "qcow2", "--output=json", c.path];
    case "dump":
      return ["dump", c.path, ...DUMP_WHAT[i % DUMP_WHAT.length]!];
    case "export":
      return ["export", "-f", "qcow2", c.path, join(outDir, `${c.name}.raw`)];
  }
}

let before = new Map<string, string>();

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm test does)`);
  before = treeDigest(corpusDir);
  const jobs = cases.flatMap((c, i) => commandsFor(c, i).map((cmd) => ({ key: `${c.name} ${cmd}`, args: argsFor(cmd, c, i), c, cmd })));
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      results.set(job.key, await spawnCli(job.args));
      if (job.cmd === "export") rmSync(join(outDir, `${job.c.name}.raw`), { force: true });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}, 300_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

function expectCleanFailure(r: Run, what: string): void {
  expect(r.code, `${what}: exit code`).not.toBe(0);
  expect(r.stderr, `${what}: stderr must be one qcowdbg: line`).toMatch(/^qcowdbg: [^\n]+\n$/);
}

describe("qcowdbg over the corrupted-image corpus", () => {
  it("leaves every image of the corpus unchanged", () => {
    expect(treeDigest(corpusDir)).toEqual(before);
  });

  describe.each(cases.map((c, i) => [c.name, c, i] as const))("%s", (_name, c, i) => {
    it.each(commandsFor(c, i))("%s", (cmd) => {
      const r = results.get(`${c.name} ${cmd}`)!;
      const what = `${cmd} ${c.name} (${c.why})`;
      expect(r.signal, `${what}: still running after ${WALL_LIMIT_MS} ms`).toBeNull();
      expect(r.cpuMs, `${what}: CPU time`).not.toBeNull();
      expect(r.cpuMs!, `${what}: CPU time`).toBeLessThan(CPU_LIMIT_MS);
      expect(`${r.stdout}${r.stderr}`, `${what}: stack trace`).not.toMatch(/^ {4}at .*(\(|file:|node:)/m);
      if (cmd === "check" && r.code !== null && [0, 1, 2, 3].includes(r.code)) {
        // qemu-img's answer: a JSON report, or (like qemu-img when the check cannot run) ERROR lines and a
        // last line saying why; either way ERROR/Leaked lines may precede it on stderr.
        if (r.stdout.trim() !== "") expect(() => JSON.parse(r.stdout), `${what}: check JSON`).not.toThrow();
        else expect(r.stderr.trimEnd().split("\n").pop(), `${what}: last stderr line`).toMatch(/^qcowdbg: /);
        return;
      }
      const verdict: Verdict = cmd === "check" ? "either" : c.expect[cmd];
      if (verdict === "error" || r.code !== 0) expectCleanFailure(r, what);
    });
  });
});
