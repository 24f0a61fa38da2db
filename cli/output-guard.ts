// What every command with output files calls first: its outputs against the image's whole chain and any other
// file it reads (a trace), before anything is opened for writing. Temporary files of atomic outputs that were
// never committed are removed when the process exits.
import * as fs from "node:fs";
import { imageInputs } from "../engine/image/input-files.js";
import { pendingOutputs } from "../engine/storage/atomic-output.js";
import { refuseClashes, type NamedFile } from "../engine/storage/output-guard.js";

let cleanupHooked = false;

/** `outputs` maps a flag name ("--save-as") to its path (undefined when the flag was not given). */
export function guardOutputs(outputs: Record<string, string | undefined>, image: string | undefined, otherInputs: NamedFile[] = []): void {
  const outs = Object.entries(outputs)
    .filter((e): e is [string, string] => typeof e[1] === "string")
    .map(([role, p]) => ({ role, path: p }));
  if (!cleanupHooked) {
    cleanupHooked = true;
    process.once("exit", () => {
      for (const p of pendingOutputs()) fs.rmSync(p, { force: true });
    });
  }
  if (!outs.length) return;
  const inputs = [...(image !== undefined ? imageInputs(image) : []), ...otherInputs];
  refuseClashes(outs, inputs);
}
