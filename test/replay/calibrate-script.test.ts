// calibrate's scripts: classes interleave in proportion (a spell of load falls on all of them alike), a timed
// command keeps its set-up right before it, untimed commands run quiet, and timings map back to their classes.
import { describe, expect, it } from "vitest";
import { Mixer, punch, Script } from "../../engine/replay/calibrate-script.js";

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

  it("punches holes in pieces qemu-io accepts", () => {
    const s = new Script();
    punch(s, 0, 2.5 * 2 ** 30);
    expect(s.lines).toEqual([`discard -q 0 ${2 ** 30}`, `discard -q ${2 ** 30} ${2 ** 30}`, `discard -q ${2 ** 31} ${2 ** 29}`]);
  });
});
