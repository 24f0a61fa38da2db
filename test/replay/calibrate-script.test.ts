// calibrate's scripts: classes interleave in proportion (a spell of load falls on all of them alike), a timed
// command keeps its set-up right before it, untimed commands run quiet, and timings map back to their classes.
import { describe, expect, it } from "vitest";
import { Mixer, punch, Script } from "../../engine/replay/calibrate-script.js";
import { driverScript } from "../../engine/replay/calibrate-driver.js";

describe("calibrate scripts", () => {
  it("interleaves classes in proportion and keeps each unit's set-up before its timed command", () => {
    const x = new Mixer();
    for (let i = 0; i < 4; i++) x.add("a", `read ${i} 4k`);
    for (let i = 0; i < 2; i++) x.add("b", `write ${i} 4k`, [`write -z ${i} 64k`]);
    const s = new Script();
    x.into(s);
    expect(s.lines).toEqual(["read 0 4k", "write -q -z 0 64k", "write 0 4k", "read 1 4k", "read 2 4k", "write -q -z 1 64k", "write 1 4k", "read 3 4k"]);
    expect(s.tags).toEqual(["a", null, "b", "a", "a", null, "b", "a"]);
    const got = s.classify([1e-6, 2e-6, 3e-6, 4e-6, 5e-6, 6e-6]);
    expect(got.get("a")!.map(Math.round)).toEqual([1, 3, 4, 6]);
    expect(got.get("b")!.map(Math.round)).toEqual([2, 5]);
    expect(() => s.classify([1e-6])).toThrow(/timed 1 commands, expected 6/);
  });

  it("interleaves in blocks of one class and lets the caller switch images before each block", () => {
    const x = new Mixer(2);
    for (let i = 0; i < 4; i++) x.add("a", `read ${i} 4k`);
    for (let i = 0; i < 2; i++) x.add("b", `write ${i} 4k`);
    const s = new Script();
    x.into(s, (tag) => s.add(null, `open ${tag}`));
    expect(s.lines).toEqual(["open a", "read 0 4k", "read 1 4k", "open b", "write 0 4k", "write 1 4k", "open a", "read 2 4k", "read 3 4k"]);
  });

  it("times the driver and allocation classes in one qemu-io process, switching images between blocks", () => {
    let seed = 1;
    const at = (base: number, span: number, align: number) => base + ((seed++ * 7919) % Math.floor(span / align)) * align;
    const s = driverScript({ raw: "f.raw", qcow2: "f.qcow2", ext: "f.ext.qcow2" }, (x) => x, at);
    const timed = s.tags.filter((t) => t !== null);
    for (const c of ["rRead4", "rWrite4", "qRead4", "qWrite4", "qAlloc4", "qAllocExt4", "qSubExt4"]) expect(timed.filter((t) => t === c).length).toBe(100);
    // Each timed command runs on its class's image: track which one is open.
    const image: Record<string, string> = { rRead4: "f.raw", rWrite4: "f.raw", qRead4: "f.qcow2", qWrite4: "f.qcow2", qAlloc4: "f.qcow2", qAllocExt4: "f.ext.qcow2", qSubExt4: "f.ext.qcow2" };
    let open = "f.qcow2";
    const sub = new Set<number>();
    const ext = new Set<number>();
    s.lines.forEach((line, i) => {
      const o = /^open .* (\S+)$/.exec(line);
      if (o) open = o[1]!;
      const t = s.tags[i];
      if (t) expect(open).toBe(image[t]);
      const off = Number(line.split(" ").at(-2));
      // Subcluster writes: never slot 0 (written in the set-up), each (cluster, slot) once, clusters 16-127.
      if (t === "qSubExt4") {
        expect(off % 65536).not.toBe(0);
        expect(Math.floor(off / 65536)).toBeGreaterThanOrEqual(16);
        expect(Math.floor(off / 65536)).toBeLessThan(128);
        sub.add(off);
      }
      // New clusters on the extended-L2 image, timed or warming its caches after a switch: each cluster once.
      if (line.startsWith("write") && open === "f.ext.qcow2" && off >= 128 * 65536) {
        const c = Math.floor(off / 65536);
        expect(ext.has(c)).toBe(false);
        ext.add(c);
      }
    });
    expect(sub.size).toBe(100);
    expect(s.lines.filter((l) => l.startsWith("open")).length).toBeLessThan(timed.length / 8);
  });

  it("punches holes in pieces qemu-io accepts", () => {
    const s = new Script();
    punch(s, 0, 2.5 * 2 ** 30);
    expect(s.lines).toEqual([`discard -q 0 ${2 ** 30}`, `discard -q ${2 ** 30} ${2 ** 30}`, `discard -q ${2 ** 31} ${2 ** 29}`]);
  });
});
