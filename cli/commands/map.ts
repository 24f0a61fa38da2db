// `qcowdbg map [--output=json|human] IMG`: the extents of an image and its backing chain, exactly as
// `qemu-img map` prints them (streamed: a big fragmented image has many entries).
import type { Command } from "commander";
import { openForInspection } from "../../engine/check/info.js";
import { printMap } from "../../engine/check/map.js";
import { parseSize } from "../../engine/image/engine-config.js";
import { ExitError, guarded } from "../fail.js";

interface MapOpts {
  format?: string;
  output: string;
  startOffset?: string;
  maxLength?: string;
}

function offsetOption(name: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  let v: number;
  try {
    v = parseSize(s);
  } catch {
    throw new ExitError(`map: invalid ${name} '${s}'`, 1);
  }
  if (v < 0) throw new ExitError(`map: ${name} must not be negative`, 1);
  return v;
}

export function register(program: Command): void {
  program
    .command("map")
    .description("show which guest ranges are allocated, zero or data, in which layer and file, as qemu-img map does")
    .argument("<image>", "qcow2 or raw image (its backing chain is opened read-only)")
    .option("-f, --format <format>", "image format: qcow2 or raw (default: probe)")
    .option("--output <format>", "human or json", "human")
    .option("--start-offset <offset>", "first guest byte to map")
    .option("--max-length <length>", "bytes to map from the start offset")
    .action(
      guarded((image: string, opts: MapOpts) => {
        if (opts.output !== "human" && opts.output !== "json") throw new ExitError(`map: --output must be human or json, not '${opts.output}'`, 1);
        const start = offsetOption("--start-offset", opts.startOffset);
        const maxLength = offsetOption("--max-length", opts.maxLength);
        const top = openForInspection(image, opts.format);
        try {
          printMap(top, { json: opts.output === "json", start, maxLength, name: image }, (chunk) => process.stdout.write(chunk));
        } finally {
          top.close();
        }
      }),
    );
}
