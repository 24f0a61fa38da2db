// RWBS parsed from a line's bytes (no string per line) gives what the string parser it replaced gave, for every
// string of up to four RWBS-like letters.
import { describe, expect, it } from "vitest";
import { newBlockEvent, parseRwbs, parseRwbsBytes, type BlockEvent } from "../../engine/workload/block-event.js";

/** The string parser as it was before the byte scanner. */
function reference(rwbs: string, ev: BlockEvent): boolean {
  let i = 0;
  ev.flush = false;
  ev.fua = false;
  if (rwbs.charCodeAt(0) === 70 && rwbs.length > 1 && "DWRN".includes(rwbs[1]!)) {
    ev.flush = true;
    i = 1;
  }
  const d = rwbs[i];
  if (d !== "D" && d !== "W" && d !== "R" && d !== "N") return false;
  ev.dir = d;
  for (i++; i < rwbs.length; i++) {
    const c = rwbs[i];
    if (c === "F") ev.fua = true;
    else if (c !== "A" && c !== "S" && c !== "M" && c !== "E" && c !== "B") return false;
  }
  return true;
}

describe("RWBS", () => {
  it("parses every short string as before, from bytes inside a longer line too", () => {
    const letters = "FDWRNASMEBXf";
    const all: string[] = [""];
    for (let len = 1; len <= 4; len++) for (const s of all.filter((x) => x.length === len - 1)) for (const c of letters) all.push(s + c);
    for (const s of all) {
      const want = newBlockEvent();
      const ok = reference(s, want);
      const line = Buffer.from(`Q ${s} 123`, "latin1");
      const got = newBlockEvent();
      expect(parseRwbsBytes(line, 2, 2 + s.length, got), s).toBe(ok);
      const viaString = newBlockEvent();
      expect(parseRwbs(s, viaString), s).toBe(ok);
      if (ok) {
        expect([got.dir, got.flush, got.fua], s).toEqual([want.dir, want.flush, want.fua]);
        expect([viaString.dir, viaString.flush, viaString.fua], s).toEqual([want.dir, want.flush, want.fua]);
      }
    }
    expect(parseRwbs("\u0157", newBlockEvent())).toBe(false);
  });
});
