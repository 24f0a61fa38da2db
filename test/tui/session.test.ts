// The command language shared by the REPL and the TUI's `:` line, over the tour trace (time travel) and over
// the bare tour image (qemu-io commands).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openImageSession } from "../../inspector/session/open-session.js";
import { resolveCommand } from "../../inspector/session/command-table.js";
import { ROOT, TOUR_IMAGE, tourImage, tourTrace, type Captured } from "./helpers.js";

let open: Captured[] = [];
const track = (c: Captured) => (open.push(c), c);
afterEach(() => {
  for (const c of open) c.session.close();
  open = [];
});

const position = (c: Captured) => c.session.timeline!.position();

describe("command names", () => {
  it("resolves exact names, aliases and unique prefixes, and says when a prefix is ambiguous", () => {
    expect(resolveCommand("cont").spec?.name).toBe("continue");
    expect(resolveCommand("c").spec?.name).toBe("continue");
    expect(resolveCommand("rn").spec?.name).toBe("reverse-next");
    expect(resolveCommand("reverse-c").spec?.name).toBe("reverse-continue");
    expect(resolveCommand("x/4xw").spec?.name).toBe("x");
    expect(resolveCommand("re").error).toMatch(/^Ambiguous command "re": read, readv, reverse-step/);
    expect(resolveCommand("frobnicate").error).toBe('Undefined command: "frobnicate".  Try "help".');
  });
});

