// The one table of --image-opts keys, for both faces: image-spec.ts (qemu-img's check/info/map, which validates
// every key in qemu-img's words) and parseImageOpts in qemu-io-options.ts (qemu-io, which turns keys into engine
// options). Which layer of QEMU's block stack owns a key decides how a wrong driver is refused; the value kind
// decides the check; `engine` marks the keys the engine itself acts on.
import { sizeOrNull } from "../engine/units/sizes.js";

export interface ImageOptKey {
  /**
   * Who owns it in QEMU: the node's driver name, the file name, the 'file' protocol driver (file.*), the generic
   * block layer (any format), or the qcow2 format driver (refused for raw).
   */
  layer: "driver" | "filename" | "protocol" | "block" | "qcow2";
  /** What the value must be; other keys take any text. */
  value?: "on-off" | "size";
  /** The engine acts on it (EngineConfig, through parseConfigOptions): qemu-io passes it on. */
  engine?: boolean;
  /** qemu-io takes it only at its default (off): -t MODE says the same. */
  offOnly?: boolean;
}

const qcow2 = (more: Partial<ImageOptKey> = {}): ImageOptKey => ({ layer: "qcow2", ...more });
const protocol: ImageOptKey = { layer: "protocol" };
const block = (more: Partial<ImageOptKey> = {}): ImageOptKey => ({ layer: "block", ...more });

export const IMAGE_OPT_KEYS: Readonly<Record<string, ImageOptKey>> = {
  driver: { layer: "driver" },
  file: { layer: "filename" },
  "file.filename": { layer: "filename" },
  "file.driver": protocol,
  "file.aio": protocol,
  "file.locking": protocol,
  "file.pr-manager": protocol,
  "file.drop-cache": protocol,
  "file.aio-max-batch": protocol,
  "cache.direct": block({ value: "on-off", offOnly: true }),
  "cache.no-flush": block({ value: "on-off", offOnly: true }),
  "read-only": block({ value: "on-off" }),
  "auto-read-only": block({ value: "on-off" }),
  "force-share": block({ value: "on-off" }),
  "l2-cache-size": qcow2({ value: "size", engine: true }),
  "l2-cache-entry-size": qcow2({ value: "size", engine: true }),
  "refcount-cache-size": qcow2({ value: "size", engine: true }),
  "cache-size": qcow2({ value: "size", engine: true }),
  "lazy-refcounts": qcow2({ value: "on-off", engine: true }),
  discard: qcow2({ engine: true }),
  "cache-clean-interval": qcow2(),
  "overlap-check": qcow2(),
  "pass-discard-request": qcow2(),
  "pass-discard-snapshot": qcow2(),
  "pass-discard-other": qcow2(),
  "detect-zeroes": qcow2(),
  "node-name": qcow2(),
  "encrypt.key-secret": qcow2(),
};

export function imageOptKey(key: string): ImageOptKey | undefined {
  return Object.hasOwn(IMAGE_OPT_KEYS, key) ? IMAGE_OPT_KEYS[key] : undefined;
}

/** qapi_bool_parse(): QEMU's words for a boolean option (case matters: "ON" and "1" are refused). */
export function qemuBool(value: string): boolean | undefined {
  if (value === "on" || value === "yes" || value === "true" || value === "y") return true;
  if (value === "off" || value === "no" || value === "false" || value === "n") return false;
  return undefined;
}

/** Why QEMU refuses `value` for `key` ("expects 'on' or 'off'", ...) and the hint lines it adds; undefined: accepted. */
export function imageOptValueError(key: string, spec: ImageOptKey, value: string): { error: string; hint?: string } | undefined {
  if (spec.value === "on-off" && qemuBool(value) === undefined) return { error: `Parameter '${key}' expects 'on' or 'off'` };
  // parse_option_size()'s error, with the hint QEMU appends on two more lines.
  if (spec.value === "size" && sizeOrNull(value) === null)
    return { error: `Parameter '${key}' expects a non-negative number below 2^64`, hint: SIZE_HINT };
  return undefined;
}

const SIZE_HINT = "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.";
