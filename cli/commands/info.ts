// `qcowdbg info [--output=json] [--backing-chain] [--verbose] IMG`: qemu-img info's text and JSON, byte for byte
// (apart from actual-size, which is the host file's allocation), with --verbose adding every header field and
// header extension.
import type { Command } from "commander";
import { imageInfo, imageInfoChain, infoHuman, infoJson } from "../../engine/check/info.js";
import { ExitError, guarded } from "../fail.js";
import { imageSpec, imageSpecOptions, type ImageSpecFlags } from "../image-spec.js";

interface InfoOpts extends ImageSpecFlags {
  output: string;
  backingChain?: boolean;
  verbose?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("info")
    .description("show an image's summary as qemu-img info does (virtual size, backing file, snapshots, format details)")
    .argument("<image>", "qcow2 or raw image (opened read-only, without its backing files), or with --image-opts an option string");
  imageSpecOptions(cmd)
    .option("--output <format>", "human or json", "human")
    .option("--backing-chain", "also show every image of the backing chain")
    .option("--verbose", "add every header field and header extension (including unknown ones)")
    .action(
      guarded((image: string, opts: InfoOpts) => {
        if (opts.output !== "human" && opts.output !== "json") throw new ExitError(`info: --output must be human or json, not '${opts.output}'`, 1);
        const spec = imageSpec(image, opts);
        const io = { format: spec.format, verbose: opts.verbose };
        const results = opts.backingChain ? imageInfoChain(spec.filename, io) : imageInfo(spec.filename, io);
        process.stdout.write(opts.output === "json" ? infoJson(results, opts.verbose) : infoHuman(results, opts.verbose));
      }),
    );
}
