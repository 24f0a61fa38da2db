// Every host file a command reads through an image: the image, each file of its backing chain and external data
// files. Output paths are held against this list (engine/storage/output-guard.ts) before anything is written.
import type { NamedFile } from "../storage/output-guard.js";
import type { BlockNode } from "./block-node.js";
import { openNode, Qcow2Image } from "./qcow2-image.js";
import { EventRecorder } from "../events/recorder.js";

/** The files of an open chain. */
export function chainInputs(top: BlockNode): NamedFile[] {
  const out: NamedFile[] = [];
  for (let node: BlockNode | null = top; node; node = node.backing) {
    out.push({ role: node === top ? "the image" : "a backing file of the image", path: node.filename });
    if (node instanceof Qcow2Image && node.hasDataFile) out.push({ role: "the image's data file", path: node.dataFile.name });
  }
  return out;
}

/**
 * The files of `image`'s chain, opened read-only for the purpose. When the chain cannot be opened the image alone
 * is returned: the command itself will then fail on it before writing anything.
 */
export function imageInputs(image: string): NamedFile[] {
  const quiet = new EventRecorder(16);
  quiet.enabled = false;
  let top: BlockNode;
  try {
    top = openNode(image, undefined, { allowCorrupt: true, events: quiet });
  } catch {
    return [{ role: "the image", path: image }];
  }
  try {
    return chainInputs(top);
  } finally {
    top.close();
  }
}
