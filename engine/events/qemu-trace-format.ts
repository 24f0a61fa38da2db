// Formats recorded events as QEMU's `--trace 'qcow2*'` log lines, with pointers replaced by stable ids
// (co<request>, bs<node>), so a plain diff against QEMU's (equally normalised) trace works.
import { EventKind, EVENT_NAMES, isQemuTraced, ADD_TASK_WRITE, ADD_TASK_COMPRESSED } from "./event-kind.js";
import type { EngineEvent } from "./recorder.js";
import { hex } from "../units/size-text.js";


export function formatQemuEvent(e: EngineEvent): string | null {
  if (!isQemuTraced(e.kind)) return null;
  const name = EVENT_NAMES[e.kind]!;
  const co = `co co${e.request}`;
  const bs = `bs bs${e.node}`;
  switch (e.kind) {
    case EventKind.WritevStartReq:
    case EventKind.PwriteZeroesStartReq:
    case EventKind.PwriteZeroes:
      return `${name} ${co} offset ${hex(e.a)} bytes ${e.b}`;
    case EventKind.AllocClustersOffset:
      return `${name} ${co} offset ${hex(e.a)} bytes ${e.b}`;
    case EventKind.WritevDoneReq:
      return `${name} ${co} ret ${e.a}`;
    case EventKind.WritevStartPart:
    case EventKind.ClusterAllocPhys:
      return `${name} ${co}`;
    case EventKind.WritevDonePart:
      return `${name} ${co} cur_bytes ${e.a}`;
    case EventKind.WritevData:
      return `${name} ${co} offset ${hex(e.a)}`;
    case EventKind.SkipCow:
      return `${name} ${co} offset ${hex(e.a)} nb_clusters ${e.b}`;
    case EventKind.ClusterLinkL2:
      return `${name} ${co} nb_clusters ${e.a}`;
    case EventKind.HandleCopied:
    case EventKind.HandleAlloc:
      return `${name} ${co} guest_offset ${hex(e.a)} host_offset ${hex(e.b)} bytes ${hex(e.c)}`;
    case EventKind.DoAllocClustersOffset:
      return `${name} ${co} guest_offset ${hex(e.a)} host_offset ${hex(e.b)} nb_clusters ${e.c}`;
    case EventKind.L2Allocate:
    case EventKind.L2AllocateGetEmpty:
    case EventKind.L2AllocateWriteL2:
    case EventKind.L2AllocateWriteL1:
      return `${name} ${bs} l1_index ${e.a}`;
    case EventKind.L2AllocateDone:
      return `${name} ${bs} l1_index ${e.a} ret ${e.b}`;
    case EventKind.CacheGet:
      return `${name} ${co} is_l2_cache ${e.cache} offset ${hex(e.a)} read_from_disk ${e.b}`;
    case EventKind.CacheGetReplaceEntry:
    case EventKind.CacheGetRead:
    case EventKind.CacheGetDone:
    case EventKind.CacheEntryFlush:
      return `${name} ${co} is_l2_cache ${e.cache} index ${e.slot}`;
    case EventKind.CacheFlush:
      return `${name} ${co} is_l2_cache ${e.cache}`;
    case EventKind.AddTask: {
      const write = e.cache === ADD_TASK_WRITE;
      const type = e.cache === ADD_TASK_COMPRESSED ? 5 : e.slot;
      const host = e.cache === ADD_TASK_COMPRESSED ? ((BigInt(e.slot >>> 0) << 32n) | BigInt(e.a)).toString() : String(e.a);
      const pool = e.d % 2 === 1 ? `pool${e.request}` : "(nil)";
      return `${name} ${co} ${bs} pool ${pool}: ${write ? "write" : "read"}: cluster_type ${type} file_cluster_offset ${host} offset ${e.b} bytes ${e.c} qiov qiov qiov_offset ${Math.floor(e.d / 2)}`;
    }
  }
  return null;
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
