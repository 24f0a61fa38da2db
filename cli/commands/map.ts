// `qcowdbg map [--output=json|human] IMG`: the extents of an image and its backing chain, exactly as
// `qemu-img map` prints them (streamed: a big fragmented image has many entries).
import { once } from "node:events";
import * as fs from "node:fs";
import type { Command } from "commander";
import { probeFormat } from "../../engine/check/info.js";
import { openForInspection } from "../../engine/check/open-inspection.js";
import { mapOutput } from "../../engine/check/map.js";
import { chainInputs } from "../../engine/image/input-files.js";
import { QemuOpenError } from "../../engine/check/open-validation.js";
import { noteIfHolesUnknown } from "../native-notice.js";
import { parseSize } from "../../engine/image/engine-config.js";
import { ExitError, guarded } from "../fail.js";
import { imageSpec, imageSpecOptions, type ImageSpec, type ImageSpecFlags } from "../image-spec.js";

interface MapOpts extends ImageSpecFlags {
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

/**
 * map walks each layer's L2 tables in guest order and reads each once, so more cache than a few tables only
 * holds memory: the default would grow to 32 MiB on a big fragmented image.
 */
const MAP_L2_CACHE = 1 << 20;

/** Opens the image as qemu-img map does before mapping it, refusing in qemu-img's words what it refuses. */
async function openImage(spec: ImageSpec) {
  if (!fs.existsSync(spec.filename)) throw new QemuOpenError(spec.label, `Could not open '${spec.filename}': No such file or directory`);
  const probed = probeFormat(spec.filename);
  const format = spec.format ?? probed;
  if (format === "qcow2" && probed !== "qcow2") throw new QemuOpenError(spec.label, "Image is not in qcow2 format");
  // An encrypted image opens only with its key: none, or a wrong one, is refused (before its backing chain is
  // opened, as QEMU's driver does). The key check and its LUKS code load only for encrypted images.
  if (format === "qcow2" && cryptMethod(spec.filename) !== 0) {
    const { requireImageKey } = await import("../../engine/check/image-key.js");
    requireImageKey(spec.filename, spec.password, spec.label);
  }
  return openForInspection(spec.filename, format, { l2CacheSize: MAP_L2_CACHE });
}

/** The qcow2 header's crypt_method (offset 32; 0 when the file is too short, as the full open then says why). */
function cryptMethod(filename: string): number {
  const fd = fs.openSync(filename, "r");
  try {
    const b = Buffer.alloc(4);
    return fs.readSync(fd, b, 0, 4, 32) === 4 ? b.readUInt32BE(0) : 0;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes the chunks to stdout, mapping the next one only once the last is taken: through a pipe to a slow reader
 * the output would otherwise pile up in memory (hundreds of MiB for a fragmented image).
 */
async function writeOut(chunks: Iterable<string>): Promise<void> {
  for (const chunk of chunks) if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
}

export function register(program: Command): void {
  const cmd = program
    .command("map")
    .description("show which guest ranges are allocated, zero or data, in which layer and file, as qemu-img map does")
    .argument("<image>", "qcow2 or raw image (its backing chain is opened read-only), or with --image-opts an option string");
  imageSpecOptions(cmd)
    .option("--output <format>", "human or json", "human")
    .option("--start-offset <offset>", "first guest byte to map")
    .option("--max-length <length>", "bytes to map from the start offset")
    .action(
      guarded(async (image: string, opts: MapOpts) => {
        if (opts.output !== "human" && opts.output !== "json") throw new ExitError(`map: --output must be human or json, not '${opts.output}'`, 1);
        const start = offsetOption("--start-offset", opts.startOffset);
        const maxLength = offsetOption("--max-length", opts.maxLength);
        const spec = imageSpec(image, opts);
        // qemu-img opens an encrypted image with its key before mapping it: none, or a wrong one, is refused.
        const top = await openImage(spec);
        try {
          noteIfHolesUnknown("map", chainInputs(top).map((f) => f.path));
          await writeOut(mapOutput(top, { json: opts.output === "json", start, maxLength, name: spec.filename }));
        } finally {
          top.close();
        }
      }),
    );
}
