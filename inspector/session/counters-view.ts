// The counters pane: cache hit rates, metadata I/O per guest I/O, COW bytes, syncs and allocations up to the
// current position, and the modelled latency of the request in view (engine/replay/cost-model.ts; the session's
// --profile, NVMe by default).
import type { EventRecorder } from "../../engine/events/recorder.js";
import { CAUSE_NAMES, CostModel, eventColumns } from "../../engine/replay/cost-model.js";
import { builtinProfile, DEFAULT_PROFILE, type DeviceProfile } from "../../engine/replay/device-profiles.js";
import { formatUs, hitRate } from "../../engine/replay/human-units.js";
import type { CacheMode } from "../../engine/image/engine-config.js";
import { Sum } from "./event-index.js";
import { sizeWords } from "./header-view.js";
import type { PaneView, Row } from "./view-models.js";

const DEFAULT = builtinProfile(DEFAULT_PROFILE)!;
const pct = hitRate;

export interface RequestCost {
  us: number;
  /** The two largest causes, "l2-miss 120 µs". */
  top: string[];
}

/**
 * Modelled latency of events [first, end): a fresh model each time, so the answer depends on the request only
 * (with a calibrated profile the host page cache is taken as cold: what the request costs at worst).
 */
export function requestCost(rec: EventRecorder, first: number, end: number, write: boolean, cacheMode: CacheMode, profile: DeviceProfile = DEFAULT): RequestCost {
  const model = new CostModel(profile, { cacheMode });
  const us = model.requestCost(eventColumns(rec), first, end, write);
  const top = [...model.causes]
    .map((v, i) => [v, i] as const)
    .filter(([v]) => v > 0)
    .sort((a, b) => b[0] - a[0])
    .slice(0, 2)
    .map(([v, i]) => `${CAUSE_NAMES[i]} ${formatUs(v)}`);
  return { us, top };
}

/** NaN (not known without the event log) prints as "?". */
const n = (v: number) => (Number.isNaN(v) ? "?" : String(v));
const bytes = (v: number) => (Number.isNaN(v) ? "?" : sizeWords(v));

export function countersRows(s: Float64Array, guestIos: number, cost: RequestCost | null, costLabel: string): Row[] {
  const meta = s[Sum.MetaReads]! + s[Sum.MetaWrites]!;
  const rows: Row[] = [
    { key: "l2", text: `L2 hit ${pct(s[Sum.L2Hit]!, s[Sum.L2Miss]!)} (${s[Sum.L2Hit]}/${s[Sum.L2Hit]! + s[Sum.L2Miss]!}), refcount hit ${pct(s[Sum.RcHit]!, s[Sum.RcMiss]!)}` },
    { key: "meta", text: `metadata I/O ${s[Sum.MetaReads]} r + ${s[Sum.MetaWrites]} w = ${guestIos ? (meta / guestIos).toFixed(2) : "-"} per guest I/O (${guestIos})` },
    { key: "wb", text: `write-backs L2 ${s[Sum.L2Writeback]}, refcount ${s[Sum.RcWriteback]}; flushes ${s[Sum.FlushToOs]}, syncs ${s[Sum.Syncs]}` },
    { key: "cow", text: `COW ${bytes(s[Sum.CowBytes]!)} in ${s[Sum.CowOps]}; alloc ${n(s[Sum.ClustersAllocated]!)} cl, freed ${n(s[Sum.ClustersFreed]!)}, L2 tables ${s[Sum.L2Allocs]}` },
  ];
  if (cost) rows.push({ key: "latency", text: `latency ${costLabel}: ${cost.us ? formatUs(cost.us) : "0 µs"} modelled${cost.top.length ? ` (${cost.top.join(", ")})` : ""}` });
  return rows;
}

export function countersView(rows: Row[], before: Map<string, string> | null): PaneView {
  for (const row of rows) row.changed = before !== null && before.has(row.key) && before.get(row.key) !== row.text;
  return { title: "Counters", summary: rows[0]?.text ?? "", rows };
}
