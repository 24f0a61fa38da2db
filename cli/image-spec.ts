// How qemu-img names an image on its command line, for the commands that stand in for qemu-img's: a file name with
// `-f FMT`, or `--image-opts driver=qcow2,file.filename=…,encrypt.key-secret=ID,cache.direct=on,…` with the secrets
// given as `--object secret,id=ID,data=…|file=…[,format=raw|base64]`. Refused as qemu-img refuses, in its words.
import * as fs from "node:fs";
import type { Command } from "commander";
import { ExitError } from "./fail.js";
import { imageOptKey, imageOptValueError } from "./image-opts-keys.js";
import { optionItems } from "./option-string.js";

export interface ImageSpec {
  /** The file to open. */
  filename: string;
  /** What qemu-img's messages quote: the file name, or the whole --image-opts string. */
  label: string;
  /** qcow2 or raw; undefined: probe. */
  format?: string;
  /** The LUKS password named by encrypt.key-secret. */
  password?: Buffer;
}

export interface ImageSpecFlags {
  format?: string;
  imageOpts?: boolean;
  object?: string[];
}

/** Adds -f, --image-opts and --object to a command (the flags imageSpec reads). */
export function imageSpecOptions(cmd: Command): Command {
  return cmd
    .option("-f, --format <format>", "image format: qcow2 or raw (default: probe)")
    .option("--image-opts", "the image argument is an option string: driver=qcow2,file.filename=FILE[,encrypt.key-secret=ID][,cache.direct=on|off,...]")
    .option("--object <spec>", "secret,id=ID,data=PASSWORD|file=PATH[,format=raw|base64]: a secret for encrypt.key-secret (repeatable)", (v: string, prev: string[] = []) => [...prev, v]);
}

const fail = (msg: string, hint?: string): never => {
  throw new ExitError(msg, 1, hint);
};

/** [key, value] per item; a bare word has the key "" (the implied key, which the caller names). */
function splitOpts(s: string): [string, string][] {
  return optionItems(s).map((it) => {
    const eq = it.indexOf("=");
    return eq < 0 ? ["", it] : [it.slice(0, eq), it.slice(eq + 1)];
  });
}

function secrets(objects: string[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const o of objects) {
    const kv = splitOpts(o);
    const type = kv[0]![0] === "" ? kv[0]![1] : kv.find(([k]) => k === "qom-type")?.[1];
    if (type !== "secret") fail(`Parameter 'qom-type' does not accept value '${type ?? ""}'`);
    const get = (k: string) => kv.find(([key]) => key === k)?.[1];
    const id = get("id");
    if (id === undefined) fail("Parameter 'id' is missing");
    const data = get("data");
    const file = get("file");
    if ((data === undefined) === (file === undefined)) fail("Either 'file' or 'data' must be provided");
    let raw: Buffer;
    if (file !== undefined) {
      try {
        raw = fs.readFileSync(file);
      } catch (e) {
        raw = fail(`Unable to read ${file}: Failed to open file “${file}”: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "No such file or directory" : String((e as Error).message)}`);
      }
    } else raw = Buffer.from(data!, "utf8");
    const format = get("format") ?? "raw";
    if (format === "base64") raw = Buffer.from(raw.toString("latin1"), "base64");
    else if (format !== "raw") fail(`Parameter 'format' does not accept value '${format}'`);
    if (out.has(id!)) fail(`attempt to add duplicate property '${id}' to object (type 'container')`);
    out.set(id!, raw);
  }
  return out;
}

/** The image a command names: `image` is a file name, or with --image-opts an option string. */
export function imageSpec(image: string, flags: ImageSpecFlags): ImageSpec {
  const keys = secrets(flags.object ?? []);
  if (!flags.imageOpts) return { filename: image, label: image, format: flags.format };
  if (flags.format !== undefined) fail("--image-opts and --format are mutually exclusive");
  const opts = new Map<string, string>();
  for (const [k, v] of splitOpts(image)) {
    if (k === "") fail(`Could not open '${image}': Cannot find device='${v}' nor node-name='${v}'`);
    opts.set(k, v);
  }
  const open = (why: string, hint?: string): never => fail(`Could not open '${image}': ${why}`, hint);
  const driver = opts.get("driver");
  if (driver !== undefined && driver !== "qcow2" && driver !== "raw") open(`Unknown driver '${driver}' (qcowdbg opens qcow2 and raw)`);
  const filename = opts.get("file.filename") ?? opts.get("file");
  if (filename === undefined) open('A block device must be specified for "file"');
  for (const [k, v] of opts) {
    const spec = imageOptKey(k);
    if (spec?.layer === "driver" || spec?.layer === "filename") continue;
    if (k.startsWith("file.")) {
      if (spec?.layer !== "protocol") open(`Block protocol 'file' doesn't support the option '${k.slice(5)}'`);
      if (k === "file.driver" && v !== "file") open(`Unknown protocol driver '${v}' (qcowdbg reads local files)`);
      continue;
    }
    if (!spec || spec.layer === "protocol") open(`Block format '${driver ?? "qcow2"}' does not support the option '${k}'`);
    if (spec!.layer === "qcow2" && driver === "raw") open(`Block format 'raw' does not support the option '${k}'`);
    const bad = imageOptValueError(k, spec!, v);
    if (bad) open(bad.error, bad.hint);
  }
  let password: Buffer | undefined;
  const secretId = opts.get("encrypt.key-secret");
  if (secretId !== undefined) {
    password = keys.get(secretId);
    if (!password) open(`No secret with id '${secretId}'`);
  }
  return { filename: filename!, label: image, format: driver, password };
}
