// Formats recorded events as QEMU's `--trace 'qcow2*'` log lines, with pointers replaced by stable ids
// (co<request>, bs<node>), so a plain diff against QEMU's (equally normalised) trace works.
import type { EngineEvent } from "./recorder.js";
import { qemuLine } from "./event-schema.js";

/** QEMU's trace line for `e`, or null for kinds QEMU does not trace (the line is built from event-schema.ts). */
export function formatQemuEvent(e: EngineEvent): string | null {
  return qemuLine(e);
}

/**
 * Normalises a trace line (QEMU's or ours) for comparison: QEMU recycles coroutines from a pool, so the same
 * `co` pointer serves unrelated requests and cannot be matched to ours; it becomes `co *` (the line order carries
 * the request structure). `bs` pointers name image nodes and become ids by first appearance.
 */
export function normaliseQemuTraceLine(line: string, ids: Map<string, string>): string {
  let out = line.replace(/^\d+@\d+\.\d+:/, "");
  out = out.replace(/\b(co|bs|pool|qiov) (0x[0-9a-f]+|\(nil\)|co\d+|bs\d+|pool\d+|qiov)/g, (_m, role: string, ptr: string) => {
    // A request's AIO task pool is allocated per request and its address reused: only "has one" is compared.
    if (role === "pool") return ptr === "(nil)" ? "pool (nil)" : "pool *";
    if (role === "qiov") return "qiov *";
    if (role === "co") return "co *";
    const key = `${role}:${ptr}`;
    let id = ids.get(key);
    if (!id) {
      let n = 0;
      for (const k of ids.keys()) if (k.startsWith(role + ":")) n++;
      id = `${role}${n}`;
      ids.set(key, id);
    }
    return `${role} ${id}`;
  });
  return out.trim();
}
