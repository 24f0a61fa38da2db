// `npm run build` and `prepare`: the one list of build steps (tsc, the bundle, the native part, the man page), each
// run with this Node, so prepare needs no `npm run` under the global config npm gives it when installing from git.
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const TSC = path.join(root, "node_modules", "typescript", "bin", "tsc");

export function build() {
  const node = (...args) => execFileSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  node(TSC, "-p", "tsconfig.json");
  for (const step of ["bundle.mjs", "build-native.mjs", "make-man.mjs"]) node(path.join(root, "scripts", step));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    build();
  } catch (e) {
    // The failing step has printed its own error (stdio is inherited).
    process.exit(typeof e?.status === "number" && e.status > 0 ? e.status : 1);
  }
}
