// A read-write open repairs a dirty image first, as qcow2_do_open() does: lazy refcounts leave the refcounts stale
// until the image is closed cleanly, so QEMU runs its check with BDRV_FIX_ERRORS | BDRV_FIX_LEAKS before serving a
// request, prints the check's messages on stderr, and fails the open when errors remain. Without it, a write could
// allocate a cluster that is in use but counted free, and closing would clear the dirty bit over the damage.
// Not modelled: the check's own trace (QEMU reads the refcounts through its refcount block cache, so the cache is
// warm afterwards; here the image opens with empty caches, and its first refcount lookup is a miss).
import type { Storage } from "../storage/storage.js";
import { checkImage } from "./check.js";
import { RepairOverlay } from "./repair-overlay.js";

/** The open failed: QEMU's "Could not repair dirty image", or a repair qcowdbg does not model. */
export class DirtyRepairError extends Error {
  constructor(
    readonly filename: string,
    message: string,
  ) {
    super(message);
    this.name = "DirtyRepairError";
  }
}

/**
 * Repairs the dirty image on `storage` in place (the user's file under --write, else the shadow layer), sending
 * QEMU's stderr lines to `onMessage` ("report" lines carry the program's prefix there), and clears the dirty bit.
 * The repair is decided in memory first: nothing is written unless it completes.
 */
export function repairDirtyImage(storage: Storage, filename: string, onMessage: (line: string) => void): void {
  const overlay = new RepairOverlay(storage);
  let partial = "";
  const report = checkImage(overlay, filename, {
    fix: "all",
    onMessage: (line, kind) => {
      if (kind === "partial") partial += line;
      else {
        onMessage(`${partial}${kind === "report" ? "qemu-io: " : ""}${line}`);
        partial = "";
      }
    },
  });
  if (partial) onMessage(partial);
  if (report.refused)
    throw new DirtyRepairError(filename, `${filename}: the image is dirty and QEMU repairs it when opening it read-write, but this repair is not modelled by qcowdbg (${report.failed ?? "refused"}); open it read-only or run 'qemu-img check -r all' first`);
  if (report.failed !== undefined || report.result.checkErrors)
    throw new DirtyRepairError(filename, `Could not repair dirty image: ${report.failed ?? "Input/output error"}`);
  overlay.applyTo(storage);
}
