// `qcowdbg export IMG OUT.raw`: the guest-visible content of an image (and its backing chain) as a sparse raw
// file, the bytes `qemu-img convert -O raw` writes. OUT is overwritten like qemu-img does, unless it is one of
// the image's own files.
import type { Command } from "commander";
import { chainFiles, exportRaw } from "../../engine/check/export.js";
import { noteIfHolesUnknown } from "../native-notice.js";
import { openForInspection } from "../../engine/check/open-inspection.js";
import { guarded } from "../fail.js";

export function register(program: Command): void {
  program
    .command("export")
    .description("write the guest-visible content of an image as a raw file (holes where it reads as zero)")
    .argument("<image>", "qcow2 or raw image (its backing chain is opened read-only)")
    .argument("<output>", "raw file to write (overwritten if it exists)")
    .option("-f, --format <format>", "image format: qcow2 or raw (default: probe)")
    .action(
      guarded((image: string, output: string, opts: { format?: string }) => {
        const top = openForInspection(image, opts.format);
        try {
          noteIfHolesUnknown("export", chainFiles(top));
          exportRaw(top, output);
        } finally {
          top.close();
        }
      }),
    );
}
