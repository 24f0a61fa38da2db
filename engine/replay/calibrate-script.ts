// The qemu-io scripts `qcowdbg calibrate` runs: commands tagged by the class they measure (untimed set-up commands
// untagged and quiet), and a mixer that interleaves the classes, so that a spell of load on a shared host falls on
// every class alike instead of on the one being measured at the time (the profile's terms are differences of
// classes, which a lopsided spell would skew).

const GIB = 1024 * 1024 * 1024;

/** A script whose commands are tagged by class; timings come back in the same order. */
export class Script {
  readonly lines: string[] = [];
  readonly tags: (string | null)[] = [];
  add(tag: string | null, cmd: string): void {
    // Untimed reads, writes and discards run quiet (-q): qemu-io prints no stats line for them.
    this.lines.push(tag === null && /^(read|write|discard) /.test(cmd) && !/^\S+ -q /.test(cmd) ? cmd.replace(/^(\S+) /, "$1 -q ") : cmd);
    this.tags.push(tag);
  }
  /** µs per tag from qemu-io's timings (untimed commands have a null tag). */
  classify(seconds: number[]): Map<string, number[]> {
    const timed = this.tags.filter((t): t is string => t !== null);
    if (timed.length !== seconds.length) throw new Error(`calibrate: qemu-io timed ${seconds.length} commands, expected ${timed.length}`);
    const out = new Map<string, number[]>();
    timed.forEach((t, i) => {
      const a = out.get(t) ?? [];
      a.push(seconds[i]! * 1e6);
      out.set(t, a);
    });
    return out;
  }
}

/** Untimed discards (holes punched) over [start, end), in pieces qemu-io accepts (under 2 GiB each). */
export function punch(s: Script, start: number, end: number): void {
  for (let o = start; o < end; o += GIB) s.add(null, `discard ${o} ${Math.min(GIB, end - o)}`);
}

/** One timed command and the untimed ones that must run right before it (e.g. the write-zeroes it writes into). */
type Unit = [string | null, string][];

/**
 * Collects the units of several classes and interleaves them in proportion (each class keeps its own order), in
 * runs of `block` consecutive units of one class (default 1): calibrate-driver.ts runs its classes on three images
 * in one qemu-io process and pays an image switch (close, open) per block, not per command.
 */
export class Mixer {
  private readonly classes = new Map<string, Unit[]>();

  constructor(private readonly block = 1) {}

  add(tag: string, cmd: string, before: string[] = []): void {
    const units = this.classes.get(tag) ?? [];
    units.push([...before.map((c): [null, string] => [null, c]), [tag, cmd]]);
    this.classes.set(tag, units);
  }

  /**
   * Appends the units to `s`: at each step the class furthest behind its share goes next, for one block;
   * `beforeBlock` may add untimed commands first (switching the image a class runs on).
   */
  into(s: Script, beforeBlock?: (tag: string) => void): void {
    const tags = [...this.classes.keys()];
    const lists = [...this.classes.values()];
    const done = lists.map(() => 0);
    for (;;) {
      let pick = -1;
      let lag = Infinity;
      lists.forEach((l, i) => {
        const f = done[i]! / l.length;
        if (done[i]! < l.length && f < lag) {
          lag = f;
          pick = i;
        }
      });
      if (pick < 0) break;
      const list = lists[pick]!;
      beforeBlock?.(tags[pick]!);
      for (let k = 0; k < this.block && done[pick]! < list.length; k++) {
        for (const [tag, cmd] of list[done[pick]!]!) s.add(tag, cmd);
        done[pick]!++;
      }
    }
  }
}
