// Host writes as the block layer issues them under O_DIRECT (cache=none, directsync): an unaligned write is padded
// to the file's request alignment by read-modify-write (bdrv_pad_request), so one that ends past the file's end
// leaves the file ending on that boundary, zero-filled. raw_probe_alignment finds 512 bytes on common file systems.
import type { Storage } from "../storage/storage.js";
import type { Qcow2Image } from "./qcow2-image.js";

/** request_alignment of an O_DIRECT file node. */
export const DIRECT_IO_ALIGN = 512;

/** Writes `data` at `offset` of `file` (the image's file or its data file), padded as O_DIRECT pads it. */
export function writePadded(img: Qcow2Image, file: Storage, data: Uint8Array, offset: number): void {
  const mode = img.config.cacheMode;
  if (mode !== "none" && mode !== "directsync") return file.write(data, offset);
  const start = Math.floor(offset / DIRECT_IO_ALIGN) * DIRECT_IO_ALIGN;
  const end = Math.ceil((offset + data.length) / DIRECT_IO_ALIGN) * DIRECT_IO_ALIGN;
  if (start === offset && end === offset + data.length) return file.write(data, offset);
  const padded = new Uint8Array(end - start);
  file.read(padded, start);
  padded.set(data, offset - start);
  file.write(padded, start);
}
