// bdrv_reopen of a qcow2 node and its backing chain at a request boundary: the node is flushed, qcow2 re-creates
// its metadata caches under the new options (qcow2_reopen_prepare), a node going read-only is flushed again and
// marked clean; then each qcow2 node of the backing chain re-creates its caches under its own, unchanged options.
// A refusal (OptionsError, in QEMU's words) leaves the options and caches as they were, but not what was flushed.
import { usesODirect, type EngineConfig } from "./engine-config.js";
import { isQcow2Node } from "./block-node.js";
import type { Qcow2Image } from "./qcow2-image.js";
import { OptionsError, markCleanRewritingHeader, prepareOptions, updateOptions } from "./update-options.js";
import type { ReopenErrors } from "./reopen-options.js";

export interface ReopenRequest {
  config: EngineConfig;
  readOnly: boolean;
  errors?: ReopenErrors;
}

export function reopenImage(img: Qcow2Image, req: ReopenRequest): void {
  const errors = req.errors ?? {};
  // bdrv_reopen_prepare: bdrv_flush (nothing on a read-only node); the options are read after it.
  img.flush();
  if (errors.early) throw new OptionsError(errors.early.join("\n"));
  if (errors.readOnly) throw new OptionsError(errors.readOnly);
  if (errors.parse) throw new OptionsError(errors.parse.join("\n"));
  const commit = prepareOptions(img, req.config, errors.late);
  if (req.readOnly) {
    // "We need to write out any unwritten data if we reopen read-only."
    img.flush();
    if (!img.rt.readOnly) markCleanRewritingHeader(img);
  }
  if (errors.generic) throw new OptionsError(errors.generic);
  // A reopen that turns O_DIRECT on flips it on the open descriptor without probing (4 KiB); one that keeps it on
  // probes the alignment again, as at open (512 B on the same file system; seen with strace, write fuzzer 70279).
  if (usesODirect(req.config.cacheMode)) img.rt.directIoAlign = usesODirect(img.config.cacheMode) ? 512 : 4096;
  commit();
  img.rt.readOnly = req.readOnly;
  for (let b = img.backing; isQcow2Node(b); b = b.backing) updateOptions(b, { ...b.config });
}