describe("a trace session", () => {
  it("steps by request and by event, forwards and back, and tells where it stands", () => {
    const c = track(tourTrace());
    expect(c.run("next")).toEqual(["Request 1 done.", "request 1/63 read 0x0 +48K [pattern 0x5a] (tour.qemu-io:1) [done]"]);
    expect(position(c)).toEqual({ request: 1, event: 0 });
    const stepped = c.run("s");
    expect(position(c)).toEqual({ request: 1, event: 1 });
    expect(stepped[0]).toMatch(/^Stepped: #\d+ qcow2_cache_get {2}L2 cache get 0x40000$/);
    c.run("step 2");
    expect(position(c)).toEqual({ request: 1, event: 3 });
    c.run("rs");
    expect(position(c)).toEqual({ request: 1, event: 2 });
    c.run("rn");
    expect(position(c)).toEqual({ request: 1, event: 0 });
    c.run("n 5");
    expect(position(c)).toEqual({ request: 6, event: 0 });
    expect(c.run("where")[1]).toBe("request 6/63 read 0x2000000 +64K [pattern 0x5c] (tour.qemu-io:6) [done]");
  });

  it("repeats the last command on a blank line, but not break", () => {
    const c = track(tourTrace());
    c.run("n");
    c.run("");
    c.run("");
    expect(position(c).request).toBe(3);
    c.run("break request 40");
    const before = c.session.breakpoints().length;
    c.run("");
    expect(c.session.breakpoints().length).toBe(before);
  });

  it("stops a continue on a cache miss (cache_miss is the engine's qcow2_cache_get_replace_entry) and goes back to it", () => {
    const c = track(tourTrace());
    expect(c.run("break cache_miss")).toEqual(["Breakpoint 1: event qcow2_cache_get_replace_entry"]);
    expect(c.run("c")[0]).toMatch(/^Breakpoint 1: #1 qcow2_cache_get_replace_entry {2}L2 miss: slot 0 \(empty\) for 0x40000$/);
    expect(position(c)).toEqual({ request: 0, event: 2 });
    expect(c.run("c")[0]).toMatch(/^Breakpoint 1: #\d+ qcow2_cache_get_replace_entry {2}refcount miss: slot 0 \(empty\) for 0x20000$/);
    const second = position(c);
    expect(second.request).toBe(7);
    expect(c.run("info break")).toEqual(["Num     Type           Enb Hits  What", "1       breakpoint     y   2     event qcow2_cache_get_replace_entry"]);
    c.run("next 10");
    c.run("rc");
    expect(position(c)).toEqual(second);
    c.run("delete");
    expect(c.run("info break")).toEqual(["No breakpoints or watchpoints."]);
    expect(c.run("c")[0]).toBe("The trace ended: 63 requests replayed.");
    expect(c.run("n")[0]).toBe("The trace ended: 63 requests replayed.");
  });

  it("stops at a request breakpoint before the request runs, and on a watched refcount", () => {
    const c = track(tourTrace());
    c.run("break request 12");
    c.run("c");
    expect(position(c)).toEqual({ request: 11, event: 0 });
    // The panes look at the request the breakpoint is about, not the one before it.
    expect(c.run("where")[1]).toBe("request 12/63 read 0x21000 +512B [pattern 0x63] (tour.qemu-io:12) [next]");
    c.run("delete 1");
    // The file has 9 clusters; request 15 (192K at 4M) is the next to allocate, at the end of the file.
    expect(c.session.views.hostMap()!.clusters).toBe(9);
    expect(c.run("watch refcount 9")).toEqual(["Watchpoint 2: watch refcount of host cluster 9"]);
    expect(c.run("c")[0]).toBe("Watchpoint 2: refcount of host cluster 9: 0 -> 1");
    expect(position(c).request).toBe(14);
    // Inside a request the image is as of the event where we stopped (issue 14), not the request's start.
    expect(c.run("info refcount 9")[0]).toBe("refcount of host cluster 9 (offset 0x90000) = 1");
    c.run("rs");
    expect(c.run("info refcount 9")[0]).toBe("refcount of host cluster 9 (offset 0x90000) = 0");
    c.run("n");
    expect(c.run("info refcount 9")[0]).toBe("refcount of host cluster 9 (offset 0x90000) = 1");
    // A cluster watch also sees the L2 entry that starts pointing at it.
    c.run("delete");
    c.run("run-to 14");
    expect(c.run("watch cluster 10")).toEqual(["Watchpoint 3: watch host cluster 10 (refcount, L2 mapping)"]);
    expect(c.run("c")[0]).toMatch(/^Watchpoint 3: refcount of host cluster 10: 0 -> 1/);
  });

  it("examines host bytes as big-endian words, and a bare x goes on after the last one", () => {
    const c = track(tourTrace());
    const file = fs.readFileSync(TOUR_IMAGE);
    const word = (o: number) => "0x" + file.subarray(o, o + 8).toString("hex");
    expect(c.run("x/4g 0")).toEqual([`0x00000000:\t${word(0)}\t${word(8)}`, `0x00000010:\t${word(16)}\t${word(24)}`]);
    expect(c.run("")).toEqual([`0x00000020:\t${word(32)}\t${word(40)}`, `0x00000030:\t${word(48)}\t${word(56)}`]);
    expect(c.run("x/2xw 0x30000")).toEqual([`0x00030000:\t0x${file.subarray(0x30000, 0x30004).toString("hex")}\t0x${file.subarray(0x30004, 0x30008).toString("hex")}`]);
    expect(c.run("x/1dg 0x10")[0]).toBe("0x00000010:\t16");
    expect(c.run("x/8g 3")).toEqual(["Offset 0x3 is not aligned to 8 bytes."]);
  });

  it("lists the L1 and L2 tables as qemu-img map sees the image", () => {
    const c = track(tourTrace());
    const map = JSON.parse(fs.readFileSync(TOUR_IMAGE.replace("images/tour.qcow2", "goldens/tour/map.json"), "utf8")) as { start: number; length: number; data: boolean; offset?: number }[];
    const l2 = c.run("info l2 0").join("\n");
    for (const e of map.filter((m) => m.data && m.offset !== undefined))
      for (let g = e.start; g < e.start + e.length; g += 65536) expect(l2).toContain(`guest 0x${g.toString(16)}: -> 0x${(e.offset! + g - e.start).toString(16)} C`);
    expect(c.run("info l1")).toEqual(["L1 table at 0x30000, 1 entries (each maps 512 MiB):", "  L1[0] = 0x40000 copied"]);
    expect(c.run("info l2 5")).toEqual(["L1 index 5 is past the L1 table (1 entries)."]);
  });

  it("reports bad arguments and refusals of the timeline as messages, not failures", () => {
    const c = track(tourTrace());
    expect(c.run("break qcow2_frob")[0]).toMatch(/^No event or breakpoint kind "qcow2_frob"/);
    expect(c.run("run-to 99")).toEqual(["Request 99 is past the end of the trace (63 requests)."]);
    expect(c.run("break cache_hit")[0]).toMatch(/^The engine does not emit cache_hit/);
    expect(c.run("watch l2 x")).toEqual(['Invalid L1 index: "x".']);
    expect(c.run("info frob")).toEqual(['Undefined info command: "frob".  Try "help info".']);
    expect(c.run("delete 7")).toEqual(["No breakpoint number 7."]);
    expect(position(c)).toEqual({ request: 0, event: 0 });
  });

  it("refuses qemu-io commands that would change the image behind the timeline", () => {
    const c = track(tourTrace());
    expect(c.run("write 0 4k")[0]).toMatch(/^"write" would change the image behind the timeline's back/);
    expect(position(c)).toEqual({ request: 0, event: 0 });
  });

  it("never disturbs what it shows: panes and info commands leave the caches as a plain replay has them", () => {
    const a = track(tourTrace());
    const b = track(tourTrace());
    for (const c of [a, b]) c.run("run-to 30");
    const v = a.session.views;
    v.cachePane("l2");
    v.tablesPane(20);
    v.mapPane(60, 4);
    v.countersPane();
    v.requestPane();
    for (const cmd of ["info cache", "info l2 0", "info refcount 9", "info header", "x/8g 0x40000", "s", "s", "rs", "rs"]) a.run(cmd);
    for (const c of [a, b]) c.run("next 5");
    const ia = a.session.image()!;
    const ib = b.session.image()!;
    expect(ia.l2Cache.view()).toEqual(ib.l2Cache.view());
    expect(ia.refcountCache.view()).toEqual(ib.refcountCache.view());
    expect([ia.l2Cache.hits, ia.l2Cache.misses]).toEqual([ib.l2Cache.hits, ib.l2Cache.misses]);
    expect(a.session.views.counterLines()).toEqual(b.session.views.counterLines());
  });
});

describe("an image session", () => {
  it("runs qemu-io commands on a shadow of the image with qemu-io's output, and the debugger's inspection commands", () => {
    const c = track(tourImage());
    const before = fs.readFileSync(TOUR_IMAGE);
    expect(c.run("write -P 0x33 1M 4k")[0]).toBe("wrote 4096/4096 bytes at offset 1048576");
    expect(c.run("read -P 0x33 1M 4k")[0]).toBe("read 4096/4096 bytes at offset 1048576");
    expect(c.run("read -P 0x34 1M 4k")[0]).toBe("Pattern verification failed at offset 1048576, 4096 bytes");
    expect(c.run("frobnicate")).toEqual(['command "frobnicate" not found']);
    expect(c.run("info header")[0]).toMatch(/^v3, cluster 64K, virtual 64M, file /);
    expect(c.run("x/1g 0")).toEqual(["0x00000000:\t0x514649fb00000003"]);
    expect(c.run("step")[0]).toMatch(/^The program is not being run/);
    expect(c.run("info l2 0").join("\n")).toContain("L2[16] guest 0x100000: -> 0x70000 C");
    c.session.close();
    expect(fs.readFileSync(TOUR_IMAGE).equals(before)).toBe(true);
  });

  it("shows the last command's events in the request pane and marks the L2 entry it wrote", () => {
    const c = track(tourImage());
    c.run("write -P 1 2M 64k");
    const pane = c.session.views.requestPane();
    expect(pane.title).toMatch(/^Last command, \d+ events$/);
    expect(pane.rows[0]!.text).toBe("write -P 1 2M 64k");
    expect(pane.rows.some((r) => r.text.endsWith("l2_update  slot 0 entry 32 = 0x70000"))).toBe(true);
    const tables = c.session.views.tablesPane(5).rows;
    expect(tables.filter((r) => r.changed).map((r) => r.text)).toEqual(["L2[32] g 0x200000 -> 0x70000 C"]);
    expect(c.session.views.countersPane().rows.find((r) => r.key === "meta")!.text).toBe("metadata I/O 2 r + 0 w = 2.00 per guest I/O (1)");
  });

  it("lists snapshots as qemu-img snapshot -l does, and where their L1 tables are", () => {
    const image = path.join(ROOT, "samples/images/snapshots.qcow2");
    const lines: string[] = [];
    const session = openImageSession(image, { out: (l) => lines.push(l) });
    try {
      session.execute("info snapshots");
    } finally {
      session.close();
    }
    expect(lines[lines.length - 1]).toBe("L1 tables: 1 at 0x9000 (8 entries), 2 at 0xe000 (8 entries)");
    const qemu = spawnSync("qemu-img", ["snapshot", "-l", image], { encoding: "utf8" });
    if (qemu.status === 0) expect(lines.slice(0, -1)).toEqual(qemu.stdout.trimEnd().split("\n"));
    else expect(lines.slice(2, 4).map((l) => l.split(/\s+/).slice(0, 2).join(" "))).toEqual(["1 s1", "2 s2"]);
  });

  it("explains commands with help", () => {
    const c = track(tourImage());
    expect(c.run("help reverse-next")).toEqual(["reverse-next [N]", "  back one whole request", "  aliases: rn"]);
    const all = c.run("help").join("\n");
    for (const name of ["step", "reverse-continue", "watch", "x", "read", "discard"]) expect(all).toContain(name);
  });
});
