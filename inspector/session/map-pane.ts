// The host-cluster map pane: the map folded into the pane's cells, each marked when a cluster in it changed
// since the command began (wins) or when the request in view touched one; and the map itself, kept per position
// (key) and image, built at once or, for a face that defers it, in steps between keys.
import { buildHostMap, foldMap, hostMapSteps, HOST_KIND_CHARS, HOST_KIND_NAMES, type HostMap } from "./cluster-map.js";
import type { ImageView } from "../../engine/image/image-view.js";
import type { PaneView, Row, Tone } from "./view-models.js";

export interface MapView extends PaneView {
  /** Per row, per character: how to highlight it. */
  tones: (Tone | undefined)[][];
  legend: string;
}

export function mapView(m: HostMap, prev: HostMap | null | undefined, touched: Set<number>, width: number, height: number, stale: boolean): MapView {
  const w = Math.max(8, width);
  const h = Math.max(1, height);
  const { kinds, perCell } = foldMap(m, w * h);
  const rows: Row[] = [];
  const tones: (Tone | undefined)[][] = [];
  // Per cell: 2 a cluster changed, 1 a touched one. One pass over the clusters and one over the touched ones,
  // not a set lookup per cluster (a million of them).
  const cellTone = new Uint8Array(kinds.length);
  if (prev && prev !== m)
    for (let c = 0; c < m.kinds.length; c++) if (c >= prev.kinds.length || prev.kinds[c] !== m.kinds[c]) cellTone[Math.floor(c / perCell)] = 2;
  for (const c of touched) {
    const i = Math.floor(c / perCell);
    if (c < m.kinds.length && !cellTone[i]) cellTone[i] = 1;
  }
  for (let r = 0; r * w < kinds.length; r++) {
    let text = "";
    const t: (Tone | undefined)[] = [];
    for (let i = r * w; i < Math.min(kinds.length, (r + 1) * w); i++) {
      text += HOST_KIND_CHARS[kinds[i]!];
      t.push(cellTone[i] === 2 ? "changed" : cellTone[i] === 1 ? "current" : undefined);
    }
    rows.push({ key: `map${r}`, text });
    tones.push(t);
  }
  const frag = m.allocated ? `${((100 * m.fragmented) / m.allocated).toFixed(1)}%` : "-";
  const used = [...m.counts].map((n, k) => (n && k ? `${HOST_KIND_CHARS[k]} ${HOST_KIND_NAMES[k]} ${n}` : "")).filter(Boolean);
  return {
    title: `Host clusters: ${m.clusters} x ${m.clusterSize / 1024}K${perCell > 1 ? `, ${perCell}/cell` : ""}, fragmented ${frag}${m.truncated ? " (first part)" : ""}${stale ? " (updating)" : ""}`,
    summary: `${m.clusters} clusters, ${m.counts[0]} free, fragmented ${frag}`,
    rows,
    tones,
    legend: `${used.join(", ")}${m.counts[0] ? `, . free ${m.counts[0]}` : ""}`,
  };
}

/** The host map of the last position it was built for, and a build in steps in progress. */
export class HostMapCache {
  /** Show the last map when the position moved, until step() builds the new one (the TUI). */
  defer = false;
  private built: { key: string; img: unknown; map: HostMap | null } | null = null;
  private build: { key: string; img: unknown; steps: Generator<void, HostMap, void> } | null = null;

  /** The map for `key`: built now unless deferring and an older one exists for this image. */
  get(img: ImageView | null, key: string): HostMap | null {
    const fresh = this.built?.key === key && this.built.img === img;
    if (!fresh && !(this.defer && this.built?.img === img && this.built.map)) this.built = { key, img, map: img ? buildHostMap(img) : null };
    return this.built!.map;
  }

  /** The map if it is the one for `key`, else null. */
  current(img: ImageView | null, key: string): HostMap | null {
    return this.built && this.built.key === key && this.built.img === img ? this.built.map : null;
  }

  stale(img: ImageView | null, key: string): boolean {
    return this.built !== null && (this.built.key !== key || this.built.img !== img);
  }

  /** Goes on building the map for `key` for about `budgetMs`; true once built. Starts over if `key` moved. */
  step(img: ImageView | null, key: string, budgetMs: number): boolean {
    if (!img) {
      this.built = { key, img, map: null };
      this.build = null;
      return true;
    }
    if (this.build?.key !== key || this.build.img !== img) this.build = { key, img, steps: hostMapSteps(img) };
    const t0 = performance.now();
    for (;;) {
      const r = this.build.steps.next();
      if (r.done) {
        this.built = { key, img, map: r.value };
        this.build = null;
        return true;
      }
      if (performance.now() - t0 > budgetMs) return false;
    }
  }

  cancel(): void {
    this.build = null;
  }
}
