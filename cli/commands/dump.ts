// `qcowdbg dump IMG header|extensions|l1|l2 INDEX|refcounts|snapshots|bitmaps`: the raw on-disk structures,
// decoded, each with its file offset (like QEMU's iotests qcow2.py dump-header). The image is opened read-only
// and only the header, the first cluster and the table asked for are read.
import type { Command } from "commander";
import { FileStorage } from "../../engine/storage/file-storage.js";
import { ExitError, guarded } from "../fail.js";
import { dumpBitmaps } from "./dump/bitmaps.js";
import { type Dump, type DumpImage, openDumpImage } from "./dump/dump-image.js";
import { dumpExtensions } from "./dump/extensions.js";
import { dumpHeader } from "./dump/header.js";
import { dumpL1, dumpL2 } from "./dump/l1-l2.js";
import { dumpRefcounts } from "./dump/refcounts.js";
import { dumpSnapshots } from "./dump/snapshots.js";
import { escapeControl } from "../../engine/format/terminal-text.js";

const TARGETS = ["header", "extensions", "l1", "l2", "refcounts", "snapshots", "bitmaps"] as const;
type Target = (typeof TARGETS)[number];

export function register(program: Command): void {
  program
    .command("dump")
    .description("show the raw on-disk structures of a qcow2 image, decoded, with their file offsets")
    .argument("<image>", "qcow2 image (opened read-only)")
    .argument("<what>", TARGETS.join("|"))
    .argument("[index]", "for l2: the L1 index whose L2 table to show")
    .option("--output <format>", "text or json", "text")
    .action(
      guarded((image: string, what: string, index: string | undefined, opts: { output: string }) => {
        if (!(TARGETS as readonly string[]).includes(what)) throw new ExitError(`dump: unknown structure '${what}' (want ${TARGETS.join("|")})`, 1);
        if (opts.output !== "text" && opts.output !== "json") throw new ExitError(`dump: --output must be text or json, not '${opts.output}'`, 1);
        if (what === "l2" && index === undefined) throw new ExitError("dump l2: give the L1 index of the table (dump IMG l2 INDEX)", 1);
        if (what !== "l2" && index !== undefined) throw new ExitError(`dump ${what}: unexpected argument '${index}'`, 1);
        const storage = new FileStorage(image);
        try {
          const d = dump(openDumpImage(storage), what as Target, index);
          process.stdout.write(opts.output === "json" ? JSON.stringify({ schema: `qcowdbg-dump-${what}/1`, ...d.json }, null, 2) + "\n" : d.text.map(escapeControl).join("\n") + "\n");
        } finally {
          storage.close();
        }
      }),
    );
}
function dump(img: DumpImage, what: Target, index: string | undefined): Dump {
  switch (what) {
    case "header":
      return dumpHeader(img);
    case "extensions":
      return dumpExtensions(img);
    case "l1":
      return dumpL1(img);
    case "l2":
      return dumpL2(img, parseIndex(index!));
    case "refcounts":
      return dumpRefcounts(img);
    case "snapshots":
      return dumpSnapshots(img);
    case "bitmaps":
      return dumpBitmaps(img);
  }
}

function parseIndex(s: string): number {
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) throw new ExitError(`dump l2: '${s}' is not an L1 index`, 1);
  return n;
}
