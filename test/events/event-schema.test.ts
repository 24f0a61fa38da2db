// The event schema is the one table of event kinds: every kind once, counters sized from it, QEMU's names as the
// installed qemu-io knows them, and the three renderings (QEMU line, text line, TUI words) read from its rows.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CACHE_L2, EventKind } from "../../engine/events/event-kind.js";
import { EVENT_KIND_COUNT, EVENT_NAMES, EVENT_SCHEMA, eventDetail, eventFields, isQemuTraced, qemuLine } from "../../engine/events/event-schema.js";
import { eventArgs } from "../../engine/events/event-args.js";
import type { EngineEvent } from "../../engine/events/recorder.js";

const ev = (kind: EventKind, a = 0, b = 0, c = 0, more: Partial<EngineEvent> = {}): EngineEvent => ({ seq: 1, kind, request: 3, node: 0, cache: -1, slot: -1, a, b, c, d: 0, ...more });

describe("event schema", () => {
  it("has each kind once, numbered 1..N, so counters indexed by kind have EVENT_KIND_COUNT slots", () => {
    const kinds = EVENT_SCHEMA.map((s) => s.kind as number).sort((x, y) => x - y);
    expect(kinds).toEqual(Array.from({ length: kinds.length }, (_, i) => i + 1));
    expect(EVENT_KIND_COUNT).toBe(kinds.length + 1);
    expect(new Set(EVENT_SCHEMA.map((s) => s.name)).size).toBe(EVENT_SCHEMA.length);
    for (const s of EVENT_SCHEMA) expect(s.fields.length).toBeLessThanOrEqual(3);
  });

  it("QEMU-traced means a qcow2_ trace-event name, whatever the enum order", () => {
    for (const s of EVENT_SCHEMA) expect(isQemuTraced(s.kind)).toBe(s.name.startsWith("qcow2_"));
    expect(isQemuTraced(EventKind.CacheMiss)).toBe(false);
  });

  const hasQemuIo = spawnSync("qemu-io", ["--version"]).status === 0;
  it.skipIf(!hasQemuIo)("every QEMU-traced name is a trace event of the installed qemu-io", () => {
    const known = new Set(spawnSync("qemu-io", ["--trace", "help"], { encoding: "utf8" }).stdout.split("\n").map((l) => l.trim()));
    const ours = EVENT_SCHEMA.filter((s) => s.qemu).map((s) => s.name);
    expect(ours.filter((n) => !known.has(n))).toEqual([]);
  });

  it("renders QEMU's line, our line, the JSON args and the TUI words from one row", () => {
    const get = ev(EventKind.CacheGet, 0x50000, 1, 0, { cache: CACHE_L2 });
    expect(qemuLine(get)).toBe("qcow2_cache_get co co3 is_l2_cache 1 offset 0x50000 read_from_disk 1");
    expect(eventArgs(get)).toEqual({ table_offset: 0x50000, read_from_disk: 1 });
    expect(eventDetail(get)).toBe("L2 cache get 0x50000");
    const alloc = ev(EventKind.HandleAlloc, 0x10000, -1, 0x10000);
    expect(qemuLine(alloc)).toBe("qcow2_handle_alloc co co3 guest_offset 0x10000 host_offset 0xffffffffffffffff bytes 0x10000");
    expect(eventDetail(alloc)).toBe("guest 0x10000 host - 64K");
    expect(qemuLine(ev(EventKind.L2AllocateDone, 2, 0, 0, { node: 1 }))).toBe("qcow2_l2_allocate_done bs bs1 l1_index 2 ret 0");
    expect(qemuLine(ev(EventKind.CacheGetReplaceEntry, 0x30000, 0x50000, 0, { cache: 0, slot: 4 }))).toBe("qcow2_cache_get_replace_entry co co3 is_l2_cache 0 index 4");
    const upd = ev(EventKind.RefcountUpdate, 7, 0, 1);
    expect(qemuLine(upd)).toBeNull();
    expect(eventFields(upd)).toBe("cluster 7 refcount 0 -> 1");
    expect(eventDetail(upd)).toBe("refcount[7] 0 -> 1");
    expect(EVENT_NAMES[EventKind.RefcountUpdate]).toBe("refcount_update");
  });
});
