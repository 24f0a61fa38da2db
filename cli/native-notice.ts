// The native part (native/posix.cc, lseek SEEK_DATA/SEEK_HOLE) tells holes in host files from data, as
// qemu-img does. Without it, a sparse file's holes are mapped and exported as data, so commands whose answers
// depend on it say so once on stderr - only when a file they read really has holes, where the answers differ.
import * as fs from "node:fs";
import { seekHoleAvailable } from "../engine/storage/seek-hole.js";

let said = false;

/** A note on stderr (once per process) when the addon is missing and one of `files` is sparse. */
export function noteIfHolesUnknown(command: string, files: string[]): void {
  if (said || seekHoleAvailable()) return;
  const sparse = files.find((f) => {
    try {
      const st = fs.statSync(f);
      return st.blocks * 512 < st.size;
    } catch {
      return false;
    }
  });
  if (!sparse) return;
  said = true;
  process.stderr.write(
    `qcowdbg: note: ${command}: ${sparse} has holes, but the native part that finds them is not built (needs a C++ compiler: npm run build); holes read as data here, where qemu-img reports zeros\n`,
  );
}
