// The same command lines through the real qemu-img and through qcowdbg (built CLI): stdout, stderr (program name
// swapped) and exit status must be equal. Usage errors, extra arguments, a reader going away, --image-opts, -f,
// --object secret for LUKS, and check -r on a copy of a leaking image.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "../shared/temp-dirs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const IMAGES = path.join(ROOT, "samples/images");
const tmp = tempDir("qcowdbg-parity-");
afterAll(removeTempDirs);

interface Outcome {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** Runs one shell command line with PROG standing for the program, in `cwd`. */
function sh(line: string, prog: string, cwd: string): Outcome {
  const r = spawnSync("bash", ["-c", line.replaceAll("PROG", prog)], { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** qemu-img's outcome, in qcowdbg's words (program name), and ours. */
function both(line: string, cwd = IMAGES): { theirs: Outcome; ours: Outcome } {
  const theirs = sh(line, "qemu-img", cwd);
  const ours = sh(line, `"${process.execPath}" "${CLI}"`, cwd);
  return { theirs: { ...theirs, stderr: theirs.stderr.replaceAll("qemu-img", "qcowdbg") }, ours };
}

describe("usage errors and extra arguments, as qemu-img says them", () => {
  it.each([
    "PROG map",
    "PROG info",
    "PROG check",
    "PROG map tour.qcow2 extra",
    "PROG info tour.qcow2 extra",
    "PROG check tour.qcow2 extra",
    "PROG map --bogus tour.qcow2",
    "PROG check -Z tour.qcow2",
    "PROG info --frobnicate tour.qcow2",
  ])("%s", (line) => {
    const { theirs, ours } = both(line);
    expect(theirs.status).toBe(1);
    expect(ours).toEqual(theirs);
  });
});

describe("a reader that goes away", () => {
  it("map | head -1 ends quietly with status 0", () => {
    // Enough extents that the output outgrows the pipe's buffer before head exits.
    const img = path.join(tmp, "frag.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", img, "64M"]);
    const cmds = Array.from({ length: 3000 }, (_, i) => `write ${i * 8}k 512`).join("\n");
    spawnSync("qemu-io", ["-f", "qcow2", img], { input: cmds + "\n" });
    for (const out of ["json", "human"]) {
      const { theirs, ours } = both(`PROG map --output=${out} frag.qcow2 | head -1; exit \${PIPESTATUS[0]}`, tmp);
      expect(theirs.status).toBe(0);
      expect(ours).toEqual(theirs);
    }
  });
});

const LUKS_KEY = "--object secret,id=sec0,data=abc123";
const LUKS_OPTS = "driver=qcow2,file.filename=luks.qcow2,encrypt.key-secret=sec0";

describe("--image-opts, -f and --object", () => {
  it.each([
    "PROG map --output=json --image-opts driver=qcow2,file.filename=chain-top.qcow2,cache.direct=on,cache.no-flush=off,l2-cache-size=1M",
    "PROG map --image-opts file.filename=chain-mid.qcow2",
    "PROG map --output=json --image-opts driver=raw,file.filename=chain-base.raw",
    "PROG map --output=json -f raw chain-base.raw",
    "PROG map -f qcow2 chain-base.raw",
    "PROG map nonexist.qcow2",
    "PROG map --image-opts driver=qcow2,file.filename=nonexist.qcow2",
    "PROG map --image-opts driver=qcow2,file.filename=tour.qcow2,foo=1",
    "PROG map --image-opts driver=qcow2,file.filename=tour.qcow2,file.foo=1",
    "PROG map --image-opts driver=raw,file.filename=chain-base.raw,l2-cache-size=1M",
    "PROG map --image-opts driver=qcow2,file.filename=tour.qcow2,cache.direct=maybe",
    "PROG map --image-opts driver=qcow2",
    "PROG map --image-opts tour.qcow2",
    "PROG map -f qcow2 --image-opts driver=qcow2,file.filename=tour.qcow2",
    "PROG map --object bogus,id=x tour.qcow2",
    "PROG map --object secret,id=sec0 tour.qcow2",
    "PROG info --image-opts driver=qcow2,file.filename=snapshots.qcow2",
    "PROG check --image-opts driver=qcow2,file.filename=leaked.qcow2",
    "PROG check --output=json --image-opts driver=qcow2,file.filename=tour.qcow2,l2-cache-size=64k",
    // One size grammar (qemu_strtosz): a fraction needs a unit, and "KiB" is not one.
    "PROG map --output=json --image-opts driver=qcow2,file.filename=tour.qcow2,l2-cache-size=1.5M",
    "PROG map --image-opts driver=qcow2,file.filename=tour.qcow2,l2-cache-size=1.5",
    "PROG map --image-opts driver=qcow2,file.filename=tour.qcow2,l2-cache-size=4KiB",
    // Booleans as qapi_bool_parse reads them: yes/no/true/false/y/n too, but not 1 or ON.
    "PROG map --output=json --image-opts driver=qcow2,file.filename=tour.qcow2,cache.direct=yes,lazy-refcounts=n",
    "PROG map --image-opts driver=qcow2,file.filename=tour.qcow2,cache.direct=1",
  ])("%s", (line) => {
    const { theirs, ours } = both(line);
    expect(ours).toEqual(theirs);
  });
});

describe("LUKS: refused without its key, and with a wrong one, as qemu-img refuses", () => {
  it.each([
    "PROG map luks.qcow2",
    "PROG map --output=json luks.qcow2",
    `PROG map --output=json ${LUKS_KEY} --image-opts ${LUKS_OPTS}`,
    `PROG map --output=json --object secret,id=sec0,data=YWJjMTIz,format=base64 --image-opts ${LUKS_OPTS}`,
    `PROG map --object secret,id=sec0,data=abc124 --image-opts ${LUKS_OPTS}`,
    `PROG map ${LUKS_KEY} --image-opts driver=qcow2,file.filename=luks.qcow2,encrypt.key-secret=sec1`,
    `PROG map ${LUKS_KEY} luks.qcow2`,
    `PROG check ${LUKS_KEY} --image-opts ${LUKS_OPTS}`,
    `PROG check --object secret,id=sec0,data=nope --image-opts ${LUKS_OPTS}`,
    "PROG check luks.qcow2",
  ])("%s", (line) => {
    const { theirs, ours } = both(line);
    expect(ours).toEqual(theirs);
  });

  it("unlocks aes-256-xts-plain64 (qemu-img's default) too", () => {
    const img = path.join(tmp, "xts.qcow2");
    let made = 1;
    for (let i = 0; i < 5 && made !== 0; i++)
      made = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "--object", "secret,id=s,data=pw", "-o", "encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=50", img, "16M"]).status ?? 1;
    expect(made).toBe(0);
    for (const pw of ["pw", "px"]) {
      const { theirs, ours } = both(`PROG map --output=json --object secret,id=s,data=${pw} --image-opts driver=qcow2,file.filename=xts.qcow2,encrypt.key-secret=s`, tmp);
      expect(theirs.status).toBe(pw === "pw" ? 0 : 1);
      expect(ours).toEqual(theirs);
    }
  });
});

describe("check -r: the same repair as qemu-img's, byte for byte, and only with -r", () => {
  /** Copies `src` twice, runs the line on each (qemu-img's copy and ours), and returns both files. */
  function repairBoth(src: string, line: string): { theirs: Outcome; ours: Outcome; a: string; b: string } {
    const a = path.join(tmp, "theirs.qcow2");
    const b = path.join(tmp, "ours.qcow2");
    fs.copyFileSync(src, a);
    fs.copyFileSync(src, b);
    const theirs = sh(line.replace("IMG", "theirs.qcow2"), "qemu-img", tmp);
    const ours = sh(line.replace("IMG", "ours.qcow2"), `"${process.execPath}" "${CLI}"`, tmp);
    return { theirs: { ...theirs, stdout: theirs.stdout.replace("theirs.qcow2", "ours.qcow2"), stderr: theirs.stderr.replaceAll("qemu-img", "qcowdbg") }, ours, a, b };
  }

  it.each(["PROG check -r leaks IMG", "PROG check -r all --output=json IMG", "PROG check -r leaks -q IMG"])("%s on a leaking image", (line) => {
    const { theirs, ours, a, b } = repairBoth(path.join(IMAGES, "leaked.qcow2"), line);
    expect(theirs.status).toBe(0);
    expect(ours).toEqual(theirs);
    expect(fs.readFileSync(b).equals(fs.readFileSync(a))).toBe(true);
    expect(spawnSync("qemu-img", ["check", b]).status).toBe(0);
  });

  it("-r all raises a refcount that is too low (a snapshot-shared cluster stored as 1)", () => {
    const src = path.join(tmp, "low.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", src, "16M"]);
    spawnSync("qemu-io", ["-f", "qcow2", "-c", "write -P 0x11 0 64k", src]);
    spawnSync("qemu-img", ["snapshot", "-c", "s1", src]);
    const host = (JSON.parse(spawnSync("qemu-img", ["map", "--output=json", src], { encoding: "utf8" }).stdout) as { offset?: number }[])[0]!.offset!;
    const buf = fs.readFileSync(src);
    const refblock = Number(buf.readBigUInt64BE(Number(buf.readBigUInt64BE(48))));
    const entry = refblock + (host / 65536) * 2;
    expect(buf.readUInt16BE(entry)).toBe(2);
    buf.writeUInt16BE(1, entry);
    fs.writeFileSync(src, buf);
    const plain = both(`PROG check low.qcow2`, tmp);
    expect(plain.theirs.status).toBe(2);
    expect(plain.ours).toEqual(plain.theirs);
    expect(fs.readFileSync(src).equals(buf)).toBe(true); // no -r, no write
    const leaksOnly = repairBoth(src, "PROG check -r leaks IMG");
    expect(leaksOnly.ours).toEqual(leaksOnly.theirs);
    const { theirs, ours, a, b } = repairBoth(src, "PROG check -r all IMG");
    expect(theirs.status).toBe(0);
    expect(ours).toEqual(theirs);
    expect(fs.readFileSync(b).equals(fs.readFileSync(a))).toBe(true);
  });

  it("refuses a rebuild under -r leaks as qemu-img does, and rebuilds under -r all as qemu-img does", () => {
    const leaks = repairBoth(path.join(IMAGES, "refcount-error.qcow2"), "PROG check -r leaks IMG");
    expect(leaks.ours).toEqual(leaks.theirs);
    expect(fs.readFileSync(leaks.b).equals(fs.readFileSync(path.join(IMAGES, "refcount-error.qcow2")))).toBe(true);
    const all = repairBoth(path.join(IMAGES, "refcount-error.qcow2"), "PROG check -r all IMG");
    expect(all.theirs.status).toBe(0);
    expect(all.ours).toEqual(all.theirs);
    expect(fs.readFileSync(all.b).equals(fs.readFileSync(all.a))).toBe(true);
  });

  it.each(["PROG check -r bogus tour.qcow2", "PROG check -r tour.qcow2"])("%s", (line) => {
    const { theirs, ours } = both(line);
    expect(ours).toEqual(theirs);
  });
});
