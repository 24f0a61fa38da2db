// The gate decides which backing files may be opened (after imago's): names are resolved against the overlay's
// directory; loops, chains deeper than the limit, `json:`/protocol pseudo-names and missing files are refused
// with a clear message instead of hanging or following them.
import * as fs from "node:fs";
import * as path from "node:path";

export class BackingGateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackingGateError";
  }
}

export class BackingGate {
  private seen = new Set<string>();

  constructor(readonly maxDepth = 64) {}

  /** Registers the top image so a backing file that points back to it is caught as a loop. */
  enter(file: string): void {
    const real = realpathOrSelf(file);
    if (this.seen.has(real)) throw new BackingGateError(`${file}: backing chain loops back to ${file}`);
    this.seen.add(real);
  }

  /** Resolves and vets a backing file name found in `overlay` at depth `depth` (1 = first backing). */
  resolve(overlay: string, name: string, depth: number): string {
    if (name.startsWith("json:")) throw new BackingGateError(`${overlay}: backing file name uses the json: pseudo-protocol, which qcowdbg does not open: ${name.slice(0, 80)}`);
    const proto = /^([a-z][a-z0-9+.-]*):/i.exec(name);
    if (proto && proto[1] !== "file" && !/^[a-z]:[\\/]/i.test(name))
      throw new BackingGateError(`${overlay}: backing file '${name}' uses protocol '${proto[1]}:', which qcowdbg does not open`);
    if (depth > this.maxDepth) throw new BackingGateError(`${overlay}: backing chain is deeper than ${this.maxDepth} images`);
    const plain = name.startsWith("file:") ? name.slice(5) : name;
    const resolved = path.isAbsolute(plain) ? plain : path.join(path.dirname(overlay), plain);
    if (!fs.existsSync(resolved)) throw new BackingGateError(`${overlay}: could not open backing file '${name}' (${resolved}): No such file or directory`);
    const real = realpathOrSelf(resolved);
    if (this.seen.has(real)) throw new BackingGateError(`${overlay}: backing file '${name}' loops back into the chain`);
    this.seen.add(real);
    return resolved;
  }
}

function realpathOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}
