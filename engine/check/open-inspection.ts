// Opening an image for inspection (map, export, the library's open): read-only, with its whole backing chain, and
// a recorder that only counts. Apart from info.ts, whose `info` needs no table and so does not load the engine.
import { EventRecorder } from "../events/recorder.js";
import type { BlockNode } from "../image/block-node.js";
import type { EngineConfig } from "../image/engine-config.js";
import { openNode, Qcow2Image } from "../image/qcow2-image.js";
import { checkFormat } from "./info.js";

/** A recorder that only counts: inspection commands do not keep events. */
export function quietEvents(): EventRecorder {
  const r = new EventRecorder(16);
  r.enabled = false;
  return r;
}

/**
 * Opens an image and its whole backing chain read-only, as qemu-img map and convert do. `format` overrides the
 * probe for the top image; backing files use their header's format name or are probed. `config` adjusts the
 * engine (cache sizes) for the whole chain.
 */
export function openForInspection(filename: string, format?: string, config: Partial<EngineConfig> = {}): BlockNode {
  const fmt = checkFormat(filename, format);
  if (fmt === "raw") return openNode(filename, "raw", {});
  return Qcow2Image.open(filename, { allowCorrupt: true, events: quietEvents(), config: { wholeL2Tables: true, ...config } });
}
