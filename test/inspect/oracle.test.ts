// info, map and export against qemu-img 7.2 itself, on images qemu-img/qemu-io build in a temporary directory:
// the JSON and text must be the same bytes (except the host-dependent disk size), the raw export the same content.
import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportRaw } from "../../engine/check/export.js";
import { imageInfo, imageInfoChain, infoHuman, infoJson } from "../../engine/check/info.js";
import { openForInspection } from "../../engine/check/open-inspection.js";
import { printMap } from "../../engine/check/map.js";
import { parseSize } from "../../engine/image/engine-config.js";
import { seekHoleAvailable } from "../../engine/storage/seek-hole.js";
import { tmpDir } from "../format/qemu-images.js";
import { buildImages, qemu, type QemuRun, type TestImage, withKey } from "./images.js";

const tmp = tmpDir("qcowdbg-inspect-");
const startDir = process.cwd();
let images: TestImage[] = [];
const oracle = new Map<string, QemuRun>();

const noActualSize = (s: string) => s.replace(/^ *"actual-size": \d+,\n/gm, "");
const noDiskSize = (s: string) => s.replace(/^disk size: .*\n/gm, "");

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** qemu-img invocations whose output each image is compared with, keyed by a short label. */
function qemuCommands(t: TestImage): [string, string[]][] {
  const open = t.key ? withKey(t.name) : [t.name];
  const cmds: [string, string[]][] = [
    ["info-json", ["info", "--output=json", t.name]],
    ["info-text", ["info", t.name]],
    ["map-json", ["map", "--output=json", ...open]],
    ["map-human", ["map", ...open]],
  ];
  if (t.chain) cmds.push(["chain-json", ["info", "--backing-chain", "--output=json", t.name]], ["chain-text", ["info", "--backing-chain", t.name]]);
  if (!t.key) cmds.push(["convert", ["convert", "-O", "raw", t.name, `${t.name.replace(/[^\w]/g, "_")}.oracle.raw`]]);
  for (const args of t.mapArgs ?? []) cmds.push([`map ${args.join(" ")}`, ["map", "--output=json", ...args, t.name]]);
  return cmds;
}

beforeAll(async () => {
  images = await buildImages(tmp.dir);
  const jobs = images.flatMap((t) => qemuCommands(t).map(([label, args]) => ({ key: `${t.name}|${label}`, args })));
  const workers = Array.from({ length: 4 }, async () => {
    for (let j = jobs.shift(); j; j = jobs.shift()) oracle.set(j.key, await qemu(tmp.dir, "qemu-img", j.args));
  });
  await Promise.all(workers);
  // Names are relative to the image directory, as they were for qemu-img (the filename fields show them).
  process.chdir(tmp.dir);
});

afterAll(() => {
  process.chdir(startDir);
  tmp.cleanup();
});

function q(t: TestImage, label: string): QemuRun {
  const r = oracle.get(`${t.name}|${label}`);
  if (!r) throw new Error(`no qemu-img output for ${t.name} ${label}`);
  return r;
}

function ok(t: TestImage, label: string): string {
  const r = q(t, label);
  expect(r.code, `qemu-img ${label} ${t.name}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Our map output and the error it ended with, if any. */
function ourMap(t: TestImage, json: boolean, start?: number, maxLength?: number): { out: string; error?: string } {
  let out = "";
  const top = openForInspection(t.name);
  try {
    printMap(top, { json, start, maxLength, name: t.name }, (c) => (out += c));
    return { out };
  } catch (e) {
    return { out, error: (e as Error).message };
  } finally {
    top.close();
  }
}

// The list is only known once the images exist, so each image's checks run inside one test per aspect.
describe("qcowdbg against qemu-img 7.2 on freshly built images", () => {
  const each = (what: string, fn: (t: TestImage) => void) =>
    it(what, () => {
      expect(images.length).toBeGreaterThan(30);
      const failures: string[] = [];
      for (const t of images) {
        if (t.holes && !seekHoleAvailable()) continue;
        try {
          fn(t);
        } catch (e) {
          failures.push(`${t.name}: ${(e as Error).message}`);
        }
      }
      expect(failures).toEqual([]);
    });

  each("info --output=json", (t) => {
    expect(noActualSize(infoJson(imageInfo(t.name)))).toBe(noActualSize(ok(t, "info-json")));
  });

  each("info (human)", (t) => {
    expect(noDiskSize(infoHuman(imageInfo(t.name)))).toBe(noDiskSize(ok(t, "info-text")));
  });

  each("info --backing-chain, JSON and human", (t) => {
    if (!t.chain) return;
    const chain = imageInfoChain(t.name);
    expect(chain.length).toBeGreaterThan(1);
    expect(noActualSize(infoJson(chain))).toBe(noActualSize(ok(t, "chain-json")));
    expect(noDiskSize(infoHuman(chain))).toBe(noDiskSize(ok(t, "chain-text")));
  });

  each("map --output=json (and --start-offset/--max-length)", (t) => {
    const ours = ourMap(t, true);
    expect(ours.error).toBeUndefined();
    expect(ours.out).toBe(ok(t, "map-json"));
    for (const args of t.mapArgs ?? []) {
      const start = args.includes("--start-offset") ? parseSize(args[args.indexOf("--start-offset") + 1]!) : undefined;
      const max = args.includes("--max-length") ? parseSize(args[args.indexOf("--max-length") + 1]!) : undefined;
      expect(ourMap(t, true, start, max).out).toBe(ok(t, `map ${args.join(" ")}`));
    }
  });

  each("map (human), including its refusal of compressed and encrypted data", (t) => {
    const r = q(t, "map-human");
    const ours = ourMap(t, false);
    expect(ours.out).toBe(r.stdout);
    if (r.code === 0) expect(ours.error).toBeUndefined();
    else {
      expect(r.stderr).toContain("File contains external, encrypted or compressed clusters.");
      expect(ours.error).toContain("File contains external, encrypted or compressed clusters.");
    }
  });

  each("export has the bytes of qemu-img convert -O raw", (t) => {
    const out = join(tmp.dir, `${t.name.replace(/[^\w]/g, "_")}.ours.raw`);
    const top = openForInspection(t.name);
    try {
      if (t.key) {
        expect(() => exportRaw(top, out)).toThrow(/encrypted/);
        return;
      }
      ok(t, "convert");
      const res = exportRaw(top, out);
      expect(res.size).toBe(readFileSync(`${t.name.replace(/[^\w]/g, "_")}.oracle.raw`).length);
      expect(sha256(out)).toBe(sha256(`${t.name.replace(/[^\w]/g, "_")}.oracle.raw`));
    } finally {
      top.close();
      rmSync(out, { force: true });
    }
  });
});
