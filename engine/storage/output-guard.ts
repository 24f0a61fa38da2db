// The one check every output path goes through before anything is opened for writing: an output that is (after
// links, by device and inode) one of the files the command reads, or another output of the same command, is
// refused, so `--save-as IMG`, `--events TRACE` or `--chrome-trace BACKING` can never truncate an input.
import * as fs from "node:fs";
import * as path from "node:path";

export interface NamedFile {
  /** What the file is to the command, for the message: "--save-as", "the image", "backing file", "the trace". */
  role: string;
  path: string;
}

export class OutputClashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputClashError";
  }
}

/** stat() follows symlinks, so a link to an input and a hard link to it both resolve to its inode. */
function identity(p: string): string | null {
  try {
    const st = fs.statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/**
 * Throws when an output is an input or two outputs are the same file. An output that does not exist yet can only
 * clash with another output (and inputs that cannot be stat'ed are left to the command, which will fail to read them anyway).
 * Standard output ("-") and character devices such as /dev/null are never a clash.
 */
export function refuseClashes(outputs: NamedFile[], inputs: NamedFile[]): void {
  const seen = new Map<string, NamedFile>();
  for (const i of inputs) {
    const id = identity(i.path);
    if (id && !seen.has(id)) seen.set(id, i);
  }
  for (const o of outputs) {
    if (o.path === "-") continue;
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(o.path);
    } catch {
      st = null;
    }
    if (st?.isCharacterDevice()) continue;
    // Two outputs naming one file that does not exist yet clash too: they are told apart by resolved path.
    const id = st ? `${st.dev}:${st.ino}` : `new:${futurePath(o.path)}`;
    const hit = seen.get(id);
    if (hit) {
      const what = hit.role.startsWith("--") ? `the ${hit.role} output` : hit.role;
      const same = hit.path === o.path ? "" : ` (${hit.path})`;
      throw new OutputClashError(`${o.path}: ${o.role} would overwrite ${what}${same}, which this command reads or writes; choose another file`);
    }
    seen.set(id, o);
  }
}

/** Where a file that does not exist yet would be created: its directory with links resolved, plus its name. */
function futurePath(p: string): string {
  const abs = path.resolve(p);
  try {
    return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
  } catch {
    return abs;
  }
}
